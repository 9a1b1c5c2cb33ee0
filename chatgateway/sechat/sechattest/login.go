package sechattest

import (
	"html/template"
	"net/http"
	"strings"
)

var loginBodyTmpl = template.Must(template.New("login").Parse(`{{with .Error}}<div class="error">{{.}}</div>
{{end}}<form id="login-form" method="post" action="/users/login">
<input type="hidden" name="fkey" value="{{.FKey}}">
<label>Email <input type="email" name="email"></label>
<label>Password <input type="password" name="password"></label>
<button type="submit">Log in</button>
</form>`))

// loginPageLocked is the login form with a fresh login fkey, and errText
// above it. A viewer with a valid acct cookie also gets the login site's
// top bar with a.my-profile, as the real site shows a logged-in visitor
// (ChatExchange's cookie login checks exactly that).
func (s *Server) loginPageLocked(r *http.Request, errText string) (pageData, error) {
	fkey := randHex()
	s.loginFKeys[fkey] = true
	body, err := execHTML(loginBodyTmpl, struct{ Error, FKey string }{errText, fkey})
	d := s.viewerPageLocked(r, "Log in", body)
	d.LoginSite = true
	return d, err
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	d, err := s.loginPageLocked(r, "")
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	renderPage(w, http.StatusOK, d)
}

// handleLogin: 302 to / with an acct cookie on success; otherwise 200 and
// an error page, with no cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	email, password, fkey := r.PostForm.Get("email"), r.PostForm.Get("password"), r.PostForm.Get("fkey")
	s.mu.Lock()
	u := s.byEmail[strings.ToLower(email)]
	if !s.loginFKeys[fkey] || u == nil || email == "" || u.Password != password {
		d, err := s.loginPageLocked(r, TextLoginIncorrect)
		s.mu.Unlock()
		s.log.Debug().Str("email", email).Msg("sechattest: login failed")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		renderPage(w, http.StatusOK, d)
		return
	}
	se := &session{token: randHex(), user: u}
	s.sessions[se.token] = se
	s.mu.Unlock()
	s.log.Debug().Int64("user_id", u.ID).Msg("sechattest: logged in")
	http.SetCookie(w, &http.Cookie{Name: "acct", Value: se.token, Path: "/", HttpOnly: true})
	http.Redirect(w, r, "/", http.StatusFound)
}
