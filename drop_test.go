package socketscience_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/socketscience/socketscience/internal/metrics"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every reason the counters know has a DropReason constant, and every
// constant is a reason the counters know: read from the package's source,
// so that a reason added to either side alone fails here.
func TestEveryDropReasonHasAConstant(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	constants := map[string]string{} // value: name
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, e.Name(), nil, 0)
		require.NoError(t, err)
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "DropReason" {
					continue
				}
				for i, name := range vs.Names {
					v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					require.NoError(t, err)
					assert.NotContains(t, constants, v, "%s repeats %s", name.Name, constants[v])
					constants[v] = name.Name
				}
			}
		}
	}
	var reasons []string
	for _, r := range metrics.Reasons() {
		reasons = append(reasons, r.String())
		assert.Contains(t, constants, r.String(), "no DropReason constant for %q", r)
	}
	assert.Len(t, constants, len(reasons))
	for v, name := range constants {
		assert.Contains(t, reasons, v, "%s is no reason the counters know", name)
	}
}
