// Package socketscience lets the instances of a chat bot send typed data to
// each other through a chat room they already share, so that no host opens a
// port. It speaks the frame format of SmokeDetector's SocketScience, so Go and
// Python instances in one room understand each other.
//
// A Node joins a room through a chatgateway.Dialer. Send posts a payload, a
// map whose top-level keys are message types; Register (or the typed Handle)
// subscribes a callback to one type. Each type is handled by its own actor,
// so a slow or panicking callback delays or breaks only its own type, and
// the connection is restarted with exponential backoff when it fails.
//
//	node, err := socketscience.New(dialer, socketscience.WithLogger(log))
//	...
//	socketscience.Handle(node, "beverage", func(ctx context.Context, b Beverage) error {
//		return serve(b)
//	})
//	err = node.Send(ctx, socketscience.Payload{"beverage": Beverage{Type: "coffee"}})
//	...
//	err = node.Close(ctx) // posts what is queued, then stops every goroutine
package socketscience
