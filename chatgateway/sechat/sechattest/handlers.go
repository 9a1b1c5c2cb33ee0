package sechattest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// routes is every endpoint of the server.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleChatHome)
	mux.HandleFunc("GET /chats/join/favorite", s.handleChatHome)
	mux.HandleFunc("GET /users/login", s.handleLoginPage)
	mux.HandleFunc("POST /users/login", s.handleLogin)
	mux.HandleFunc("GET /users/{id}", s.handleUserPage)
	mux.HandleFunc("GET /users/{id}/{slug}", s.handleUserPage)
	mux.HandleFunc("GET /rooms/{room}", s.handleRoomPage)
	mux.HandleFunc("GET /rooms/{room}/{$}", s.handleRoomPage) // ChatExchange asks for /rooms/<room>/
	mux.HandleFunc("GET /rooms/{a}/{b}", s.handleRoomsGet)    // info, pingable, transcript.json, slug
	mux.HandleFunc("POST /rooms/{room}/say", s.handleSay)
	mux.HandleFunc("GET /rooms/info/{room}/{slug}", s.handleRoomInfo)
	mux.HandleFunc("GET /transcript/{room}", s.handleRoomTranscript)
	mux.HandleFunc("GET /transcript/message/{id}", s.handleTranscriptMessage)
	mux.HandleFunc("POST /chats/{a}/{b}", s.handleChatsPost) // /chats/<room>/events, /chats/leave/<room>
	mux.HandleFunc("POST /chats/{room}/messages/new", s.handleNewMessage)
	mux.HandleFunc("POST /ws-auth", s.handleWSAuth)
	mux.HandleFunc("POST /events", s.handlePollEvents)
	mux.HandleFunc("GET /events/{room}/{token}", s.handleSocket)
	mux.HandleFunc("GET /message/{id}", s.handleMessage)
	mux.HandleFunc("GET /messages/{id}/history", s.handleHistory)
	mux.HandleFunc("POST /messages/{id}", s.handleEdit)
	mux.HandleFunc("POST /messages/{id}/delete", s.handleDelete)
	mux.HandleFunc("POST /messages/{id}/star", s.handleStar)
	mux.HandleFunc("POST /messages/{id}/owner-star", s.handleOwnerStar)
	mux.HandleFunc("POST /messages/{id}/unstar", s.handleUnstar)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The connection's goroutine is counted (ConnState), so this Add
		// never races Close's Wait.
		s.wg.Add(1)
		defer s.wg.Done()
		collapseSlashes(r)
		s.mu.Lock()
		s.requests[r.URL.Path]++
		s.mu.Unlock()
		s.log.Debug().Str("method", r.Method).Str("path", r.URL.Path).Msg("sechattest: request")
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		}
		mux.ServeHTTP(w, r)
	})
}

// ---- helpers ----

func writeText(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeHTML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// reply is an answer computed under the lock and written after it.
type reply struct {
	status int
	text   string // text/plain body, unless json is set
	json   any
}

func (rp reply) write(w http.ResponseWriter) {
	if rp.json != nil {
		writeJSON(w, rp.status, rp.json)
		return
	}
	writeText(w, rp.status, rp.text)
}

// parsePostForm parses an x-www-form-urlencoded body. Any other content
// type answers 404, as JamesSOBot reports the real service does.
func parsePostForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		http.NotFound(w, r)
		return false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad request", http.StatusBadRequest)
		return false
	}
	return true
}

func pathID(r *http.Request, name string) (int64, bool) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return v, err == nil
}

// sessionLocked is the session of the request's acct cookie, or nil. The
// request counts as the user being seen (the profile's "last seen").
func (s *Server) sessionLocked(r *http.Request) *session {
	c, err := r.Cookie("acct")
	if err != nil {
		return nil
	}
	se := s.sessions[c.Value]
	if se != nil {
		se.user.lastSeen = s.now()
	}
	return se
}

