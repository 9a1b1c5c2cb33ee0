package sechattest

import (
	"net/http"
	"strings"
)

// collapseSlashes turns every run of slashes in the request path into one.
// ChatExchange joins its chat root and a path that already starts with a
// slash ("https://chat.host" + "/" + "/chats/leave/1"), and the real server
// serves such paths as they are. net/http's ServeMux would answer them with
// a 301 instead, which a client following it turns from a POST into a GET.
func collapseSlashes(r *http.Request) {
	if !strings.Contains(r.URL.Path, "//") {
		return
	}
	var b strings.Builder
	prev := false
	for _, c := range []byte(r.URL.Path) {
		if c == '/' && prev {
			continue
		}
		prev = c == '/'
		b.WriteByte(c)
	}
	r.URL.Path = b.String()
	r.URL.RawPath = ""
}
