package sechattest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestInsertZeroWidth(t *testing.T) {
	z := "\u200B"
	cases := map[string]string{
		"":                                      "",
		strings.Repeat("a", 20):                 strings.Repeat("a", 20),
		strings.Repeat("a", 21):                 strings.Repeat("a", 20) + z + "a",
		strings.Repeat("a", 40):                 strings.Repeat("a", 20) + z + strings.Repeat("a", 20),
		strings.Repeat("é", 25):                 strings.Repeat("é", 20) + z + strings.Repeat("é", 5),
		"x\t" + strings.Repeat("b", 22) + "\ny": "x\t" + strings.Repeat("b", 20) + z + "bb\ny",
		strings.Repeat("a", 10) + " " + strings.Repeat("a", 10): strings.Repeat("a", 10) + " " + strings.Repeat("a", 10),
	}
	for in, want := range cases {
		assert.Equal(t, want, insertZeroWidth(in), "%q", in)
	}
}

func TestSlug(t *testing.T) {
	assert.Equal(t, "smoke-detector", slug("Smoke Detector"))
	assert.Equal(t, "a-b-", slug("  A--B!! "))
	assert.Equal(t, "jeremy-banks-", slug("Jeremy Banks Ψ"))
	assert.Equal(t, "user", slug("!!!"))
	assert.Equal(t, "jos", slug("José"))
}

func TestRenderNoThreshold(t *testing.T) {
	long := strings.Repeat("x", 2000)
	assert.Equal(t, long, renderContent(long, 0))
	assert.Equal(t, "<div class='full'>a <br> </div>", renderContent("a\n", 0))
}