// fkeySessionLocked is the request's session if its form fkey is that
// session's current chat fkey, else nil.
func (s *Server) fkeySessionLocked(r *http.Request) *session {
	se := s.sessionLocked(r)
	if se == nil || se.fkey == "" || r.PostForm.Get("fkey") != se.fkey {
		return nil
	}
	return se
}

// sessionPost answers a parsed form POST that needs the chat fkey: f runs
// with the server locked and the fkey's session, or the answer is 403
// Invalid fkey. A 302 from f redirects to /.
func (s *Server) sessionPost(w http.ResponseWriter, r *http.Request, f func(se *session) reply) {
	rp := func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		se := s.fkeySessionLocked(r)
		if se == nil {
			return invalidFKey
		}
		return f(se)
	}()
	if rp.status == http.StatusFound {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	rp.write(w)
}

var invalidFKey = reply{status: http.StatusForbidden, text: TextInvalidFKey}

// handleRoomsGet serves the GET paths /rooms/<a>/<b>, which one pattern
// must match as net/http's ServeMux finds /rooms/info/<room> and
// /rooms/<room>/transcript.json equally specific: /rooms/info/<room>,
// /rooms/pingable/<room>, /rooms/<room>/transcript.json and
// /rooms/<room>/<slug>.
func (s *Server) handleRoomsGet(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "info":
		r.SetPathValue("room", b)
		s.handleRoomInfo(w, r)
	case a == "pingable":
		r.SetPathValue("room", b)
		s.handleRoomPingable(w, r)
	case b == "transcript.json":
		r.SetPathValue("room", a)
		s.handleTranscript(w, r)
	default:
		r.SetPathValue("room", a)
		s.handleRoomPage(w, r)
	}
}

// ---- joining, the event cursor, the socket URL ----

// handleChatsPost serves POST /chats/<room>/events and /chats/leave/<room>.
func (s *Server) handleChatsPost(w http.ResponseWriter, r *http.Request) {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "leave":
		s.handleLeave(w, r, b)
	case b == "events":
		s.handleRoomEvents(w, r)
	default:
		http.NotFound(w, r)
	}
}

// handleRoomEvents: POST /chats/<room>/events form fkey, since, mode,
// msgCount (default 100, at most 500), optional before/after (message IDs)
// → {"events":[the last msgCount message events, oldest first],"time":cursor}.
// The caller joins the room.
func (s *Server) handleRoomEvents(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	roomID, _ := strconv.ParseInt(r.PathValue("a"), 10, 64)
	count := 100
	if v, err := strconv.Atoi(r.PostForm.Get("msgCount")); err == nil {
		count = min(max(v, 0), 500)
	}
	before, _ := strconv.ParseInt(r.PostForm.Get("before"), 10, 64)
	after, _ := strconv.ParseInt(r.PostForm.Get("after"), 10, 64)
	s.sessionPost(w, r, func(se *session) reply {
		rm, ok := s.rooms[roomID]
		if !ok {
			return reply{status: http.StatusNotFound, text: TextRoomNotFound}
		}
		s.joinLocked(rm, se.user)
		evs := []event{}
		for i := len(rm.msgs) - 1; i >= 0 && len(evs) < count; i-- {
			m := rm.msgs[i]
			if m.Deleted || (before > 0 && m.ID >= before) || (after > 0 && m.ID <= after) {
				continue
			}
			evs = append(evs, s.messageEventLocked(m))
		}
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
		return reply{status: http.StatusOK, json: map[string]any{"events": evs, "time": s.cursor}}
	})
}

// messageEventLocked is an event 1 showing a message as it is now.
func (s *Server) messageEventLocked(m *message) event {
	ev := event{
		EventType:    1,
		TimeStamp:    m.Time.Unix(),
		Content:      ptr(renderContent(m.Text, s.partial)),
		ID:           m.lastEvent,
		UserID:       m.UserID,
		UserName:     m.UserName,
		RoomID:       m.RoomID,
		RoomName:     s.rooms[m.RoomID].Name,
		MessageID:    m.ID,
		MessageEdits: m.Edits,
		ParentID:     m.parentID,
		ShowParent:   m.parentID != 0,
	}
	return ev
}

