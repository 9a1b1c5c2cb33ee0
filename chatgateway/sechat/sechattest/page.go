package sechattest

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

// pageTmpl is the frame every HTML page shares: the top bar (whose
// span.topbar-menu-links a is the account link clients read the user ID and
// name from), the chat fkey input for a logged-in viewer, and the page's
// own body.
var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 sans-serif;margin:0;background:#fafafa;color:#222}
.topbar{background:#222;color:#eee;padding:4px 10px;display:flex;justify-content:space-between}
.topbar a{color:#9cf}
main{max-width:60em;margin:0 auto;padding:10px}
#chat{background:#fff;border:1px solid #ddd;height:60vh;overflow-y:auto;padding:6px}
.message{padding:2px 4px;border-bottom:1px solid #f0f0f0;white-space:pre-wrap;word-break:break-word}
.username{font-weight:bold;color:#36c}
.username::after{content:":"}
.message-source{font-family:monospace;white-space:pre-wrap;color:#555}
#say{margin-top:8px;display:flex;gap:6px}
#input{flex:1}
</style></head>
<body>
<div class="topbar" id="topbar"><span>sechattest: local chat</span><div class="topbar-links"><span class="topbar-menu-links">{{if .User}}<a href="/users/{{.User.ID}}/{{.Slug}}" title="{{.User.Name}}">{{.User.Name}}</a>{{else}}<a href="/users/login">log in</a>{{end}}</span>{{if and .User .LoginSite}} <a href="/users/{{.User.ID}}/{{.Slug}}" class="my-profile" title="your profile">{{.User.Name}}</a>{{end}}</div></div>
{{if .FKey}}<input id="fkey" name="fkey" type="hidden" value="{{.FKey}}">
{{end}}<main>
{{.Body}}
</main>
</body></html>
`))

type pageData struct {
	Title string
	User  *User
	Slug  string
	FKey  string
	// LoginSite marks a page of the login site (the main Q&A site on the
	// real service), whose top bar has the a.my-profile link that
	// ChatExchange's cookie login looks for.
	LoginSite bool
	Body      template.HTML
}

// viewerPageLocked is a page for the request's viewer: the user link when
// the acct cookie is valid, no fkey.
func (s *Server) viewerPageLocked(r *http.Request, title string, body template.HTML) pageData {
	d := pageData{Title: title, Body: body}
	if se := s.sessionLocked(r); se != nil {
		u := se.user.User
		d.User, d.Slug = &u, slug(u.Name)
	}
	return d
}

// viewerLocked is the user of the request's acct cookie, or nil.
func (s *Server) viewerLocked(r *http.Request) *user {
	if se := s.sessionLocked(r); se != nil {
		return se.user
	}
	return nil
}

// chatPageLocked is a chat page for the request: with a valid acct cookie,
// the user link and the session's chat fkey (issued now if it has none).
func (s *Server) chatPageLocked(r *http.Request, title string, body template.HTML) pageData {
	d := s.viewerPageLocked(r, title, body)
	if se := s.sessionLocked(r); se != nil {
		if se.fkey == "" {
			se.fkey = randHex()
		}
		d.FKey = se.fkey
	}
	return d
}

// serveChatPageLocked writes the chat page titled title whose body is tmpl
// run on data. It unlocks s.mu, which the caller holds, before writing.
func (s *Server) serveChatPageLocked(w http.ResponseWriter, r *http.Request, title string, tmpl *template.Template, data any) {
	body, err := execHTML(tmpl, data)
	d := s.chatPageLocked(r, title, body)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	renderPage(w, http.StatusOK, d)
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	var b strings.Builder
	if err := pageTmpl.Execute(&b, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeHTML(w, status, b.String())
}

// execHTML runs a body template; html/template has escaped what it holds.
func execHTML(t *template.Template, data any) (template.HTML, error) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil //nolint:gosec // the output of html/template
}

// handleChatHome serves GET / and GET /chats/join/favorite.
func (s *Server) handleChatHome(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var b strings.Builder
	b.WriteString("<h1>Rooms</h1><ul>")
	for id := int64(1); id <= s.nextRoom; id++ {
		if rm, ok := s.rooms[id]; ok {
			fmt.Fprintf(&b, `<li><a href="/rooms/%d/%s">%s</a></li>`, id, slug(rm.Name), template.HTMLEscapeString(rm.Name))
		}
	}
	b.WriteString("</ul>")
	d := s.chatPageLocked(r, "Chat", template.HTML(b.String()))
	s.mu.Unlock()
	renderPage(w, http.StatusOK, d)
}

// notFoundPage answers 404 with a page in the shared frame.
func (s *Server) notFoundPage(w http.ResponseWriter, r *http.Request, text string) {
	s.mu.Lock()
	d := s.viewerPageLocked(r, "Not found", template.HTML("<h1>Not found</h1><p>"+template.HTMLEscapeString(text)+"</p>"))
	s.mu.Unlock()
	renderPage(w, http.StatusNotFound, d)
}
