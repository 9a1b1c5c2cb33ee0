package matrix_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/chatgateway/matrix"
	"github.com/socketscience/socketscience/internal/syncbuf"
	"github.com/socketscience/socketscience/messages"
)

// Two connections in one room, joined by alias: identities are the user
// ids the server asserts and the room's id; a post comes back to both,
// text exact, as an m.notice; what cannot be posted exactly is refused.
func TestConnPostAndRead(t *testing.T) {
	needServer(t)
	room, alias := newRoom(t)
	a := dial(t, newDialer(t, srv.URL(), "bot-a", alias))
	b := dial(t, newDialer(t, srv.URL(), "bot-b", string(room)))
	want := chatgateway.Identity{UserID: a.Identity().UserID, UserName: "@bot-a:localhost", Account: "@bot-a:localhost",
		Room: "matrix://localhost/" + string(room)}
	assert.Equal(t, want, a.Identity())
	assert.Equal(t, want.Room, b.Identity().Room, "the same room name for every member, by alias or id")
	assert.Equal(t, "@bot-b:localhost", b.Identity().Account)
	assert.Equal(t, matrix.MaxBodyLen-2-64, a.Limits().MaxMessageLen)
	ra, rb := read(t, a), read(t, b)

	frame, err := messages.Encode(messages.Payload{"ping": "pong"})
	require.NoError(t, err)
	tricky := "quotes \" back\\slash \x01\x7f tab\t é ✓ 🚀 \u2028 <b>&amp;</b>"
	for _, text := range []string{frame, tricky} {
		mid, err := a.Post(context.Background(), text)
		require.NoError(t, err)
		for _, r := range []*reading{ra, rb} {
			m := r.next(t, func(s string) bool { return s == text })
			assert.Equal(t, mid, m.ID, "Post's ID is the event's")
			assert.Equal(t, "@bot-a:localhost", m.Account)
			assert.WithinDuration(t, time.Now(), m.Time, time.Minute)
		}
	}
	// The events are notices.
	cli := login(t, "bot-c")
	_, err = cli.JoinRoom(context.Background(), string(room), nil)
	require.NoError(t, err)
	msgs, err := cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 10)
	require.NoError(t, err)
	notices := 0
	for _, ev := range msgs.Chunk {
		if ev.Type == event.EventMessage {
			require.NoError(t, ev.Content.ParseRaw(ev.Type))
			assert.Equal(t, event.MsgNotice, ev.Content.AsMessage().MsgType)
			notices++
		}
	}
	assert.Equal(t, 2, notices)

	for text, want := range map[string]error{"": matrix.ErrEmptyMessage, "bad \xff utf-8": matrix.ErrInvalidUTF8,
		strings.Repeat("\x01", a.Limits().MaxMessageLen): chatgateway.ErrMessageTooLong} {
		_, err := a.Post(context.Background(), text)
		assert.ErrorIs(t, err, want)
		assert.ErrorIs(t, err, chatgateway.ErrRejected)
	}
	require.NoError(t, a.Close())
	_, err = a.Post(context.Background(), "late")
	assert.ErrorIs(t, err, chatgateway.ErrConnClosed)
	assert.ErrorIs(t, ra.failed(t, wait), chatgateway.ErrConnClosed, "Close unblocks a Read in its long poll")
}

