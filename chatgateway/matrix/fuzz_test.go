package matrix_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/chatgateway/matrix"
)

const fuzzRoom = id.RoomID("!room:localhost")

// A timeline event, as a server or a hostile client shapes it, maps to a
// chat message only when it is a message with a string body in the room;
// the text is that body exactly, an edit carries its new body, and the ID
// is never zero.
func FuzzChatMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"m.room.message","event_id":"$a","sender":"@bot-a:localhost","room_id":"!room:localhost","origin_server_ts":1700000000000,"content":{"msgtype":"m.notice","body":".\n\u00020001gqRwaW5nonBv\u0003"}}`,
		`{"type":"m.room.message","event_id":"$b","sender":"@h:localhost","content":{"msgtype":"m.text","body":"!!/coffee"}}`,
		`{"type":"m.room.message","event_id":"$c","sender":"@h:localhost","content":{"msgtype":"m.text","body":"* fixed","m.new_content":{"msgtype":"m.text","body":"fixed"},"m.relates_to":{"rel_type":"m.replace","event_id":"$b"}}}`,
		`{"type":"m.room.message","event_id":"$d","sender":"@h:localhost","content":{"msgtype":"m.image","body":"cat.png","url":"mxc://x/y"}}`,
		`{"type":"m.room.message","event_id":"$e","sender":"@h:localhost","content":{}}`,
		`{"type":"m.room.message","event_id":"$f","sender":"@h:localhost","content":{"msgtype":"m.notice","body":7}}`,
		`{"type":"m.room.member","state_key":"@h:localhost","event_id":"$g","sender":"@h:localhost","content":{"membership":"join"}}`,
		`{"type":"m.room.message","event_id":"$h","sender":"@h:localhost","room_id":"!other:localhost","content":{"msgtype":"m.notice","body":"elsewhere"}}`,
		`{"type":"m.room.message","event_id":"$i","sender":"@h:localhost","unsigned":{"redacted_because":{}},"content":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev event.Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		m, ok := matrix.ChatMessage(&ev, fuzzRoom)
		if !ok {
			return
		}
		var raw struct {
			Content struct {
				Body       any `json:"body"`
				NewContent struct {
					Body any `json:"body"`
				} `json:"m.new_content"`
			} `json:"content"`
		}
		require.NoError(t, json.Unmarshal(data, &raw))
		assert.NotZero(t, m.ID)
		assert.Equal(t, ev.Sender.String(), m.Account)
		assert.Equal(t, ev.Type, event.EventMessage)
		assert.Nil(t, ev.StateKey)
		body := raw.Content.Body
		if m.Edited {
			body = raw.Content.NewContent.Body
		} else {
			assert.Equal(t, matrix.MessageID(ev.ID), m.ID)
		}
		s, isString := body.(string)
		require.True(t, isString, "body %v", body)
		assert.Equal(t, s, m.Text)
	})
}

// BodyLen is the length of the text as a JSON string in canonical JSON:
// encoding/json's, less what it spends on escaping U+2028 and U+2029,
// which canonical JSON leaves as they are.
func FuzzBodyLen(f *testing.F) {
	for _, seed := range []string{"", "plain", ".\n\x020001abc\x03", "\"\\\b\f\n\r\t\x00\x1f\x7f", "é✓🚀\u2028\u2029<>&"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		want := buf.Len() - 1 - 3*(strings.Count(s, "\u2028")+strings.Count(s, "\u2029"))
		assert.Equal(t, want, matrix.BodyLen(s))
	})
}
