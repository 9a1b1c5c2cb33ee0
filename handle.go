package socketscience

import (
	"context"

	"github.com/socketscience/socketscience/messages"
)

// Handle registers a callback that receives typ's data decoded into a T. A
// payload whose data does not decode into T counts as a handler error.
//
// The data is decoded as Message.Decode decodes it, by a
// messages.TypedDecoder made once for this registration: for a struct of
// strings, bools and numbers that is done without reflection.
func Handle[T any](n *Node, typ string, fn func(ctx context.Context, v T) error) (unregister func(), err error) {
	if fn == nil {
		return nil, ErrNilHandler
	}
	dec := messages.NewTypedDecoder[T]()
	return n.Register(typ, func(ctx context.Context, m Message) error {
		var v T
		if err := dec.Decode(m, &v); err != nil {
			return err
		}
		return fn(ctx, v)
	})
}
