package messages

import (
	"encoding/base64"
	"fmt"
	"unsafe"
)

// A frame's base64 is decoded by decodeBase64: a table lookup per
// character for the well-formed base64 that a frame holds, and
// encoding/base64 for anything else (CR or LF, a stray character, a bad
// length, misplaced padding), so that the result and every error are
// exactly encoding/base64's. encoding/base64's own loop costs a small
// frame's split about a quarter more.

// b64Invalid marks a byte outside the standard alphabet in b64Table.
const b64Invalid = 0xff

// b64Table is each byte's 6-bit value in the standard alphabet.
var b64Table = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = b64Invalid
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes body into dst, which must have room for
// base64.StdEncoding.DecodedLen(len(body)) bytes, and returns the bytes.
// Go's StdEncoding, like Python's b64decode, needs the padding and skips
// CR and LF; unlike Python it rejects other stray characters, which only a
// mangled message would hold.
func decodeBase64(dst []byte, body string) ([]byte, error) {
	if n, ok := decodeQuanta(dst, body); ok {
		return dst[:n], nil
	}
	// The decoder only reads src, so viewing the string's bytes in place
	// is safe and saves copying the whole body.
	src := unsafe.Slice(unsafe.StringData(body), len(body))
	n, err := base64.StdEncoding.Decode(dst, src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBase64, err)
	}
	return dst[:n], nil
}

// decodeQuanta decodes body into dst and reports how many bytes that
// made, if body is quanta of four bytes of the alphabet, the last of which
// may end in "=" or "==" after two or three of them; it reports false for
// anything else (CR or LF, a stray byte, a bad length, misplaced
// padding), which encoding/base64 then decodes or rejects. Like
// StdEncoding it ignores the unused bits before padding.
func decodeQuanta(dst []byte, body string) (int, bool) {
	if len(body) == 0 || len(body)%4 != 0 {
		return 0, false
	}
	end := len(body) - 4
	n := 0
	for i := 0; i < end; i += 4 {
		a, b, c, d := b64Table[body[i]], b64Table[body[i+1]], b64Table[body[i+2]], b64Table[body[i+3]]
		if (a|b|c|d)&0xc0 != 0 { // only b64Invalid has these bits
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		_ = dst[n+2]
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	// The last quantum: four characters, or two or three and padding.
	q := body[end:]
	a, b := b64Table[q[0]], b64Table[q[1]]
	c, d := b64Table[q[2]], b64Table[q[3]]
	size := 3
	switch {
	case q[2] == '=' && q[3] == '=':
		c, d, size = 0, 0, 1
	case q[3] == '=':
		d, size = 0, 2
	}
	if (a|b|c|d)&0xc0 != 0 {
		return 0, false
	}
	v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
	_ = dst[n+2]
	dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
	return n + size, true
}
