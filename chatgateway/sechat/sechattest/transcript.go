package sechattest

import (
	"html/template"
	"net/http"
	"strconv"
)

// transcriptBodyTmpl is a transcript page's own part, in the shape
// ChatExchange's get_transcript_with_message reads: #transcript holding
// the monologues, and a sidebar whose last .room-name a links to
// /rooms/<room>/<slug> (the room ID is the next-to-last path segment).
var transcriptBodyTmpl = template.Must(template.Must(monologueTmpl.Clone()).New("transcript").Parse(`<div id="transcript">
{{template "monologues" .Monologues}}</div>
<div id="sidebar"><div id="info">
<h2>Transcript for</h2>
<div class="room-mini"><div class="room-mini-header"><h3><span class="room-name"><a href="/rooms/{{.Room.ID}}/{{.RoomSlug}}">{{.Room.Name}}</a></span></h3></div></div>
<div id="transcript-links"><a id="join-room" href="/rooms/{{.Room.ID}}/{{.RoomSlug}}" class="button">join this room</a> <a href="/rooms/info/{{.Room.ID}}/{{.RoomSlug}}" class="button">about this room</a></div>
</div></div>`))

// handleTranscriptMessage: GET /transcript/message/<id>, the transcript
// around a message (deleted ones show "(removed)"); 404 for an unknown
// message.
func (s *Server) handleTranscriptMessage(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "id")
	s.mu.Lock()
	m, ok := s.msgs[id]
	s.mu.Unlock()
	if !ok {
		s.notFoundPage(w, r, "This message does not exist.")
		return
	}
	s.serveTranscript(w, r, m.RoomID, m.ID)
}

// handleRoomTranscript: GET /transcript/<room>[?m=<id>], the room's last
// messages, or those around message m.
func (s *Server) handleRoomTranscript(w http.ResponseWriter, r *http.Request) {
	roomID, _ := pathID(r, "room")
	around, _ := strconv.ParseInt(r.URL.Query().Get("m"), 10, 64)
	s.serveTranscript(w, r, roomID, around)
}

// serveTranscript renders up to transcriptMax of the room's messages:
// centred on message around if it is in the room, else the last ones. The
// real pages show a calendar day; a window is what a client scraping for
// one message needs.
func (s *Server) serveTranscript(w http.ResponseWriter, r *http.Request, roomID, around int64) {
	s.mu.Lock()
	rm, ok := s.rooms[roomID]
	if !ok {
		s.mu.Unlock()
		s.notFoundPage(w, r, TextRoomNotFound)
		return
	}
	from := max(len(rm.msgs)-transcriptMax, 0)
	for i, m := range rm.msgs {
		if m.ID == around {
			from = max(min(i-transcriptMax/2, len(rm.msgs)-transcriptMax), 0)
			break
		}
	}
	msgs := rm.msgs[from:min(from+transcriptMax, len(rm.msgs))]
	data := struct {
		Room       Room
		RoomSlug   string
		Monologues []monologueView
	}{Room: rm.Room, RoomSlug: slug(rm.Name), Monologues: s.monologuesLocked(msgs, s.viewerLocked(r))}
	body, err := execHTML(transcriptBodyTmpl, data)
	d := s.viewerPageLocked(r, rm.Name+" - transcript", body)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	renderPage(w, http.StatusOK, d)
}
