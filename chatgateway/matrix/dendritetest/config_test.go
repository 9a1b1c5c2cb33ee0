package dendritetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The edits to the generated configuration: the secret and the cost set,
// the key servers' list emptied and nothing after it lost; a
// configuration without the expected lines is refused.
func TestPatchConfig(t *testing.T) {
	conf := `global:
  key_perspectives:
  - server_name: matrix.org
    keys:
    - key_id: ed25519:auto
      public_key: Noi6
  key_validity_period: 168h0m0s
client_api:
  registration_shared_secret: ""
user_api:
  bcrypt_cost: 10
`
	got, err := patchConfig(conf, "s3cret")
	require.NoError(t, err)
	assert.Equal(t, `global:
  key_perspectives: []
  key_validity_period: 168h0m0s
client_api:
  registration_shared_secret: "s3cret"
user_api:
  bcrypt_cost: 4
`, got)
	assert.Equal(t, "s3cret", yamlValue(got, "registration_shared_secret"))
	_, err = patchConfig("global: {}\n", "s")
	assert.Error(t, err)
}
