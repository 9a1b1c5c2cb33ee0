package messages

import "errors"

// Errors returned by the codec, signatures and fragments. Every error the
// package returns wraps exactly one of these (errors.Is), with detail such
// as the byte offset appended, so that a receiver can count dropped frames
// by reason. (ErrTooDeep is the one refinement: it is also ErrBadMsgpack.)
var (
	// ErrNotFrame: after stripping, the text is not ".\n\x02", four ASCII
	// digits, some base64 and "\x03". Most chat messages are not frames;
	// receivers should ignore this error quietly.
	ErrNotFrame = errors.New("messages: not a frame")
	// ErrBadBase64: the frame's body is not standard, padded base64.
	ErrBadBase64 = errors.New("messages: bad base64")
	// ErrBadMsgpack: the body is truncated or invalid msgpack, has bytes
	// after the top-level value, holds a str that is not UTF-8, or holds an
	// ext type other than the timestamp (-1); or it nests too deep (see
	// ErrTooDeep).
	ErrBadMsgpack = errors.New("messages: bad msgpack")
	// ErrTooDeep: containers nest deeper than Limits.MaxDepth. It is also
	// an ErrBadMsgpack (errors.Is matches both), as depth errors were before
	// the limit could be set, so counting them under either works.
	ErrTooDeep error = &subError{"messages: nested too deep", ErrBadMsgpack}
	// ErrNotMap: the top-level value is not a map.
	ErrNotMap = errors.New("messages: payload is not a map")
	// ErrNonStringKey: a map key, at any level, is not a msgpack str.
	ErrNonStringKey = errors.New("messages: map key is not a string")
	// ErrTooLarge: the frame is over one of its Limits other than
	// MaxDepth: the text is too long, or a map, array, str or bin holds too
	// much, or decoding it would take too much memory. The error is a
	// *LimitError naming the limit. Fragment also returns it when a frame
	// needs more than DefaultMaxFragments pieces or maxLen cannot hold a
	// fragment's header.
	ErrTooLarge = errors.New("messages: frame too large")
	// ErrBadEnvelope: the value under EnvelopeKey is not a map, or one of
	// its known fields has the wrong type.
	ErrBadEnvelope = errors.New("messages: bad envelope")
	// ErrReservedKey: a payload passed to Encode uses EnvelopeKey.
	ErrReservedKey = errors.New("messages: reserved key " + EnvelopeKey)
	// ErrEmptyType: a payload has the empty string as a top-level key.
	ErrEmptyType = errors.New("messages: empty type")

	// ErrEmptySecret: a frame is signed or verified with an empty secret,
	// which would make every signature forgeable.
	ErrEmptySecret = errors.New("messages: empty signing secret")
	// ErrUnsigned: Verify found no signature: the frame has no envelope,
	// or its envelope no Sig.
	ErrUnsigned = errors.New("messages: frame is not signed")
	// ErrBadSignature: the frame's signature does not match its contents
	// under the secret (or the frame lists a type twice, which a signer
	// never does).
	ErrBadSignature = errors.New("messages: bad signature")

	// ErrBadFragment: a fragment's header is malformed, its index is not
	// below its count, its count is 0 or over MaxFragments, or its count
	// differs from the count of earlier pieces of the same payload.
	ErrBadFragment = errors.New("messages: bad fragment")
	// ErrFragmentConflict: a piece arrived for an index already held, with
	// a different chunk; the whole payload was dropped.
	ErrFragmentConflict = errors.New("messages: conflicting fragment")
	// ErrFragmentLimit: keeping the piece would exceed a ReassemblyLimits
	// bound (bytes per sender, bytes in all, or incomplete payloads per
	// sender); the piece was dropped.
	ErrFragmentLimit = errors.New("messages: fragment limit")
)

// subError is a sentinel that refines another: errors.Is matches both.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }
