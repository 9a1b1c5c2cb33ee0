// Package messages holds the data that flows through socketscience: the chat
// frame codec that SmokeDetector's SocketScience speaks, with the Limits that
// bound what decoding a hostile frame may cost; the reserved envelope key
// that Go nodes add, and the HMAC signatures it can carry (EncodeSignedFrame,
// Frame.Verify); fragments, for frames longer than a chat server posts
// (Fragment, Reassembler); the ChatMessage an adapter reads; and the
// Message a handler receives. It is a leaf: it does no I/O, starts no
// goroutines and imports no actor runtime.
package messages
