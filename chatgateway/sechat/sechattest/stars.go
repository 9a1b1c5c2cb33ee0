package sechattest

import (
	"net/http"
	"slices"
)

// TextPinNotAllowed answers a pin (owner-star) or star cancelling by
// someone who is neither an owner of the message's room nor a moderator.
// The real wording is not known.
const TextPinNotAllowed = "Only room owners can do that"

// starCount is what a message's .stars badge counts: everyone who starred
// or pinned it, each once.
func starCount(m *message) int {
	n := len(m.starredBy)
	for _, p := range m.pinnedBy {
		if !m.starredBy[p] {
			n++
		}
	}
	return n
}

// canPinLocked reports whether u may pin in room r: its owners and
// moderators may.
func (s *Server) canPinLocked(r *room, u *user) bool {
	return u.Moderator || slices.Contains(r.owners, u.ID)
}

// starredLocked sends event 6 (message starred) with the new counts, as
// the real server does after a star or pin changes.
func (s *Server) starredLocked(m *message) {
	r, u := s.rooms[m.RoomID], s.users[m.UserID]
	ev := s.nextEventLocked(6, r, u)
	ev.MessageID = m.ID
	ev.Content = ptr(renderContent(m.Text, s.partial))
	ev.MessageStars = starCount(m)
	ev.MessageOwnerStars = len(m.pinnedBy)
	m.lastEvent = ev.ID
	s.publishLocked(r, ev)
	s.notifyLocked()
}

// starAction answers POST /messages/<id>/<action> (form fkey): "ok" after
// f changed the message, 302 for an unknown message, the deleted text for
// a deleted one.
func (s *Server) starAction(w http.ResponseWriter, r *http.Request, f func(m *message, u *user) reply) {
	if !parsePostForm(w, r) {
		return
	}
	id, _ := pathID(r, "id")
	s.sessionPost(w, r, func(se *session) reply {
		m, ok := s.msgs[id]
		switch {
		case !ok:
			return reply{status: http.StatusFound}
		case m.Deleted:
			return reply{status: http.StatusOK, json: TextAlreadyDeleted}
		}
		rp := f(m, se.user)
		if rp.status == http.StatusOK {
			s.starredLocked(m)
		}
		return rp
	})
}

var okReply = reply{status: http.StatusOK, json: "ok"}

// handleStar: POST /messages/<id>/star toggles the user's star.
func (s *Server) handleStar(w http.ResponseWriter, r *http.Request) {
	s.starAction(w, r, func(m *message, u *user) reply {
		if m.starredBy[u.ID] {
			delete(m.starredBy, u.ID)
		} else {
			m.starredBy[u.ID] = true
		}
		return okReply
	})
}

// handleOwnerStar: POST /messages/<id>/owner-star toggles the user's pin;
// room owners and moderators only.
func (s *Server) handleOwnerStar(w http.ResponseWriter, r *http.Request) {
	s.starAction(w, r, func(m *message, u *user) reply {
		if !s.canPinLocked(s.rooms[m.RoomID], u) {
			return reply{status: http.StatusForbidden, text: TextPinNotAllowed}
		}
		if i := slices.Index(m.pinnedBy, u.ID); i >= 0 {
			m.pinnedBy = slices.Delete(m.pinnedBy, i, i+1)
		} else {
			m.pinnedBy = append(m.pinnedBy, u.ID)
		}
		return okReply
	})
}

// handleUnstar: POST /messages/<id>/unstar removes every star and pin;
// room owners and moderators only.
func (s *Server) handleUnstar(w http.ResponseWriter, r *http.Request) {
	s.starAction(w, r, func(m *message, u *user) reply {
		if !s.canPinLocked(s.rooms[m.RoomID], u) {
			return reply{status: http.StatusForbidden, text: TextPinNotAllowed}
		}
		clear(m.starredBy)
		m.pinnedBy = nil
		return okReply
	})
}