// The event size limit, measured: the largest body Dendrite takes, found
// by bisection, leaves EventReserve enough room; a text of MaxMessageLen
// bytes with a frame's control characters posts, and so does a body of
// exactly MaxBodyLen.
func TestEventSize(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	cli := login(t, "bot-a")
	lo, hi := matrix.MaxEventSize/2, matrix.MaxEventSize
	for lo < hi {
		mid := (lo + hi + 1) / 2
		_, err := cli.SendMessageEvent(context.Background(), room, event.EventMessage,
			&event.MessageEventContent{MsgType: event.MsgNotice, Body: strings.Repeat("x", mid)})
		if err == nil {
			lo = mid
		} else {
			var h mautrix.HTTPError
			require.ErrorAs(t, err, &h)
			require.True(t, h.IsStatus(413), "only size refuses: %v", err)
			hi = mid - 1
		}
	}
	overhead := matrix.MaxEventSize - matrix.BodyLen(strings.Repeat("x", lo))
	t.Logf("largest body %d bytes: the event's own fields take %d bytes (reserve %d)", lo, overhead, matrix.EventReserve)
	assert.Less(t, overhead, matrix.EventReserve/2, "the reserve covers twice what a plain event needs")

	c := dial(t, newDialer(t, srv.URL(), "bot-a", string(room)))
	n := c.Limits().MaxMessageLen
	full := messages.FramePrefix + "0001" + strings.Repeat("A", n-len(messages.FramePrefix)-5) + "\x03"
	require.Len(t, full, n)
	_, err := c.Post(context.Background(), full)
	require.NoError(t, err)
	_, err = c.Post(context.Background(), strings.Repeat("y", matrix.MaxBodyLen-2))
	require.NoError(t, err)
}

// A connection closed while messages are said resumes on the next one from
// where it stopped: nothing missed, nothing twice. With a timeline limit
// of 3 and 12 messages in between, the sync is "limited" and the gap is
// fetched with /messages, in order, after waiting out an M_LIMIT_EXCEEDED.
func TestResumeAndGap(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	var logs syncbuf.Buffer
	log := zerolog.New(&logs)
	p := newProxy(t, srv.URL())
	p.set(func(p *proxy) { p.refuseMsg = 1 }) // /messages is rate limited: Read waits and asks again
	d := newDialer(t, p.URL(), "bot-b", string(room), func(c *matrix.Config) { c.TimelineLimit, c.Logger = 3, &log })
	b := dial(t, d)
	a := dial(t, newDialer(t, srv.URL(), "bot-a", string(room)))
	post := func(text string) {
		_, err := a.Post(context.Background(), text)
		require.NoError(t, err)
	}
	post("before")
	rb := read(t, b)
	assert.Equal(t, "before", rb.next(t, anyText).Text)
	b.Close()
	require.ErrorIs(t, rb.failed(t, wait), chatgateway.ErrConnClosed)
	for i := range 12 {
		post(fmt.Sprintf("while away %d", i))
	}
	b2 := dial(t, d)
	rb2 := read(t, b2)
	for i := range 12 {
		assert.Equal(t, fmt.Sprintf("while away %d", i), rb2.next(t, anyText).Text)
	}
	post("after")
	assert.Equal(t, "after", rb2.next(t, anyText).Text, "nothing twice")
	// 12 messages, 3 in the timeline: the gap holds the rest, or fewer when
	// Dendrite's sync stream had not caught up with the last sends yet.
	gap := regexp.MustCompile(`"count":(\d+),"message":"gap filled"`).FindStringSubmatch(logs.String())
	require.NotNil(t, gap, logs.String())
	n, err := strconv.Atoi(gap[1])
	require.NoError(t, err)
	assert.Positive(t, n)
	assert.Equal(t, int64(1), p.limited.Load())
	assert.Equal(t, 1, strings.Count(logs.String(), `"message":"logged in"`), "the redial kept the token")
}

// M_UNKNOWN_TOKEN: with a password the next Dial logs in again and the
// connection works; with an access token alone the refusal is permanent.
func TestUnknownToken(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	other := login(t, "bot-c")
	d := newDialer(t, srv.URL(), "bot-c", string(room))
	c := dial(t, d)
	_, err := other.LogoutAll(context.Background()) // every token of bot-c's
	require.NoError(t, err)
	_, err = c.Post(context.Background(), "refused")
	require.Error(t, err)
	assert.NotErrorIs(t, err, chatgateway.ErrPermanent)
	c2 := dial(t, d)
	_, err = c2.Post(context.Background(), "after logging in again")
	require.NoError(t, err)

	tokenOnly := login(t, "bot-c")
	d2 := newDialer(t, srv.URL(), "", string(room), func(c *matrix.Config) {
		c.UserID, c.Password, c.AccessToken = "", "", tokenOnly.AccessToken
	})
	c3 := dial(t, d2)
	assert.Equal(t, "@bot-c:localhost", c3.Identity().Account, "the server says whose token it is")
	_, err = tokenOnly.Logout(context.Background())
	require.NoError(t, err)
	_, err = c3.Post(context.Background(), "refused")
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.ErrorIs(t, err, matrix.ErrAuth)
	_, err = d2.Dial(context.Background())
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
}

