package socketscience_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/socketscience/socketscience"
	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

// feedConn is a Conn whose Read returns the frames the benchmark feeds it,
// so the benchmark measures the node, not a chat server.
type feedConn struct {
	frames chan string
	closed chan struct{}
	once   sync.Once
	id     int64 // the last chat message id
}

// Read returns the frames as posted by the node's own account (the one it
// trusts), each as a new chat message (or the node drops it as a replay).
func (c *feedConn) Read() (messages.ChatMessage, error) {
	select {
	case s := <-c.frames:
		c.id++
		return messages.ChatMessage{ID: c.id, UserID: 1, UserName: "bot", Text: s}, nil
	case <-c.closed:
		return messages.ChatMessage{}, chatgateway.ErrConnClosed
	}
}
func (c *feedConn) Post(context.Context, string) (int64, error) { return 1, nil }
func (c *feedConn) Identity() chatgateway.Identity              { return chatgateway.Identity{UserID: 1} }
func (c *feedConn) Limits() chatgateway.Limits                  { return chatgateway.Limits{} }
func (c *feedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

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

// benchInbound runs a node reading from a feedConn: register adds its
// callbacks, each of which calls done once per payload handled; the
// benchmark feeds b.N frames, cycling through frames, and waits for
// perFrame*b.N calls.
func benchInbound(b *testing.B, frames []string, perFrame int, register func(n *socketscience.Node, done func()) error) {
	conn := &feedConn{frames: make(chan string, 1024), closed: make(chan struct{})}
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
	for i := range b.N {
		conn.frames <- frames[i%len(frames)]
	}
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
