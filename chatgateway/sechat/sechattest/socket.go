package sechattest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// event is one entry of a frame's "e" array, and of the events call.
type event struct {
	EventType    int     `json:"event_type"`
	TimeStamp    int64   `json:"time_stamp"`
	Content      *string `json:"content,omitempty"`
	ID           int64   `json:"id"`
	UserID       int64   `json:"user_id"`
	UserName     string  `json:"user_name"`
	RoomID       int64   `json:"room_id"`
	RoomName     string  `json:"room_name"`
	MessageID    int64   `json:"message_id,omitempty"`
	MessageEdits int     `json:"message_edits,omitempty"`
	TargetUserID int64   `json:"target_user_id,omitempty"`
	// ParentID and ShowParent mark a reply (":<id> text"); ChatExchange
	// reads parent_id and show_parent.
	ParentID   int64 `json:"parent_id,omitempty"`
	ShowParent bool  `json:"show_parent,omitempty"`
	// MessageStars and MessageOwnerStars are the star and pin counts an
	// event 6 (message starred) carries.
	MessageStars      int `json:"message_stars,omitempty"`
	MessageOwnerStars int `json:"message_owner_stars,omitempty"`
}

// roomFrame is the value of an "r<room>" key of a frame.
type roomFrame struct {
	E []event `json:"e,omitempty"`
	T int64   `json:"t"`
	D int64   `json:"d"`
}

// frame is one queued outgoing text message.
type frame struct {
	data []byte
	at   time.Time // when it was queued, for DelayFrames
}

// socket is one open websocket. Its one writer goroutine drains queue; the
// handler goroutine that upgraded it is its one reader.
type socket struct {
	conn  *websocket.Conn // set (under Server.mu) once the handshake is done
	room  int64
	user  *user
	queue chan frame
	done  chan struct{} // closed by killLocked
	// guarded by Server.mu:
	dead       bool
	lastT      int64 // the cursor of the last frame queued, for "d"
	keepAlives int
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	// The handler checks Origin itself, before upgrading, to answer a
	// plain 403.
	CheckOrigin: func(*http.Request) bool { return true },
}

// handleSocket serves GET /events/<room>/<token>?l=<time>.
func (s *Server) handleSocket(w http.ResponseWriter, r *http.Request) {
	roomID, err := strconv.ParseInt(r.PathValue("room"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	origin := r.Header.Get("Origin")
	if origin == "" || (origin != s.URL && origin != "http://"+r.Host) {
		s.log.Debug().Str("origin", origin).Msg("sechattest: websocket refused: bad Origin")
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	tok, ok := s.wsTokens[r.PathValue("token")]
	if ok && tok.room == roomID {
		delete(s.wsTokens, r.PathValue("token")) // single use
	}
	s.mu.Unlock()
	if !ok || tok.room != roomID {
		http.Error(w, "Unknown or used token", http.StatusNotFound)
		return
	}
	after, hasL := int64(0), false
	if l := r.URL.Query().Get("l"); l != "" {
		if v, err := strconv.ParseInt(l, 10, 64); err == nil {
			after, hasL = v, true
		}
	}
	// Register the socket before the handshake completes, so that every
	// event published once the client's dial has returned reaches it; its
	// frames wait in the queue until the writer starts.
	so := &socket{room: roomID, user: tok.user, queue: make(chan frame, s.queueSize), done: make(chan struct{})}
	s.mu.Lock()
	rm, ok := s.rooms[roomID]
	if s.closed || !ok {
		s.mu.Unlock()
		http.Error(w, "Unknown room", http.StatusNotFound)
		return
	}
	s.sockets[so] = struct{}{}
	// Replay what the socket missed: everything after l, or, without l,
	// the recent history (JamesSOBot: "omitting it results in a lot of
	// history").
	var missed []event
	for _, ev := range rm.events {
		if ev.ID > after {
			missed = append(missed, ev)
		}
	}
	if !hasL && len(missed) > 100 {
		missed = missed[len(missed)-100:]
	}
	so.lastT = after
	if len(missed) > 0 {
		s.sendLocked(so, map[string]any{roomKey(roomID): roomFrame{E: missed, T: s.cursor, D: s.cursor - so.lastT}})
	}
	so.lastT = s.cursor
	s.joinLocked(rm, tok.user)
	s.mu.Unlock()

	conn, err := upgrader.Upgrade(w, r, nil)
	s.mu.Lock()
	if err != nil || so.dead {
		s.killLocked(so, "handshake failed or killed during it")
		s.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
		return // on error, Upgrade has answered
	}
	so.conn = conn
	s.mu.Unlock()
	conn.SetReadLimit(64 << 10)
	conn.SetPingHandler(func(data string) error {
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		if silent {
			return nil
		}
		return conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
	})
	s.log.Debug().Int64("room_id", roomID).Int64("user_id", tok.user.ID).Msg("sechattest: websocket open")

	s.wg.Go(func() { s.writeLoop(so) })
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	s.mu.Lock()
	s.killLocked(so, "read ended")
	s.mu.Unlock()
}

// sendLocked queues a frame for so; a socket whose queue is full is closed.
func (s *Server) sendLocked(so *socket, v map[string]any) {
	if so.dead {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error().Err(err).Msg("sechattest: encode frame")
		return
	}
	select {
	case so.queue <- frame{data: data, at: time.Now()}:
	default:
		s.log.Warn().Int64("room_id", so.room).Int64("user_id", so.user.ID).Msg("sechattest: socket queue full; dropping the socket")
		s.killLocked(so, "queue full")
	}
}

// killLocked closes so abruptly (no close frame) and forgets it.
func (s *Server) killLocked(so *socket, why string) {
	if so.dead {
		return
	}
	so.dead = true
	delete(s.sockets, so)
	close(so.done)
	if so.conn != nil {
		_ = so.conn.Close()
	}
	s.log.Debug().Int64("room_id", so.room).Int64("user_id", so.user.ID).Str("cause", why).Msg("sechattest: websocket closed")
}

// writeLoop is so's only writer.
func (s *Server) writeLoop(so *socket) {
	for {
		var f frame
		select {
		case <-so.done:
			return
		case f = <-so.queue:
		}
		s.mu.Lock()
		delay := s.delay
		s.mu.Unlock()
		if wait := time.Until(f.at.Add(delay)); delay > 0 && wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-so.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		if silent {
			continue
		}
		_ = so.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := so.conn.WriteMessage(websocket.TextMessage, f.data); err != nil {
			s.mu.Lock()
			s.killLocked(so, "write failed")
			s.mu.Unlock()
			return
		}
	}
}

// keepAliveLoop sends every socket a keep-alive frame each period.
func (s *Server) keepAliveLoop() {
	t := time.NewTicker(s.keepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for so := range s.sockets {
			so.keepAlives++
			f := map[string]any{roomKey(so.room): roomFrame{T: s.cursor, D: s.cursor - so.lastT}}
			if so.keepAlives%3 == 1 { // the 1st, 4th, 7th, ... keep-alive
				f[roomKey(so.room+ForeignRoomOffset)] = struct{}{}
			}
			so.lastT = s.cursor
			s.sendLocked(so, f)
		}
		s.mu.Unlock()
	}
}