// handleLeave: POST /chats/leave/<room|all> form fkey, quiet → "ok".
func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request, which string) {
	if !parsePostForm(w, r) {
		return
	}
	s.sessionPost(w, r, func(se *session) reply {
		if which == "all" {
			for id := range se.user.joined {
				s.leaveLocked(s.rooms[id], se.user)
			}
			return reply{status: http.StatusOK, json: "ok"}
		}
		id, _ := strconv.ParseInt(which, 10, 64)
		rm, ok := s.rooms[id]
		if !ok {
			return reply{status: http.StatusNotFound, text: TextRoomNotFound}
		}
		s.leaveLocked(rm, se.user)
		return reply{status: http.StatusOK, json: "ok"}
	})
}

// handleWSAuth: POST /ws-auth form roomid, fkey →
// {"url":"ws://<host>/events/<room>/<token>"}; the token is good for one
// websocket of that room.
func (s *Server) handleWSAuth(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	roomID, _ := strconv.ParseInt(r.PostForm.Get("roomid"), 10, 64)
	s.sessionPost(w, r, func(se *session) reply {
		rm, ok := s.rooms[roomID]
		if !ok {
			return reply{status: http.StatusNotFound, text: TextRoomNotFound}
		}
		tok := randHex()
		s.wsTokens[tok] = wsToken{room: rm.ID, user: se.user}
		u := "ws://" + strings.TrimPrefix(s.URL, "http://") + fmt.Sprintf("/events/%d/%s", rm.ID, tok)
		return reply{status: http.StatusOK, json: map[string]string{"url": u}}
	})
}

// handlePollEvents: POST /events form fkey, r<room>=<last time>... →
// {"r<room>":{"e":[events after last time],"t":cursor,"d":n}}, the polling
// alternative to the websocket. Polling a room joins it.
func (s *Server) handlePollEvents(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	s.sessionPost(w, r, func(se *session) reply {
		out := map[string]roomFrame{}
		for k, vs := range r.PostForm {
			id, err := strconv.ParseInt(strings.TrimPrefix(k, "r"), 10, 64)
			if !strings.HasPrefix(k, "r") || err != nil || len(vs) == 0 {
				continue
			}
			rm, ok := s.rooms[id]
			if !ok {
				continue
			}
			last, _ := strconv.ParseInt(vs[0], 10, 64)
			s.joinLocked(rm, se.user)
			var evs []event
			for _, ev := range rm.events {
				if ev.ID > last {
					evs = append(evs, ev)
				}
			}
			if len(evs) > 100 {
				evs = evs[len(evs)-100:]
			}
			out[k] = roomFrame{E: evs, T: s.cursor, D: max(s.cursor-last, 0)}
		}
		return reply{status: http.StatusOK, json: out}
	})
}

// ---- posting and editing ----

// handleNewMessage: POST /chats/<room>/messages/new form text, fkey.
// Checks, in order: fkey (403), RejectPosts, ThrottleNext (409), room
// (404), empty text (400), Throttle (409), duplicate ({"id":null}).
func (s *Server) handleNewMessage(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	roomID, _ := pathID(r, "room")
	text := r.PostForm.Get("text")
	s.sessionPost(w, r, func(se *session) reply {
		rp := s.newMessageLocked(se, roomID, text)
		if rp.status != http.StatusOK {
			s.log.Debug().Int("status", rp.status).Str("body", rp.text).Msg("sechattest: post refused")
		}
		return rp
	})
}

