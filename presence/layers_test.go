package presence_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Presence is built as a user would build it: on the root package's public
// API and the contracts, never the machinery (the gateway, the actors,
// internal packages).
func TestBuiltOnThePublicAPI(t *testing.T) {
	const module = "github.com/socketscience/socketscience"
	for _, pkg := range []string{module + "/presence", module + "/presence/presencesim"} {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, pkg).Output()
		require.NoError(t, err)
		for _, dep := range strings.Fields(string(out)) {
			if dep == module || !strings.HasPrefix(dep, module+"/") {
				continue
			}
			require.Contains(t, []string{module + "/supervisor", module + "/presence"}, dep, "%s imports %s", pkg, dep)
		}
	}
}
