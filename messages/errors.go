package messages

import "errors"

// Errors returned by the codec. Every error it returns wraps exactly one of
// these (errors.Is), with detail such as the byte offset appended, so that a
// receiver can count dropped frames by reason.
var (
	// ErrNotFrame: after stripping, the text is not ".\n\x02", four ASCII
	// digits, some base64 and "\x03". Most chat messages are not frames;
	// receivers should ignore this error quietly.
	ErrNotFrame = errors.New("messages: not a frame")
	// ErrBadBase64: the frame's body is not standard, padded base64.
	ErrBadBase64 = errors.New("messages: bad base64")
	// ErrBadMsgpack: the body is truncated or invalid msgpack, has bytes
	// after the top-level value, nests deeper than MaxDepth, holds a str
	// that is not UTF-8, or holds an ext type other than the timestamp (-1).
	ErrBadMsgpack = errors.New("messages: bad msgpack")
	// ErrNotMap: the top-level value is not a map.
	ErrNotMap = errors.New("messages: payload is not a map")
	// ErrNonStringKey: a map key, at any level, is not a msgpack str.
	ErrNonStringKey = errors.New("messages: map key is not a string")
	// ErrTooLarge: the frame text is longer than the limit.
	ErrTooLarge = errors.New("messages: frame too large")
	// ErrBadEnvelope: the value under EnvelopeKey is not a map, or one of
	// its known fields has the wrong type.
	ErrBadEnvelope = errors.New("messages: bad envelope")
	// ErrReservedKey: a payload passed to Encode uses EnvelopeKey.
	ErrReservedKey = errors.New("messages: reserved key " + EnvelopeKey)
	// ErrEmptyType: a payload has the empty string as a top-level key.
	ErrEmptyType = errors.New("messages: empty type")
)
