package gateway

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/socketscience/socketscience/internal/protocol"
	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/supervisor/fakeclock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each reason an inbound message is not a frame to deliver, as the reader
// sees it.
func TestInboundCheck(t *testing.T) {
	const own, stranger = 1, 2
	secret := []byte("s3cret")
	clock := fakeclock.New(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	now := clock.Now().UnixMilli()
	sign := func(p messages.Payload, at int64, key []byte) string {
		f, err := messages.EncodeSignedFrame(p, &messages.Envelope{Node: "n", Seq: 1, Time: at}, "room", key)
		require.NoError(t, err)
		return f
	}
	plain, err := messages.Encode(messages.Payload{"t": 1})
	require.NoError(t, err)
	big := sign(messages.Payload{"t": strings.Repeat("x", 2000)}, now, secret)
	pieces, err := messages.Fragment(big, 500, messages.NewFragmentID(7))
	require.NoError(t, err)
	notFrame, err := messages.Fragment(strings.Repeat("not a frame ", 100), 500, messages.NewFragmentID(7))
	require.NoError(t, err)

	for _, c := range []struct {
		name   string
		secret []byte
		user   int64
		texts  []string // all but the last must be kept as fragments
		want   error    // nil: a frame
	}{
		{"plain chat", nil, stranger, []string{"!!/coffee"}, messages.ErrNotFrame},
		{"own frame", nil, own, []string{plain}, nil},
		{"stranger's frame", nil, stranger, []string{plain}, ErrUntrusted},
		// Trust is checked before anything from a stranger is decoded.
		{"stranger's bad base64", nil, stranger, []string{".\n\x021234!!\x03"}, ErrUntrusted},
		{"stranger's oversized frame", nil, stranger, []string{".\n\x021234" + strings.Repeat("A", 2<<20) + "\x03"}, ErrUntrusted},
		{"stranger's malformed frame", nil, stranger, []string{".\n\x02no digits\x03"}, ErrUntrusted},
		{"own malformed frame", nil, own, []string{".\n\x02no digits\x03"}, ErrBadFrame},
		{"frame behind U+200B and U+001C", nil, own, []string{"\u200b\x1c" + plain}, nil},
		{"bad base64", nil, own, []string{".\n\x021234!!\x03"}, messages.ErrBadBase64},
		{"too large", nil, own, []string{".\n\x021234" + strings.Repeat("A", 2<<20) + "\x03"}, messages.ErrTooLarge},
		{"signed", secret, own, []string{sign(messages.Payload{"t": 1}, now, secret)}, nil},
		{"unsigned", secret, own, []string{plain}, messages.ErrUnsigned},
		{"wrong key", secret, own, []string{sign(messages.Payload{"t": 1}, now, []byte("guess"))}, messages.ErrBadSignature},
		{"stale", secret, own, []string{sign(messages.Payload{"t": 1}, now-int64(time.Hour/time.Millisecond), secret)}, ErrStale},
		{"before the node started", secret, own, []string{sign(messages.Payload{"t": 1}, now-int64(2*time.Minute/time.Millisecond), secret)}, ErrStale},
		{"from the future", secret, own, []string{sign(messages.Payload{"t": 1}, now+int64(time.Hour/time.Millisecond), secret)}, ErrStale},
		{"fragments", secret, own, pieces, nil},
		{"stranger's fragment", nil, stranger, pieces[:1], ErrUntrusted},
		{"bad fragment", nil, own, []string{messages.FragmentPrefix + "zz 0/2 x\x03"}, messages.ErrBadFragment},
		{"conflicting fragment", nil, own, []string{pieces[0], pieces[0][:len(pieces[0])-2] + "Z\x03"}, messages.ErrFragmentConflict},
		{"fragments of no frame", nil, own, notFrame, messages.ErrBadFragment},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := inbound{secret: c.secret, skew: DefaultMaxClockSkew, clock: clock, start: clock.Now().Add(-time.Minute), reassembler: messages.NewReassembler(messages.ReassemblyLimits{})}
			var err error
			for i, text := range c.texts {
				_, err = in.check(messages.ChatMessage{ID: int64(i + 1), UserID: c.user, Text: text}, "room", trust{ids: []int64{own}})
				if i < len(c.texts)-1 {
					require.ErrorIs(t, err, errIncomplete, "piece %d", i)
				}
			}
			if c.want == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, c.want)
			}
		})
	}
}

// check hands the router an Inbound holding the chat message and the frame
// as messages.Split makes it, whether the frame fits the Inbound's own
// room or not, and signed frames verify from that room too.
func TestInboundCheckCarriesFrame(t *testing.T) {
	assert.Equal(t, uintptr(256), unsafe.Sizeof(inboundWith{}), "a size class of the allocator")
	clock := fakeclock.New(time.UnixMilli(1))
	secret := []byte("k")
	signed, err := messages.EncodeSignedFrame(messages.Payload{"ping": 1}, &messages.Envelope{Node: "n", Seq: 1, Time: 1}, "room", secret)
	require.NoError(t, err)
	for _, p := range []messages.Payload{
		{"beverage": map[string]any{"message_id": 1, "beverage_type": "coffee"}},
		{"a": 1, "b": "two"},
		{"blob": strings.Repeat("x", smallFrameLen)},
		{"blob": strings.Repeat("x", 3*smallFrameLen)},
	} {
		text, err := messages.Encode(p)
		require.NoError(t, err)
		for _, s := range []string{text, signed} {
			in := inbound{skew: DefaultMaxClockSkew, clock: clock, start: clock.Now(),
				reassembler: messages.NewReassembler(messages.ReassemblyLimits{})}
			if s == signed {
				in.secret = secret
			}
			msg := messages.ChatMessage{ID: 9, UserID: 1, UserName: "me", Text: s}
			got, err := in.check(msg, "room", trust{ids: []int64{1}})
			require.NoError(t, err)
			want, err := messages.Split(s)
			require.NoError(t, err)
			assert.Equal(t, protocol.RefTo(msg), got.Chat)
			assert.Equal(t, want, got.Frame)
		}
	}
}
