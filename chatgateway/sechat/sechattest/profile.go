package sechattest

import (
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// profileBodyTmpl is a user's profile page in the shape ChatExchange's
// get_profile reads: the first h1 is the name, .user-status holds ♦ for a
// moderator, .user-message-count-xxl and .user-room-count-xxl are plain
// integers, and of the .user-valuecell cells the second is the last
// message and the third the last seen ("just now", "<n><s|m|h|d|y> ago"
// or "n/a"). No .reputation-score: these accounts have no parent site.
var profileBodyTmpl = template.Must(template.New("profile").Parse(`<div class="usercard-xxl">
<h1>{{.Name}}</h1>
<div class="user-status" title="{{if .Moderator}}moderator{{else}}user{{end}}">{{if .Moderator}}♦ moderator{{end}}</div>
<div class="user-message-count-xxl" title="messages">{{.Messages}}</div>
<div class="user-room-count-xxl" title="rooms talked in">{{.Rooms}}</div>
</div>
<table id="user-stats">
<tr><td class="user-keycell">parent user</td><td class="user-valuecell">n/a</td></tr>
<tr><td class="user-keycell">last message</td><td class="user-valuecell">{{.LastMessage}}</td></tr>
<tr><td class="user-keycell">last seen</td><td class="user-valuecell">{{.LastSeen}}</td></tr>
<tr><td class="user-keycell">user id</td><td class="user-valuecell">{{.ID}}</td></tr>
</table>`))

// SetModerator makes a user a moderator (♦ on the profile, may pin in
// every room) or not.
func (s *Server) SetModerator(userID int64, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[userID]
	if !ok {
		return ErrUnknownUser
	}
	u.Moderator = on
	return nil
}

// handleUserPage: GET /users/<id>[/<slug>], the profile; 404 for an
// unknown user.
func (s *Server) handleUserPage(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "id")
	s.mu.Lock()
	u, ok := s.users[id]
	if !ok {
		s.mu.Unlock()
		s.notFoundPage(w, r, "This user does not exist.")
		return
	}
	data := struct {
		User
		Messages, Rooms       int
		LastMessage, LastSeen string
	}{User: u.User}
	rooms := map[int64]bool{}
	var lastMessage time.Time
	for _, m := range s.msgs {
		if m.UserID != u.ID || m.Deleted {
			continue
		}
		data.Messages++
		rooms[m.RoomID] = true
		if m.Time.After(lastMessage) {
			lastMessage = m.Time
		}
	}
	now := s.now()
	data.Rooms = len(rooms)
	data.LastMessage = agoText(now, lastMessage)
	data.LastSeen = agoText(now, latest(u.lastSeen, lastMessage))
	s.serveChatPageLocked(w, r, u.Name, profileBodyTmpl, data)
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// agoText is how a profile says when something last happened: "n/a" for
// never, "just now" within 5 seconds, else "<n><unit> ago" with the
// largest whole unit of s, m, h, d, y (ChatExchange's parse_last_seen
// reads exactly these).
func agoText(now, t time.Time) string {
	if t.IsZero() {
		return "n/a"
	}
	d := now.Sub(t)
	const day, year = 24 * time.Hour, 365 * 24 * time.Hour
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < day:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	case d < year:
		return fmt.Sprintf("%dd ago", int(d/day))
	default:
		return fmt.Sprintf("%dy ago", int(d/year))
	}
}
