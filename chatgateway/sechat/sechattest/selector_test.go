package sechattest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
)

// The CSS subset ChatExchange's BeautifulSoup selects with: compound
// selectors (tag, .class, #id, [attr], [attr=value]) joined by the
// descendant combinator (a space), matched as soupsieve matches them.

// compound is one simple-selector sequence, e.g. div.stars.owner-star.
type compound struct {
	tag     string
	id      string
	classes []string
	attrs   [][2]string // name, value ("\x00": any value)
}

func parseSelector(t *testing.T, sel string) []compound {
	t.Helper()
	var out []compound
	for part := range strings.FieldsSeq(sel) {
		var c compound
		rest := part
		for rest != "" {
			switch rest[0] {
			case '.', '#':
				end := strings.IndexAny(rest[1:], ".#[")
				if end < 0 {
					end = len(rest) - 1
				}
				mark, name := rest[0], rest[1:end+1]
				rest = rest[end+1:]
				if mark == '.' {
					c.classes = append(c.classes, name)
				} else {
					c.id = name
				}
			case '[':
				end := strings.IndexByte(rest, ']')
				require.Positive(t, end, "unclosed [ in %q", sel)
				name, value, ok := strings.Cut(rest[1:end], "=")
				if !ok {
					value = "\x00"
				}
				c.attrs = append(c.attrs, [2]string{name, strings.Trim(value, `"'`)})
				rest = rest[end+1:]
			default:
				end := strings.IndexAny(rest, ".#[")
				if end < 0 {
					end = len(rest)
				}
				c.tag, rest = rest[:end], rest[end:]
			}
		}
		out = append(out, c)
	}
	require.NotEmpty(t, out, "empty selector")
	return out
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (c compound) matches(n *html.Node) bool {
	if n.Type != html.ElementNode || (c.tag != "" && n.Data != c.tag) {
		return false
	}
	if id, _ := attr(n, "id"); c.id != "" && id != c.id {
		return false
	}
	class, _ := attr(n, "class")
	have := strings.Fields(class)
	for _, want := range c.classes {
		found := false
		for _, h := range have {
			found = found || h == want
		}
		if !found {
			return false
		}
	}
	for _, a := range c.attrs {
		v, ok := attr(n, a[0])
		if !ok || (a[1] != "\x00" && v != a[1]) {
			return false
		}
	}
	return true
}

// matchesChain reports whether n matches the last compound and its
// ancestors, in order, the ones before it.
func matchesChain(n *html.Node, chain []compound) bool {
	if !chain[len(chain)-1].matches(n) {
		return false
	}
	rest := chain[:len(chain)-1]
	for p := n.Parent; p != nil && len(rest) > 0; p = p.Parent {
		if rest[len(rest)-1].matches(p) {
			rest = rest[:len(rest)-1]
		}
	}
	return len(rest) == 0
}

// selectAll is soup.select(sel) on root: the matching descendants of root,
// in document order.
func selectAll(t *testing.T, root *html.Node, sel string) []*html.Node {
	t.Helper()
	chain := parseSelector(t, sel)
	var out []*html.Node
	for n := range root.Descendants() {
		if matchesChain(n, chain) && inside(n, root) {
			out = append(out, n)
		}
	}
	return out
}

// inside reports whether n is root or one of its descendants.
func inside(n, root *html.Node) bool {
	for p := n; p != nil; p = p.Parent {
		if p == root {
			return true
		}
	}
	return false
}

// text is a node's text content, as BeautifulSoup's .text.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// innerHTML is a node's children rendered back to HTML.
func innerHTML(t *testing.T, n *html.Node) string {
	t.Helper()
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		require.NoError(t, html.Render(&b, c))
	}
	return b.String()
}

func parseHTML(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	return doc
}

func TestSelectorMatcher(t *testing.T) {
	doc := parseHTML(t, `<div id="content"><div class="monologue x"><div class="username"><a href="/u/1" name="7">n</a></div>
<span class="stars owner-star"></span></div><p><a>q</a></p><input name="fkey" value="k"></div>`)
	for sel, want := range map[string]int{
		".monologue": 1, "div.monologue.x": 1, ".monologue .username a": 1, "#content p": 1,
		".stars.owner-star": 1, "input[name=fkey]": 1, "a[name]": 1, "a[name=7]": 1, "#content a": 2,
		".monologue.y": 0, ".stars.user-star": 0, "p .username": 0, "input[name=x]": 0, "#nothing a": 0, "span.username": 0,
	} {
		assert.Len(t, selectAll(t, doc, sel), want, sel)
	}
	// Scoped: only within the given node.
	mono := selectAll(t, doc, ".monologue")[0]
	assert.Len(t, selectAll(t, mono, "a"), 1)
	assert.Equal(t, "q", text(selectAll(t, doc, "p")[0]))
}
