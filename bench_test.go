package socketscience_test

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/internal/replayconn"
	"github.com/socketscience/socketscience/messages"
)

type vector struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

func loadVectors(b *testing.B) []vector {
	raw, err := os.ReadFile("messages/testdata/smokey-vectors.json")
	if err != nil {
		b.Fatal(err)
	}
	var file struct{ Vectors []vector }
	if err := json.Unmarshal(raw, &file); err != nil {
		b.Fatal(err)
	}
	return file.Vectors
}

// benchInbound runs a node reading from a replayconn: register adds its
// callbacks, each of which calls done once per payload handled; the
// benchmark lets the connection read b.N frames, cycling through frames,
// and waits for perFrame*b.N calls.
func benchInbound(b *testing.B, frames []string, perFrame int, register func(n *socketscience.Node, done func()) error) {
	// Frames already read, as the node's own account's posts.
	conn := replayconn.New(chatgateway.Identity{UserID: 1, UserName: "bot"}, frames)
	n, err := socketscience.New(chatgateway.DialerFunc(func(context.Context) (chatgateway.Conn, error) { return conn, nil }),
		socketscience.WithMaxPending(1<<30))
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	var calls atomic.Int64
	all := make(chan struct{})
	want := int64(b.N * perFrame)
	if err := register(n, func() {
		if calls.Add(1) == want {
			close(all)
		}
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	conn.Release(b.N)
	<-all
	b.StopTimer()
}

// BenchmarkInboundDispatch measures one frame's whole way in: read from
// the connection, split by type, routed, and every type's callback called.
func BenchmarkInboundDispatch(b *testing.B) {
	for _, v := range loadVectors(b) {
		f, err := messages.Split(v.Content)
		if err != nil || len(f.Types) == 0 {
			continue
		}
		b.Run(v.Name, func(b *testing.B) {
			benchInbound(b, []string{v.Content}, len(f.Types), func(n *socketscience.Node, done func()) error {
				for _, t := range f.Types {
					if _, err := n.Register(t.Type, func(context.Context, socketscience.Message) error { done(); return nil }); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
}

// beverage is what a typed handler decodes a "beverage" payload into, as
// README's example declares it.
type beverage struct {
	MessageID    int64  `json:"message_id"`
	BeverageType string `json:"beverage_type"`
	Location     string `json:"location"`
}

// BenchmarkInboundTyped measures one frame's whole way in to a typed
// handler: 1000 distinct beverage frames, each read, split, routed and
// decoded into a struct by Handle[T].
func BenchmarkInboundTyped(b *testing.B) {
	frames := make([]string, 1000)
	for i := range frames {
		var err error
		frames[i], err = messages.Encode(messages.Payload{"beverage": map[string]any{
			"message_id": 44402065 + i, "beverage_type": "coffee", "location": "SmokeDetector/ny-bot-01/3f2a9c1",
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	benchInbound(b, frames, 1, func(n *socketscience.Node, done func()) error {
		_, err := socketscience.Handle(n, "beverage", func(_ context.Context, v beverage) error {
			if v.BeverageType != "coffee" {
				b.Errorf("decoded %+v", v)
			}
			done()
			return nil
		})
		return err
	})
}
