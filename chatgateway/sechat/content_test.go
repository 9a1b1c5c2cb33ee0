package sechat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socketscience/socketscience/chatgateway/sechat/sechattest"
	"github.com/socketscience/socketscience/messages"
)

func TestContentText(t *testing.T) {
	for _, c := range []struct{ content, want string }{
		{"hello", "hello"},
		{"fish &amp; chips &lt;3 &quot;now&quot; it&#39;s &#x27;ok&#x27;", `fish & chips <3 "now" it's 'ok'`},
		{"<div class='full'>one <br> two <br>  three</div>", "one\ntwo\n three"},
		{"<pre class='full'>code\n  indented</pre>", "code\n  indented"},
		{`see <a href="https://example.com/x" rel="nofollow">the docs</a>`, "see the docs"},
		{"<b>bold</b> <i>it</i> <code>x&lt;y</code>", "bold it x<y"},
		{"long\u200bword\u200cbreak", "longwordbreak"},
		{`<img src="https://i.sstatic.net/x.png">`, ""},
		{"a<br/>b<BR />c", "a\nb\nc"},
	} {
		assert.Equal(t, c.want, contentText(c.content), "%q", c.content)
	}
}

func TestNeedSource(t *testing.T) {
	for _, c := range []struct {
		content string
		want    bool
	}{
		{"hello", false},
		{"<div class='full'>one <br> two</div>", false},
		{". not a frame", false},
		{"...", false},
		{"<div class='full'>. <br> \x024179abc\x03</div>", true},
		{"<div class='full'>. <br> 4179abc</div>", true}, // controls dropped
		{"<div class='full'>.&#8203; <br> &#2;4179abc&#3;</div>", true},
		{"<div class='partial'>hello there</div>", true},
		{`<div class="partial">hello</div>`, true},
		{"&nbsp;.<br>x", true},
		{".", true},
		{"a\x0fb", true},
		{"a&#15;b", true},
		{"bad \xff byte", true},
		{"<div class='full'>a <br> b\rc</div>", true},
	} {
		content := c.content
		assert.Equal(t, c.want, needSource(&content), "%q", c.content)
	}
	assert.True(t, needSource(nil), "no content (a deleted message)")
}

// renderings are the ways a text may reach the socket's content: the
// sechattest server's rendering, cut short or not, and what a server might
// do differently with what is not known about real SE (control characters
// dropped, or written as entities; zero-width spaces inserted; numeric
// entities for everything escaped; a tag around the text).
func renderings(text string) []string {
	out := []string{}
	for _, partial := range []int{0, sechattest.DefaultPartialThreshold, 8} {
		r := sechattest.RenderContent(text, partial)
		out = append(out, r,
			strings.Map(func(c rune) rune {
				if c < 0x20 && c != '\n' || c == 0x7f {
					return -1
				}
				return c
			}, r),
			controlEntities(r),
			strings.ReplaceAll(r, "&#39;", "&#x27;"),
			"<span>"+r+"</span>",
			wordBreaks(r))
	}
	return out
}

func controlEntities(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < 0x20 && c != '\n' {
			fmt.Fprintf(&b, "&#%d;", c)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// wordBreaks puts a U+200B after every character of the first 8, as a
// server breaking long words might.
func wordBreaks(s string) string {
	var b strings.Builder
	for i, c := range s {
		b.WriteRune(c)
		if i < 8 {
			b.WriteRune('\u200b')
		}
	}
	return b.String()
}

// checkPrefilter checks needSource's two promises for text and its
// renderings: content of a text that Classify calls a frame or fragment is
// always fetched; and content it lets through converts to text that
// Classify calls chat.
func checkPrefilter(t *testing.T, text string) {
	t.Helper()
	framed := messages.Classify(text) != messages.KindChat
	for _, r := range renderings(text) {
		if framed && !needSource(&r) {
			t.Fatalf("content %q of %q (a %v) would not be fetched", r, text, messages.Classify(text))
		}
		if !needSource(&r) && messages.Classify(contentText(r)) != messages.KindChat {
			t.Fatalf("content %q let through, but its text %q classifies as %v", r, contentText(r), messages.Classify(contentText(r)))
		}
	}
}

// vectorTexts are the shared SmokeDetector vectors' frames, and fragments
// of each (as a node posts a frame too long for one message).
func vectorTexts(t *testing.T) []string {
	t.Helper()
	var texts []string
	for _, path := range []string{"../../messages/testdata/smokey-vectors.json", "../../../shared/testdata/smokey-vectors.json"} {
		raw, err := os.ReadFile(filepath.Clean(path))
		if os.IsNotExist(err) && strings.Contains(path, "shared") {
			continue // outside the lead's checkout; the repository's copy is the same
		}
		require.NoError(t, err)
		var file struct {
			Vectors []struct {
				Content string `json:"content"`
			} `json:"vectors"`
		}
		require.NoError(t, json.Unmarshal(raw, &file))
		require.NotEmpty(t, file.Vectors)
		for _, v := range file.Vectors {
			texts = append(texts, v.Content)
			frags, err := messages.Fragment(v.Content, 60, messages.NewFragmentID(7))
			if err == nil {
				texts = append(texts, frags...)
			}
		}
	}
	return texts
}

func TestPrefilterOverVectors(t *testing.T) {
	texts := vectorTexts(t)
	fragments := 0
	for _, text := range texts {
		require.NotEqual(t, messages.KindChat, messages.Classify(text), "%q", text)
		if messages.Classify(text) == messages.KindFragment {
			fragments++
		}
		checkPrefilter(t, text)
		// What receivers strip around a frame changes nothing.
		checkPrefilter(t, " \u200b\r\n"+text+"\n ")
		checkPrefilter(t, strings.Replace(text, "\n", "\r\n", 1))
		checkPrefilter(t, strings.Replace(text, "\n", "\u200c\n\u200b", 1))
	}
	assert.Positive(t, fragments, "the vectors' fragments are checked too")
	for _, text := range []string{"hello", "line one\nline two", "    code\n    more", ". hi", "..\n\x02", "x.\n\x02"} {
		checkPrefilter(t, text)
	}
}

// FuzzPrefilter: for any text, content that may be a frame or fragment is
// fetched, and what is let through is chat.
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{
		".\n\x022201gaRwaW5ngqhsb2NhdGlvbqtIZW5kZXJzL0VDMqR0aW1ly0HWseSrkAAA\x03",
		".\n\x0f1:2:abcd:Zm9v", " \u200b.\r\n\x02x", ".\u200c\n\u200b\x02x", "\x1c.\n\x02x",
		"hello", "line\nline", "    a\n    b", ". x", "&amp;.\n\x02", "<b>.</b>\n\x02", "\u00a0.\n\x0f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkPrefilter(t, text)
		// Hostile content straight from the socket: whatever is let
		// through converts to chat.
		if !needSource(&text) && messages.Classify(contentText(text)) != messages.KindChat {
			t.Fatalf("content %q let through as %q", text, contentText(text))
		}
	})
}
