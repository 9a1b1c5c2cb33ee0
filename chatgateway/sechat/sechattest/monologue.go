package sechattest

import (
	"html/template"
)

// Monologues are how the real transcript and history pages show messages:
// a .monologue per run of one user's messages, its .signature holding the
// .username link, and a .message per message with an a[name=<id>] whose
// href (/transcript/<room>?m=<id>#<id>) clients read the room ID from,
// the .content, and a .flash holding the .stars badge. The history page
// adds a <b>said:</b> or <b>edited:</b> label and the .message-source to
// each version.
var monologueTmpl = template.Must(template.New("monologues").Parse(`{{range .}}<div class="monologue user-{{.User.ID}}{{if .Mine}} mine{{end}}">
<div class="signature"><div class="tiny-signature"><div class="username"><a href="/users/{{.User.ID}}/{{.User.Slug}}" title="{{.User.Name}}">{{.User.Name}}</a></div></div></div>
<div class="messages">
{{range .Messages}}<div class="message" id="message-{{.ID}}">
<a name="{{.ID}}" href="/transcript/{{.RoomID}}?m={{.ID}}#{{.ID}}"><span class="action-link"><span class="img"> </span></span></a>
{{with .Label}}<b>{{.}}</b>
{{end}}{{if .ParentID}}<a class="reply-info" href="/transcript/{{.RoomID}}?m={{.ParentID}}#{{.ParentID}}"> </a>
{{end}}<div class="content">{{.Content}}</div>
{{if .HasSource}}<div class="message-source">{{.Source}}</div>
{{end}}{{if .Edited}}<span class="edits" title="this message has been edited"></span>
{{end}}<span class="flash">{{if .Stars}}<span class="stars vote-count-container{{if .Pinned}} owner-star{{end}}{{if .StarredByYou}} user-star{{end}}"><span class="img vote" title="star this message as useful / interesting for the transcript"></span><span class="times">{{if gt .Stars 1}}{{.Stars}}{{end}}</span></span>{{end}}</span>
</div>
{{end}}</div>
</div>
{{end}}`))

// monologueView is one .monologue: one user's consecutive messages.
type monologueView struct {
	User     userLink
	Mine     bool // the viewer's own: class "mine"
	Messages []messageView
}

// messageView is one .message of a monologue.
type messageView struct {
	ID, RoomID, ParentID int64
	Label                string // the history page's "said:" / "edited:"
	Content              template.HTML
	HasSource            bool // the history page's versions carry .message-source
	Source               string
	Edited               bool // a transcript shows span.edits on an edited message
	// Stars counts stars and pins together (a pin is a star by the room
	// owner): no .stars badge at 0, an empty .times at 1.
	Stars        int
	Pinned       bool
	StarredByYou bool
}

// messageViewLocked shows m as a transcript shows it to viewer (nil:
// anonymous).
func (s *Server) messageViewLocked(m *message, viewer *user) messageView {
	content := template.HTML(renderContent(m.Text, 0)) //nolint:gosec // renderContent escapes the text
	if m.Deleted {
		content = `<span class="deleted">(removed)</span>`
	}
	v := messageView{
		ID: m.ID, RoomID: m.RoomID, ParentID: m.parentID, Content: content,
		Edited: m.Edits > 0, Stars: starCount(m), Pinned: len(m.pinnedBy) > 0,
	}
	if viewer != nil {
		v.StarredByYou = m.starredBy[viewer.ID]
	}
	return v
}

// monologuesLocked groups messages into monologues, a new one whenever
// the owner changes, as the real pages do.
func (s *Server) monologuesLocked(msgs []*message, viewer *user) []monologueView {
	var out []monologueView
	for _, m := range msgs {
		if n := len(out); n == 0 || out[n-1].User.ID != m.UserID {
			out = append(out, s.monologueLocked(m, viewer))
		}
		out[len(out)-1].Messages = append(out[len(out)-1].Messages, s.messageViewLocked(m, viewer))
	}
	return out
}

// monologueLocked is an empty monologue for m's owner.
func (s *Server) monologueLocked(m *message, viewer *user) monologueView {
	return monologueView{User: s.userLinkLocked(m.UserID), Mine: viewer != nil && viewer.ID == m.UserID}
}

// userLink is a user as a link shows them.
type userLink struct {
	ID         int64
	Name, Slug string
}

// userLinkLocked is the link to a user; every ID a message or room holds
// is a user's (users are never removed).
func (s *Server) userLinkLocked(id int64) userLink {
	name := s.users[id].Name
	return userLink{ID: id, Name: name, Slug: slug(name)}
}
