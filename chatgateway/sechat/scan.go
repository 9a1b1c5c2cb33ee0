package sechat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scanRoomEvents is roomEvents for the frames a room's socket brings, read
// in one pass over the bytes instead of by reflection: decoding frames with
// encoding/json was 7% of a node's CPU end to end (three members read every
// frame), and this takes a quarter of its time (2.3 µs against 9.4 for a
// frame of one event).
//
// It handles the usual shape only: an object of rooms, each an object with
// "e" (an array of event objects), "t" and "d" (integers), keys in ASCII
// and unescaped, each key once per object, numbers that are integers
// (int64), strings, and no null but a missing content. On anything else,
// invalid JSON included, it reports false, and the caller decodes the frame
// with encoding/json, which then decides; when it reports true, the result
// is what encoding/json's decode gives (FuzzRoomEvents checks the two
// against each other).
func scanRoomEvents(frame []byte, room int64) (events []event, cur cursor, ok bool) {
	s := scanner{b: frame}
	key := "r" + strconv.FormatInt(room, 10)
	if !s.next('{') {
		return nil, cursor{}, false
	}
	var keys [][]byte // top-level keys seen, to refuse repeats
	var mine bool
	var own cursor
	for !s.next('}') {
		if len(keys) > 0 && !s.next(',') {
			return nil, cursor{}, false
		}
		k, ok := s.key()
		if !ok || len(keys) == maxScanRooms || containsKey(keys, k) {
			return nil, cursor{}, false
		}
		keys = append(keys, k)
		evs, c, ok := s.roomBody(string(k) == key)
		if !ok {
			return nil, cursor{}, false
		}
		if c.T > 0 && cur.T <= 0 { // any room's cursor counts, as in roomEvents
			cur = c
		}
		if string(k) == key {
			events, own, mine = evs, c, true
		}
	}
	if s.space(); s.i != len(s.b) {
		return nil, cursor{}, false
	}
	if !mine {
		return nil, cur, true
	}
	if own.T > 0 {
		cur = own
	}
	var seen eventIDs
	kept := events[:0]
	for _, e := range events {
		if keepEvent(e, room, &seen) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	return kept, cur, true
}

// maxScanRooms is how many rooms' entries a frame may have for
// scanRoomEvents (a real one has one or two); more go to encoding/json.
const maxScanRooms = 8

// containsKey reports whether keys holds k.
func containsKey(keys [][]byte, k []byte) bool {
	for _, y := range keys {
		if string(y) == string(k) {
			return true
		}
	}
	return false
}

// scanner walks a JSON text, checking what it reads.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c, after whitespace, if it comes next.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek is the next byte after whitespace, or 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// key reads an object key and its colon. Only plain ASCII keys (no escape)
// are taken: encoding/json matches struct fields by Unicode case folding
// too, which this scan does not do.
func (s *scanner) key() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			k := s.b[start:s.i]
			s.i++
			return k, s.next(':')
		case c == '\\' || c >= utf8.RuneSelf || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// known returns which of fields (lower-case names) the ASCII key k names,
// or -1 for none; a k that differs from one of them only by case, which
// encoding/json would take for it, is refused (ok false).
func known(k []byte, fields []string) (field int, ok bool) {
	for i, f := range fields {
		if string(k) == f {
			return i, true
		}
		if len(k) == len(f) && foldsTo(k, f) {
			return -1, false
		}
	}
	return -1, true
}

// foldsTo reports whether the ASCII k, lower-cased, is f.
func foldsTo(k []byte, f string) bool {
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != f[i] {
			return false
		}
	}
	return true
}

// roomBody reads one room's entry: its events, when want, and its cursor.
func (s *scanner) roomBody(want bool) (events []event, c cursor, ok bool) {
	if !s.next('{') {
		return nil, cursor{}, false
	}
	var seen [3]bool
	first := true
	for !s.next('}') {
		if !first && !s.next(',') {
			return nil, cursor{}, false
		}
		first = false
		k, ok := s.key()
		if !ok {
			return nil, cursor{}, false
		}
		f, ok := known(k, roomFields)
		switch {
		case !ok:
			return nil, cursor{}, false
		case f < 0:
			if !s.skip() {
				return nil, cursor{}, false
			}
			continue
		case seen[f]:
			return nil, cursor{}, false
		}
		seen[f] = true
		switch f {
		case 0:
			events, ok = s.events(want)
		case 1:
			c.T, ok = s.integer()
		case 2:
			var d int64
			if d, ok = s.integer(); ok {
				c.D = &d
			}
		}
		if !ok {
			return nil, cursor{}, false
		}
	}
	return events, c, true
}

// roomFields are a room entry's JSON names: events, and the cursor's.
var roomFields = []string{"e", "t", "d"}

// events reads an array of events, keeping them when want.
func (s *scanner) events(want bool) ([]event, bool) {
	if !s.next('[') {
		return nil, false
	}
	evs := []event{} // an empty array decodes to an empty slice
	for !s.next(']') {
		if len(evs) > 0 && !s.next(',') {
			return nil, false
		}
		e, ok := s.event()
		if !ok {
			return nil, false
		}
		evs = append(evs, e)
	}
	if !want {
		return nil, true
	}
	return evs, true
}

