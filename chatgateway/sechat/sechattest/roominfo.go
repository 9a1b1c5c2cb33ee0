package sechattest

import (
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
)

// roomInfoBodyTmpl is the room's info page in the shape ChatExchange's
// get_room_info reads: the first h1 is the name, .roomcard-xxl p the
// description, .room-message-count-xxl and .room-user-count-xxl plain
// integers, .roomcard-xxl .tag the tags (none here), and a .usercard with
// the owner's link per owner in #room-ownercards.
var roomInfoBodyTmpl = template.Must(template.New("roominfo").Parse(`<div class="roomcard-xxl" id="room-{{.ID}}">
<h1>{{.Name}}</h1>
<p class="roomcard-xxl-description">{{.Description}}</p>
<div class="room-message-count-xxl" title="messages">{{.Messages}}</div>
<div class="room-user-count-xxl" title="users present">{{.Users}}</div>
</div>
<div id="room-ownercards">
{{range .Owners}}<div class="usercard" id="owner-user-{{.ID}}"><a href="/users/{{.ID}}/{{.Slug}}" title="{{.Name}}">{{.Name}}</a></div>
{{end}}</div>`))

// AddRoomOwner makes a user an owner of a room: listed on its info page,
// allowed to pin and cancel stars there.
func (s *Server) AddRoomOwner(roomID, userID int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[roomID]
	if !ok {
		return ErrUnknownRoom
	}
	if _, ok := s.users[userID]; !ok {
		return ErrUnknownUser
	}
	if !slices.Contains(r.owners, userID) {
		r.owners = append(r.owners, userID)
	}
	return nil
}

// presentLocked is who is in the room now, by user ID.
func (s *Server) presentLocked(r *room) []*user {
	var out []*user
	for id := range r.seen {
		if u := s.users[id]; u != nil && u.joined[r.ID] {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b *user) int { return int(a.ID - b.ID) })
	return out
}

// handleRoomInfo: GET /rooms/info/<room>[/<slug>]; 404 for an unknown room.
func (s *Server) handleRoomInfo(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "room")
	s.mu.Lock()
	rm, ok := s.rooms[id]
	if !ok {
		s.mu.Unlock()
		s.notFoundPage(w, r, TextRoomNotFound)
		return
	}
	data := struct {
		Room
		Description     string
		Messages, Users int
		Owners          []userLink
	}{Room: rm.Room, Users: len(s.presentLocked(rm))}
	for _, m := range rm.msgs {
		if !m.Deleted {
			data.Messages++
		}
	}
	for _, o := range rm.owners {
		data.Owners = append(data.Owners, s.userLinkLocked(o))
	}
	s.serveChatPageLocked(w, r, rm.Name+" - room info", roomInfoBodyTmpl, data)
}

// handleRoomPingable: GET /rooms/pingable/<room> → a JSON array with one
// [user id, name, last seen, last message in the room] (Unix seconds, 0
// for never) per user who was ever in the room, as ChatExchange's
// get_pingable_users_in_room unpacks it.
func (s *Server) handleRoomPingable(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r, "room")
	s.mu.Lock()
	rm, ok := s.rooms[id]
	if !ok {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	lastPost := map[int64]int64{}
	for _, m := range rm.msgs {
		lastPost[m.UserID] = max(lastPost[m.UserID], m.Time.Unix())
	}
	ids := make([]int64, 0, len(rm.seen))
	for uid := range rm.seen {
		ids = append(ids, uid)
	}
	for uid := range lastPost {
		if !rm.seen[uid] {
			ids = append(ids, uid)
		}
	}
	slices.Sort(ids)
	out := make([][4]any, 0, len(ids))
	for _, uid := range ids {
		u := s.users[uid]
		if u == nil {
			continue
		}
		var seen int64
		if !u.lastSeen.IsZero() {
			seen = u.lastSeen.Unix()
		}
		out = append(out, [4]any{u.ID, u.Name, max(seen, lastPost[uid]), lastPost[uid]})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// presentUser is one entry of the room page's div.js-present data-users,
// the JSON that ChatExchange's get_current_users_in_room reads id and name
// from (the real page's shape since 2020-11).
type presentUser struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	IsOwner     bool   `json:"is_owner"`
	IsModerator bool   `json:"is_moderator"`
	LastPost    int64  `json:"last_post"`
}

// presentJSONLocked is the data-users value for room r.
func (s *Server) presentJSONLocked(r *room) (string, error) {
	lastPost := map[int64]int64{}
	for _, m := range r.msgs {
		lastPost[m.UserID] = max(lastPost[m.UserID], m.Time.Unix())
	}
	out := []presentUser{}
	for _, u := range s.presentLocked(r) {
		out = append(out, presentUser{
			ID: u.ID, Name: u.Name, IsOwner: slices.Contains(r.owners, u.ID),
			IsModerator: u.Moderator, LastPost: lastPost[u.ID],
		})
	}
	data, err := json.Marshal(out)
	return string(data), err
}