// M_FORBIDDEN is permanent: joining an invite-only room, and a wrong
// password.
func TestForbidden(t *testing.T) {
	needServer(t)
	cli := login(t, "bot-a")
	resp, err := cli.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{Preset: "private_chat"})
	require.NoError(t, err)
	_, err = newDialer(t, srv.URL(), "bot-b", string(resp.RoomID)).Dial(context.Background())
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.ErrorIs(t, err, matrix.ErrForbidden)
	_, err = newDialer(t, srv.URL(), "bot-b", string(resp.RoomID), func(c *matrix.Config) { c.Password = "wrong" }).Dial(context.Background())
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.ErrorIs(t, err, matrix.ErrAuth)
}

// A kicked connection's Read fails with ErrLeft and the next Dial joins
// again; a banned account's Dial fails for good.
func TestKickAndBan(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	admin := login(t, "bot-a")
	d := newDialer(t, srv.URL(), "bot-b", string(room))
	r := read(t, dial(t, d))
	_, err := admin.KickUser(context.Background(), room, &mautrix.ReqKickUser{UserID: "@bot-b:localhost", Reason: "test"})
	require.NoError(t, err)
	assert.ErrorIs(t, r.failed(t, wait), matrix.ErrLeft)
	r = read(t, dial(t, d))
	_, err = admin.BanUser(context.Background(), room, &mautrix.ReqBanUser{UserID: "@bot-b:localhost", Reason: "test"})
	require.NoError(t, err)
	assert.ErrorIs(t, r.failed(t, wait), matrix.ErrLeft)
	_, err = d.Dial(context.Background())
	assert.ErrorIs(t, err, chatgateway.ErrPermanent)
	assert.ErrorIs(t, err, matrix.ErrForbidden)
}

// Config.DeviceID is reused by every password login: one device, however
// often the bot starts.
func TestDeviceReuse(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	for range 2 {
		c := dial(t, newDialer(t, srv.URL(), "bot-c", string(room), func(c *matrix.Config) { c.DeviceID = "SMOKEY" }))
		require.NoError(t, c.Close())
	}
	devs, err := login(t, "bot-c").GetDevicesInfo(context.Background())
	require.NoError(t, err)
	n := 0
	for _, dev := range devs.Devices {
		if dev.DeviceID == "SMOKEY" {
			n++
			assert.Equal(t, matrix.DefaultDeviceName, dev.DisplayName)
		}
	}
	assert.Equal(t, 1, n)
}

// A human's edit (m.replace) is read as Edited, with the edited message's
// ID and the new text.
func TestEdit(t *testing.T) {
	needServer(t)
	room, _ := newRoom(t)
	r := read(t, dial(t, newDialer(t, srv.URL(), "bot-a", string(room))))
	human := joined(t, "bot-c", room)
	orig, err := human.SendMessageEvent(context.Background(), room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "!!/cofee"})
	require.NoError(t, err)
	_, err = human.SendMessageEvent(context.Background(), room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "* !!/coffee",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "!!/coffee"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": orig.EventID}})
	require.NoError(t, err)
	first := r.next(t, anyText)
	assert.Equal(t, "!!/cofee", first.Text)
	assert.False(t, first.Edited)
	edit := r.next(t, anyText)
	assert.Equal(t, messages.ChatMessage{ID: first.ID, UserID: first.UserID, UserName: "@bot-c:localhost", Account: "@bot-c:localhost",
		Text: "!!/coffee", Edited: true, Time: edit.Time}, edit)
}
