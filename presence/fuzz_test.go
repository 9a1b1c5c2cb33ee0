package presence_test

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/socketscience/socketscience/messages"
	"github.com/socketscience/socketscience/presence"
)

// FuzzRecord feeds arbitrary msgpack to the path a presence record takes
// (Message.Decode, then Core.Read): nothing panics, a record that check
// refuses changes nothing, and a stranger's record never makes this node
// active.
func FuzzRecord(f *testing.F) {
	for _, r := range []presence.Record{
		{V: 1, Kind: presence.KindHello, Node: "a", Inc: 1, Nonce: 1},
		{V: 1, Kind: presence.KindClaim, Node: "b", Inc: 2, Term: 1, Seq: 1},
		{V: 1, Kind: presence.KindClaim, Node: "b", Inc: 2, Term: 2, Ref: &presence.Ref{Term: 1, Holder: "b", Inc: 2}},
		{V: 1, Kind: presence.KindRenew, Node: "b", Inc: 2, Term: 1, Seq: 3, Acks: []presence.Ack{{Node: "me", Inc: 7, Nonce: 1}}},
		{V: 1, Kind: presence.KindResign, Node: "b", Inc: 2, Term: 1, Seq: 4, To: "me"},
		{V: 1, Kind: presence.KindAsk, Node: "c", Inc: 3, To: "b"},
	} {
		b, err := msgpack.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc0})
	f.Fuzz(func(t *testing.T, data []byte) {
		now := time.Unix(1700000000, 0)
		core, err := presence.NewCore(presence.Self{ID: "me", Inc: 7}, presence.FastTimings(), now)
		if err != nil {
			t.Fatal(err)
		}
		core.Connect(now)
		var r presence.Record
		if (messages.Message{Type: presence.RecordType, Data: data}).Decode(&r) != nil {
			return
		}
		if r.Node == "me" {
			return // this node's own records are trusted by construction
		}
		for range 3 {
			now = now.Add(time.Second)
			if _, err := core.Read(now, r); err != nil {
				if len(core.Members()) != 0 {
					t.Fatalf("a refused record (%v) added a member", err)
				}
				return
			}
			core.Tick(now)
		}
		if core.Active() {
			t.Fatalf("a stranger's record %+v made this node active", r)
		}
	})
}
