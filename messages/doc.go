// Package messages holds the data that flows through socketscience: the chat
// frame codec that SmokeDetector's SocketScience speaks, with the Limits that
// bound what decoding a hostile frame may cost; the reserved envelope key
// that Go nodes add, and the HMAC signatures it can carry (EncodeSignedFrame,
// Frame.Verify); fragments, for frames longer than a chat server posts
// (Fragment, Reassembler); the Message a handler receives; and the structs
// that actors send each other. It does no I/O and starts no goroutines.
package messages
