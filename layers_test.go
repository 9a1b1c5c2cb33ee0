package socketscience_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/socketscience/socketscience"

// The packages as layers (ARCHITECTURE.md): each may import only the
// module's packages listed for it, and a contract or an adapter never
// imports the actor runtime, so that implementing a chat server costs an
// adapter author nothing but the contract.
func TestLayers(t *testing.T) {
	leaves := []string{"messages", "supervisor", "supervisor/fakeclock", "chatgateway"}
	for pkg, rule := range map[string]struct {
		may      []string // the module's packages it may import, besides itself ("" is the root)
		protoact bool     // whether it may import protoactor
		// direct: only its own imports are checked, not theirs: a package
		// built on the root package (which wires the machinery) may use
		// nothing but what a user could.
		direct bool
	}{
		"messages":                        {},
		"supervisor":                      {},
		"supervisor/fakeclock":            {may: []string{"supervisor"}},
		"chatgateway":                     {may: []string{"messages"}},
		"chatgateway/memchat":             {may: leaves},
		"chatgateway/sechat":              {may: leaves},
		"chatgateway/sechat/sechattest":   {may: leaves},
		"chatgateway/ircws":               {may: leaves},
		"chatgateway/matrix":              {may: leaves},
		"chatgateway/matrix/dendritetest": {may: leaves},
		"internal/protocol":               {may: []string{"messages"}},
		"actors":                          {may: append(slices.Clone(leaves), "internal/metrics", "internal/protocol"), protoact: true},
		// A user could have written it: the root package's API and the
		// contracts, never the machinery.
		"observability": {may: []string{"", "messages", "chatgateway"}, direct: true},
		"chatgateway/gateway": {may: append(slices.Clone(leaves), "internal/goroutines", "internal/metrics", "internal/protocol"),
			protoact: true},
	} {
		t.Run(pkg, func(t *testing.T) {
			args := []string{"list", "-deps", module + "/" + pkg}
			if rule.direct {
				args = []string{"list", "-f", "{{join .Imports \" \"}}", module + "/" + pkg}
			}
			out, err := exec.Command("go", args...).Output()
			require.NoError(t, err)
			for _, dep := range strings.Fields(string(out)) {
				switch {
				case dep == module:
					assert.Contains(t, rule.may, "", "%s may not import the root package", pkg)
				case strings.HasPrefix(dep, "github.com/asynkron/protoactor-go"):
					assert.True(t, rule.protoact, "%s imports the actor runtime (%s)", pkg, dep)
				case dep == module+"/"+pkg:
				case strings.HasPrefix(dep, module+"/"):
					assert.Contains(t, rule.may, strings.TrimPrefix(dep, module+"/"), "%s may not import %s", pkg, dep)
				}
			}
		})
	}
}
