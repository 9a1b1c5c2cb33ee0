package sechattest

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

// roomBodyTmpl is the room page's own part: the transcript so far, the
// form to say something as a named person, and a script that polls
// transcript.json every 300 ms. No external assets.
var roomBodyTmpl = template.Must(template.New("room").Parse(`<h1 id="room-name">{{.Name}}</h1>
<div class="js-present" data-users="{{.Present}}"></div>
<div id="chat" data-room="{{.ID}}" data-after="{{.After}}" data-since="{{.Since}}">
{{range .Messages}}<div class="message" data-id="{{.ID}}"><span class="username">{{.UserName}}</span> <span class="content">{{.Shown}}</span></div>
{{end}}</div>
<form id="say" method="post" action="/rooms/{{.ID}}/say"><input id="name" name="name" value="you" size="10" aria-label="name"><input id="input" name="text" autocomplete="off" aria-label="message"><button id="sayit" type="submit">Send</button></form>
<script>
(function () {
  "use strict";
  var chat = document.getElementById("chat");
  var room = chat.dataset.room, after = +chat.dataset.after, since = +chat.dataset.since;
  function shown(m) {
    if (m.deleted) return "(removed)";
    if (m.text.indexOf(".\n\u0002") === 0) {
      return "(SocketScience frame, " + new TextEncoder().encode(m.text).length + " bytes)";
    }
    return m.text;
  }
  function upsert(m) {
    var el = chat.querySelector('.message[data-id="' + m.id + '"]');
    if (!el) {
      el = document.createElement("div");
      el.className = "message";
      el.dataset.id = m.id;
      var u = document.createElement("span");
      u.className = "username";
      var c = document.createElement("span");
      c.className = "content";
      el.append(u, " ", c);
      chat.append(el);
    }
    el.querySelector(".username").textContent = m.user_name;
    el.querySelector(".content").textContent = shown(m);
  }
  function poll() {
    fetch("/rooms/" + room + "/transcript.json?after=" + after + "&since=" + since, {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) {
        if (!j) return;
        var atEnd = chat.scrollTop + chat.clientHeight >= chat.scrollHeight - 8;
        j.messages.forEach(upsert);
        after = Math.max(after, j.last_id);
        since = Math.max(since, j.cursor);
        if (atEnd) chat.scrollTop = chat.scrollHeight;
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 300); });
  }
  chat.scrollTop = chat.scrollHeight;
  setTimeout(poll, 300);
  var form = document.getElementById("say"), input = document.getElementById("input");
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    var body = new URLSearchParams({name: document.getElementById("name").value, text: text});
    fetch(form.action, {method: "POST", headers: {"Accept": "application/json"}, body: body})
      .then(function (r) { if (r.ok) input.value = ""; });
  });
})();
</script>`))

type roomLine struct {
	ID       int64
	UserName string
	Shown    string
}

// transcriptEntry is one message in transcript.json.
type transcriptEntry struct {
	ID       int64  `json:"id"`
	UserID   int64  `json:"user_id"`
	UserName string `json:"user_name"`
	Text     string `json:"text"`
	Edits    int    `json:"edits"`
	Time     int64  `json:"time"`
	Deleted  bool   `json:"deleted"`
}

// transcriptMax bounds the messages of one room page or transcript.json
// answer.
const transcriptMax = 500

// handleRoomPage: GET /rooms/<room>, the live room page; with a valid acct
// cookie it is also a chat page (fkey input, topbar user link).
func (s *Server) handleRoomPage(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "room")
	s.mu.Lock()
	rm, ok := s.rooms[id]
	if !ok {
		d := s.chatPageLocked(r, "Room not found", "<h1>Room not found</h1><p>"+TextRoomNotFound+"</p>")
		s.mu.Unlock()
		renderPage(w, http.StatusNotFound, d)
		return
	}
	data := struct {
		ID           int64
		Name         string
		After, Since int64
		Present      string
		Messages     []roomLine
	}{ID: rm.ID, Name: rm.Name, Since: s.cursor}
	present, err := s.presentJSONLocked(rm)
	if err != nil {
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	data.Present = present
	msgs := rm.msgs[max(len(rm.msgs)-transcriptMax, 0):]
	for _, m := range msgs {
		shown := displayText(m.Text)
		if m.Deleted {
			shown = "(removed)"
		}
		data.Messages = append(data.Messages, roomLine{ID: m.ID, UserName: m.UserName, Shown: shown})
		data.After = m.ID
	}
	s.serveChatPageLocked(w, r, rm.Name, roomBodyTmpl, data)
}

// handleTranscript: GET /rooms/<room>/transcript.json?after=<message id>
// [&since=<event cursor>] → {"messages":[...],"last_id":N,"cursor":C}: the
// messages after the given ID and, with since, also those edited or
// deleted after that cursor; oldest first, at most 500.
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "room")
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	since, err := strconv.ParseInt(q.Get("since"), 10, 64)
	if err != nil {
		since = -1
	}
	s.mu.Lock()
	rm, ok := s.rooms[id]
	if !ok {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	out := struct {
		Messages []transcriptEntry `json:"messages"`
		LastID   int64             `json:"last_id"`
		Cursor   int64             `json:"cursor"`
	}{Messages: []transcriptEntry{}, LastID: after, Cursor: s.cursor}
	for _, m := range rm.msgs {
		if m.ID > after || (since >= 0 && m.lastEvent > since) {
			out.Messages = append(out.Messages, transcriptEntry{
				ID: m.ID, UserID: m.UserID, UserName: m.UserName, Text: m.Text,
				Edits: m.Edits, Time: m.Time.Unix(), Deleted: m.Deleted,
			})
		}
		out.LastID = max(out.LastID, m.ID)
	}
	if len(out.Messages) > transcriptMax {
		out.Messages = out.Messages[len(out.Messages)-transcriptMax:]
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handleSay: POST /rooms/<room>/say form name, text posts as the person
// called name (created on first use), like Server.Say. It answers
// {"id":N} to a request that accepts JSON, else 303 back to the room page.
func (s *Server) handleSay(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	id, _ := pathID(r, "room")
	name := strings.TrimSpace(r.PostForm.Get("name"))
	text := r.PostForm.Get("text")
	if name == "" || isBlank(text) {
		http.Error(w, "name and text are required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	rm, ok := s.rooms[id]
	var msgID int64
	if ok {
		msgID = s.postLocked(rm, s.userByNameLocked(name), text).ID
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]int64{"id": msgID})
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
