// Package messages holds the data that flows through socketscience: the chat
// frame codec that SmokeDetector's SocketScience speaks, the reserved envelope
// key that Go nodes add, the Message a handler receives, and the structs that
// actors send each other. It does no I/O and starts no goroutines.
package messages