// eventFields are the event's JSON names, as its struct tags give them.
var eventFields = []string{"event_type", "time_stamp", "id", "user_id", "user_name", "room_id", "message_id", "content"}

// event reads one event object.
func (s *scanner) event() (e event, ok bool) {
	if !s.next('{') {
		return event{}, false
	}
	var seen [8]bool
	first := true
	for !s.next('}') {
		if !first && !s.next(',') {
			return event{}, false
		}
		first = false
		k, ok := s.key()
		if !ok {
			return event{}, false
		}
		f, ok := known(k, eventFields)
		switch {
		case !ok:
			return event{}, false
		case f < 0:
			if !s.skip() {
				return event{}, false
			}
			continue
		case seen[f]:
			return event{}, false
		}
		seen[f] = true
		switch eventFields[f] {
		case "user_name":
			e.UserName, ok = s.str()
		case "content":
			var v string
			if v, ok = s.str(); ok {
				e.Content = &v
			}
		default:
			var v int64
			v, ok = s.integer()
			switch eventFields[f] {
			case "event_type":
				e.EventType = int(v)
				ok = ok && int64(e.EventType) == v // encoding/json refuses what overflows an int
			case "time_stamp":
				e.TimeStamp = v
			case "id":
				e.ID = v
			case "user_id":
				e.UserID = v
			case "room_id":
				e.RoomID = v
			case "message_id":
				e.MessageID = v
			}
		}
		if !ok {
			return event{}, false
		}
	}
	return e, true
}

// integer reads a number that is an integer in int64's range, as
// encoding/json takes into an integer field: digits with an optional
// minus, no leading zero, no fraction or exponent.
func (s *scanner) integer() (int64, bool) {
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i > digits+1) {
		return 0, false
	}
	if s.i < len(s.b) {
		if c := s.b[s.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return v, err == nil
}

// str reads a string. One with escapes or bytes past ASCII is decoded by
// encoding/json, whose handling of invalid UTF-8 and lone surrogates it
// keeps; a frame's content (escaped control characters) takes the short
// way of decodeEscapes when it can.
func (s *scanner) str() (string, bool) {
	if !s.next('"') {
		return "", false
	}
	start := s.i
	escaped, high, ok := s.stringBody()
	if !ok {
		return "", false
	}
	raw := s.b[start : s.i-1]
	if !escaped && (!high || utf8.Valid(raw)) {
		return string(raw), true
	}
	if !high {
		if v, ok := decodeEscapes(raw); ok {
			return v, true
		}
	}
	var v string
	err := json.Unmarshal(s.b[start-1:s.i], &v)
	return v, err == nil
}

// stringBody passes over the rest of a string after its opening quote,
// the closing one included, checking that it is valid JSON, and reports
// whether it has escapes and bytes past ASCII.
func (s *scanner) stringBody() (escaped, high, ok bool) {
	for s.i < len(s.b) {
		c := s.b[s.i]
		s.i++
		switch {
		case c == '"':
			return escaped, high, true
		case c < 0x20:
			return false, false, false
		case c >= utf8.RuneSelf:
			high = true
		case c == '\\':
			escaped = true
			if s.i >= len(s.b) {
				return false, false, false
			}
			e := s.b[s.i]
			s.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if s.i+4 > len(s.b) {
					return false, false, false
				}
				for _, h := range s.b[s.i : s.i+4] {
					if !isHex(h) {
						return false, false, false
					}
				}
				s.i += 4
			default:
				return false, false, false
			}
		}
	}
	return false, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// decodeEscapes decodes the body of a valid JSON string in ASCII with
// escapes in it, unless one is a \u escape of a surrogate (ok false),
// which is left to encoding/json.
func decodeEscapes(raw []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			b.Write(raw[i:])
			break
		}
		b.Write(raw[i : i+j])
		i += j + 1
		switch raw[i] {
		case '"', '\\', '/':
			b.WriteByte(raw[i])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 32)
			if err != nil || (r >= 0xd800 && r < 0xe000) {
				return "", false
			}
			b.WriteRune(rune(r))
			i += 4
		default:
			return "", false
		}
	}
	return b.String(), true
}

// maxSkipDepth is how deeply nested a value the scan passes over may be;
// a deeper one goes to encoding/json.
const maxSkipDepth = 16

// skip passes over one value, checking that it is valid JSON.
func (s *scanner) skip() bool { return s.skipDepth(0) }

func (s *scanner) skipDepth(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	switch s.peek() {
	case '"':
		s.i++
		_, _, ok := s.stringBody()
		return ok
	case '{':
		s.i++
		for first := true; !s.next('}'); first = false {
			if !first && !s.next(',') {
				return false
			}
			if !s.next('"') {
				return false
			}
			if _, _, ok := s.stringBody(); !ok || !s.next(':') || !s.skipDepth(depth+1) {
				return false
			}
		}
		return true
	case '[':
		s.i++
		for first := true; !s.next(']'); first = false {
			if !first && !s.next(',') {
				return false
			}
			if !s.skipDepth(depth + 1) {
				return false
			}
		}
		return true
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		return false
	}
	s.i += len(lit)
	return true
}

// number passes over a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits passes over decimal digits and says how many.
func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
