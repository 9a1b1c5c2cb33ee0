package sechattest

import (
	"html/template"
	"net/http"
)

// historyBodyTmpl is the history page's own part, in the shape
// ChatExchange's get_history reads: in #content, first the message as the
// transcript shows it (its .stars badge included), then a <p> per pinner
// holding .stars.owner-star and the pinner's link (_get_pin_data stops at
// the first <p> without one), then every version, newest first, as a
// monologue labelled <b>edited:</b> (or <b>said:</b> for the original)
// with its .message-source. So the first .monologue .message-source is the
// current text, and the edit count is the number of "edited:" labels.
var historyBodyTmpl = template.Must(template.Must(monologueTmpl.Clone()).New("history").Parse(`<div id="content">
<h1>history for message {{.ID}}</h1>
{{template "monologues" .Current}}{{range .Pinners}}<p><span class="stars owner-star"><span class="img"></span></span> <a href="/users/{{.ID}}/{{.Slug}}" title="{{.Name}}">{{.Name}}</a> pinned this message</p>
{{end}}<h2>versions</h2>
{{template "monologues" .Versions}}</div>`))

// handleHistory: GET /messages/<id>/history, no login needed; 404 for an
// unknown message.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "id")
	s.mu.Lock()
	m, ok := s.msgs[id]
	if !ok {
		s.mu.Unlock()
		s.notFoundPage(w, r, "This message does not exist.")
		return
	}
	viewer := s.viewerLocked(r)
	data := struct {
		ID                int64
		Current, Versions []monologueView
		Pinners           []userLink
	}{ID: m.ID, Current: s.monologuesLocked([]*message{m}, viewer)}
	for _, p := range m.pinnedBy {
		data.Pinners = append(data.Pinners, s.userLinkLocked(p))
	}
	versions := append(append([]string(nil), m.revisions...), m.Text)
	for i := len(versions) - 1; i >= 0; i-- {
		label := "edited:"
		if i == 0 {
			label = "said:"
		}
		source := versions[i]
		if s.zeroWidth {
			source = insertZeroWidth(source)
		}
		mono := s.monologueLocked(m, viewer)
		mono.Messages = []messageView{{
			ID: m.ID, RoomID: m.RoomID, ParentID: m.parentID, Label: label,
			Content:   template.HTML(renderContent(versions[i], 0)), //nolint:gosec // renderContent escapes
			HasSource: true, Source: source,
		}}
		data.Versions = append(data.Versions, mono)
	}
	body, err := execHTML(historyBodyTmpl, data)
	d := s.viewerPageLocked(r, "message history", body)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	renderPage(w, http.StatusOK, d)
}