// newMessageLocked posts text to roomID as se's user, or says why not.
func (s *Server) newMessageLocked(se *session, roomID int64, text string) reply {
	if s.rejectN > 0 {
		s.rejectN--
		return reply{status: s.rejectStatus, text: s.rejectBody}
	}
	if s.nextThrottleN > 0 {
		s.nextThrottleN--
		return reply{status: http.StatusConflict, text: ThrottleText(s.nextThrottleS)}
	}
	rm, ok := s.rooms[roomID]
	if !ok {
		return reply{status: http.StatusNotFound, text: TextRoomNotFound}
	}
	if isBlank(text) {
		return reply{status: http.StatusBadRequest, text: "Message text is empty"}
	}
	u, now := se.user, s.now()
	if s.throttleBurst > 0 {
		keep := u.recent[:0]
		for _, t := range u.recent {
			if now.Sub(t) < s.throttleWindow {
				keep = append(keep, t)
			}
		}
		u.recent = keep
		if len(u.recent) >= s.throttleBurst {
			return reply{status: http.StatusConflict, text: ThrottleText(s.throttleWait)}
		}
	}
	for i := len(rm.msgs) - 1; i >= 0; i-- {
		if m := rm.msgs[i]; m.UserID == u.ID && !m.Deleted {
			if m.Text == text {
				return reply{status: http.StatusOK, json: map[string]any{"id": nil, "time": nil}}
			}
			break
		}
	}
	m := s.postLocked(rm, u, text)
	u.recent = append(u.recent, now)
	s.posts++
	return reply{status: http.StatusOK, json: map[string]int64{"id": m.ID, "time": m.Time.Unix()}}
}

// ownMessageLocked checks an edit or delete request: message,
// deleted, owner, window. It returns the message, or the reply to give.
func (s *Server) ownMessageLocked(se *session, r *http.Request, notYours, tooLate string) (*message, reply) {
	id, _ := pathID(r, "id")
	m, ok := s.msgs[id]
	switch {
	case !ok:
		// sochat4j: an ID never assigned answers a redirect.
		return nil, reply{status: http.StatusFound}
	case m.Deleted:
		return nil, reply{status: http.StatusOK, json: TextAlreadyDeleted}
	case m.UserID != se.user.ID:
		return nil, reply{status: http.StatusForbidden, json: notYours}
	case s.now().Sub(m.Time) > EditWindow:
		return nil, reply{status: http.StatusOK, json: tooLate}
	}
	return m, reply{}
}

// handleEdit: POST /messages/<id> form text, fkey → "ok" and event 2.
func (s *Server) handleEdit(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	text := r.PostForm.Get("text")
	s.sessionPost(w, r, func(se *session) reply {
		m, rp := s.ownMessageLocked(se, r, TextNotYourMessage, TextEditTooLate)
		if m == nil {
			return rp
		}
		if isBlank(text) {
			return reply{status: http.StatusBadRequest, text: "Message text is empty"}
		}
		s.editLocked(m, text)
		return reply{status: http.StatusOK, json: "ok"}
	})
}

// handleDelete: POST /messages/<id>/delete form fkey → "ok" and event 10.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if !parsePostForm(w, r) {
		return
	}
	s.sessionPost(w, r, func(se *session) reply {
		m, rp := s.ownMessageLocked(se, r, TextNotYourDelete, TextDeleteTooLate)
		if m == nil {
			return rp
		}
		s.deleteLocked(m)
		return reply{status: http.StatusOK, json: "ok"}
	})
}

// ---- reading sources ----

// handleMessage: GET /message/<id>?plain=true → the text exactly as posted
// (plus U+200B with WithZeroWidth); without plain=true, the content HTML,
// never truncated. No login needed.
func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "id")
	s.mu.Lock()
	m, ok := s.msgs[id]
	var text string
	found := ok && !m.Deleted
	if found {
		text = m.Text
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("plain") == "true" {
		if s.zeroWidth {
			text = insertZeroWidth(text)
		}
		writeText(w, http.StatusOK, text)
		return
	}
	writeHTML(w, http.StatusOK, renderContent(text, 0))
}
