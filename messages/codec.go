package messages

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// Encode makes the frame text for p, ready to post: EncodeFrame(p, nil).
func Encode(p Payload) (string, error) {
	return EncodeFrame(p, nil)
}

// EncodeFrame makes the frame text for p, with env under EnvelopeKey when
// env is not nil.
//
// The msgpack matches what SmokeDetector's Python msgpack (use_bin_type)
// writes: the most compact int encoding, float64 as float64, string as str,
// []byte as bin. Map keys are sorted, so equal payloads make equal bytes.
// Go structs encode as maps keyed by each field's `msgpack` tag, else its
// `json` tag, else its name.
//
// Encode checks that the result would decode, so that a sender learns at
// once what every receiver would drop: every map key must be a string (not
// map[int]T), every string valid UTF-8 (Python rejects anything else), no
// ext types but time.Time, and the frame within the default Limits (depth
// ErrTooDeep; length, map, array, string and decoded size ErrTooLarge).
func EncodeFrame(p Payload, env *Envelope) (frame string, err error) {
	return encodeFrame(p, env, nil)
}

// encodeFrame encodes p and env, and signs the frame with sign if it is
// not nil. A signed frame lists the envelope last, after the types it
// signs; an unsigned one lists it in sorted order among them.
func encodeFrame(p Payload, env *Envelope, sign *signer) (frame string, err error) {
	err = encodeRaw(p, env, sign, func(raw []byte) error {
		frame = buildFrame(raw)
		return nil
	})
	return frame, err
}

// encodeRaw encodes p (with env, signed with sign when set), checks the
// msgpack as a receiver would, and hands it to use, before its pooled
// buffer is reused.
func encodeRaw(p Payload, env *Envelope, sign *signer, use func(raw []byte) error) (err error) {
	var keysBuf [8]string // most payloads carry a type or two
	keys := keysBuf[:0]
	for k := range p {
		switch k {
		case EnvelopeKey:
			return fmt.Errorf("%w: the payload must not set it; pass an Envelope", ErrReservedKey)
		case "":
			return ErrEmptyType
		}
		keys = append(keys, k)
	}
	nkeys := len(keys)
	if env != nil {
		nkeys++
		if sign == nil {
			keys = append(keys, EnvelopeKey)
		}
	}
	slices.Sort(keys)

	s := getEncoder()
	defer func() {
		// vmihailenco/msgpack panics on a few odd values (reflect misuse on
		// nil pointers behind interfaces); report it rather than crash the
		// sender, and drop the encoder, whose state is unknown.
		if r := recover(); r != nil {
			err = fmt.Errorf("messages: encode: encoder panicked: %v", r)
			return
		}
		putEncoder(s)
	}()
	if err := s.enc.EncodeMapLen(nkeys); err != nil {
		return fmt.Errorf("messages: encode: %w", err)
	}
	var spansBuf [8][2]int
	spans := spansBuf[:0] // where each type's data is, for the signature
	for _, k := range keys {
		if err := s.enc.EncodeString(k); err != nil {
			return fmt.Errorf("messages: encode %q: %w", k, err)
		}
		var err error
		start := s.buf.Len()
		if k == EnvelopeKey { // only here when env != nil and unsigned
			err = env.encode(s.enc)
		} else {
			err = s.enc.Encode(p[k])
		}
		if err != nil {
			return fmt.Errorf("messages: encode %q: %w", k, err)
		}
		if sign != nil {
			spans = append(spans, [2]int{start, s.buf.Len()})
		}
	}
	if sign != nil {
		b := s.buf.Bytes()
		m := newMAC(sign.secret, sign.room, env)
		defer m.free()
		for i, k := range keys {
			m.add(k, b[spans[i][0]:spans[i][1]])
		}
		signed := *env
		signed.Sig = bytes.Clone(m.finish(env.Offsets))
		if err := s.enc.EncodeString(EnvelopeKey); err != nil {
			return fmt.Errorf("messages: encode %q: %w", EnvelopeKey, err)
		}
		if err := signed.encode(s.enc); err != nil {
			return fmt.Errorf("messages: encode %q: %w", EnvelopeKey, err)
		}
	}
	raw := s.buf.Bytes()
	if n := frameLen(len(raw)); n > DefaultMaxFrameLen {
		return &LimitError{Limit: "MaxFrameLen", Got: n, Max: DefaultMaxFrameLen, Offset: -1}
	}
	if err := checkPayload(raw, &Limits{}); err != nil {
		return fmt.Errorf("%w (in the encoded payload; no receiver could decode it)", err)
	}
	return use(raw)
}

// DecodeFrame decodes a whole frame, as SmokeDetector does, with the
// default limits: Limits{}.DecodeFrame.
func DecodeFrame(content string) (Payload, error) {
	return Limits{}.DecodeFrame(content)
}

// DecodeFrame decodes a whole frame into a Payload holding every top-level key,
// EnvelopeKey included (as a map, unchecked). Values decode loosely:
// int64 (msgpack fixint and signed ints), uint64 (msgpack unsigned ints),
// float64 (float32 too), string, []byte (bin), bool, nil, time.Time in UTC
// (the msgpack timestamp ext), []any, and map[string]any for every map.
// A map key that is not a msgpack str, at any level, is ErrNonStringKey
// rather than a map[any]any: Python's msgpack (strict_map_key, its default
// since 1.0) already rejects all but str and bytes keys, SmokeDetector
// sends only str keys, and so every map a handler sees has string keys.
//
// The whole frame is checked against l before anything is decoded, so a
// frame over a limit costs no more than its base64.
//
// Handlers should prefer Split, which does not decode the values.
func (l Limits) DecodeFrame(content string) (Payload, error) {
	body, err := frameBody(content, &l)
	if err != nil {
		return nil, err
	}
	buf := getBuf(base64.StdEncoding.DecodedLen(len(body)))
	defer putBuf(buf)
	b, err := decodeBase64(*buf, body)
	if err != nil {
		return nil, err
	}
	// Walk it all first, so that a frame over a limit allocates nothing.
	if err := checkPayload(b, &l); err != nil {
		return nil, err
	}
	return decodePayload(b)
}

// decodePayload decodes msgpack bytes that should hold a payload map. Every
// string and []byte it returns is a copy, so b may be reused.
// The caller has checked b with checkPayload.
func decodePayload(b []byte) (Payload, error) {
	var w walker
	w.initCeiling(b)
	n, off, err := w.topMap()
	if err != nil {
		return nil, err
	}
	// The exact size: checkPayload has charged for all n entries, even if
	// they repeat one key.
	p := make(Payload, n)
	for range n {
		ks, ke, err := w.topKey(off)
		if err != nil {
			return nil, err
		}
		var v any
		v, off, err = decodeValue(b, ke, 2)
		if err != nil {
			return nil, err
		}
		p[string(b[ks:ke])] = v
	}
	if err := checkEnd(b, off); err != nil {
		return nil, err
	}
	return p, nil
}

// checkPayload checks that b is a payload that DecodeFrame and Split accept with
// l.
func checkPayload(b []byte, l *Limits) error {
	var w walker
	w.init(b, l)
	return w.payload()
}

// unmarshal decodes one msgpack value into v, with Message.Decode's rules:
// struct fields match by `msgpack` tag, else `json` tag, else name; values
// decoded into interface{} fields are loose, as vmihailenco/msgpack makes
// them (bin becomes a string there). The data is checked with the same
// bounded walk as Split first, because vmihailenco/msgpack preallocates
// slices and maps from the lengths that headers claim.
func unmarshal(data []byte, v any) (err error) {
	end, err := skipValue(data, 0, 1)
	if err != nil {
		return err
	}
	if err := checkEnd(data, end); err != nil {
		return err
	}
	s := decPool.Get().(*decState)
	defer func() {
		// vmihailenco/msgpack v5.4.1 panics on some valid input that does
		// not fit the target, such as nil for a time.Time field (reflect:
		// IsNil on struct Value); the data is a peer's, so that must be an
		// error, not a crash. A decoder that panicked is not reused.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: does not fit %T (decoder panicked: %v)", ErrBadMsgpack, v, r)
			return
		}
		s.r.Reset(nil)
		s.dec.Reset(nil)
		decPool.Put(s)
	}()
	s.r.Reset(data)
	s.dec.Reset(&s.r) // a *bytes.Reader is a ByteScanner, so no bufio
	s.dec.UseLooseInterfaceDecoding(true)
	s.dec.SetCustomStructTag("json")
	return s.dec.Decode(v)
}

// ---- pools ----

// maxPooled is the largest buffer kept in a pool; rare big frames should
// not pin their memory for good.
const maxPooled = 64 << 10

// maxPrealloc caps the capacity Split gives Frame.Types: a hostile frame
// can claim many pairs that all repeat one key.
const maxPrealloc = 64

type encState struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

var encPool = sync.Pool{New: func() any {
	s := new(encState)
	s.enc = msgpack.NewEncoder(nil)
	return s
}}

func getEncoder() *encState {
	s := encPool.Get().(*encState)
	s.buf.Reset()
	// Reset clears the options, so set them every time: cheap, and no
	// custom encoder can leave one changed for the next user.
	s.enc.Reset(&s.buf)
	s.enc.UseCompactInts(true) // Python packs ints as compactly as it can
	s.enc.SetSortMapKeys(true) // deterministic bytes for equal payloads
	s.enc.SetCustomStructTag("json")
	return s
}

func putEncoder(s *encState) {
	if s.buf.Cap() > maxPooled {
		return
	}
	s.enc.Reset(nil)
	encPool.Put(s)
}

type decState struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decPool = sync.Pool{New: func() any {
	s := new(decState)
	s.dec = msgpack.NewDecoder(nil)
	return s
}}

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func getBuf(n int) *[]byte {
	b := bufPool.Get().(*[]byte)
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		bufPool.Put(b)
	}
}

// ---- a bounded msgpack cursor ----
//
// DecodeFrame, Split and unmarshal all walk the bytes with readHead, which checks
// every length a header claims against the bytes that remain before anyone
// allocates for it, so a hostile "4 GB string" header costs nothing.

type kind uint8

const (
	kNil kind = iota
	kBool
	kInt  // msgpack fixint and int 8..64; value in head.u as int64 bits
	kUint // msgpack uint 8..64
	kFloat32
	kFloat64
	kStr
	kBin
	kArray
	kMap
	kTime // the timestamp ext (-1); the only ext type accepted
)

var kindNames = [...]string{"nil", "bool", "int", "uint", "float32", "float64", "str", "bin", "array", "map", "timestamp"}

func (k kind) String() string { return kindNames[k] }

// head is one decoded msgpack header.
type head struct {
	kind kind
	// n is the byte length of a str, bin or timestamp's data, the element
	// count of an array, or the pair count of a map.
	n int
	// u holds a bool (0 or 1), an int's bits, or a float's bits.
	u uint64
}

func errTruncated(off int) error {
	return fmt.Errorf("%w: truncated at offset %d", ErrBadMsgpack, off)
}

// readUint reads a size-byte big-endian number at b[off:].
func readUint(b []byte, off, size int) (uint64, int, error) {
	if len(b)-off < size {
		return 0, 0, errTruncated(off)
	}
	switch size {
	case 1:
		return uint64(b[off]), off + 1, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[off:])), off + 2, nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b[off:])), off + 4, nil
	default:
		return binary.BigEndian.Uint64(b[off:]), off + 8, nil
	}
}

// readHead reads the header at b[off:]. For scalars next is past the
// value; for str, bin and timestamp it is the start of the n data bytes;
// for arrays and maps it is the first element. It checks that the claimed
// data fits in b (an array element or a map key or value takes at least a
// byte), that a str is UTF-8, and that an ext is a valid timestamp.
func readHead(b []byte, off int) (h head, next int, err error) {
	if off >= len(b) {
		return h, 0, errTruncated(off)
	}
	start := off
	c := b[off]
	off++
	var size int // bytes of the length or value that follow c
	switch {
	case c <= 0x7f:
		return head{kind: kInt, u: uint64(c)}, off, nil
	case c >= 0xe0:
		return head{kind: kInt, u: uint64(int64(int8(c)))}, off, nil
	case c <= 0x8f:
		h = head{kind: kMap, n: int(c & 0x0f)}
	case c <= 0x9f:
		h = head{kind: kArray, n: int(c & 0x0f)}
	case c <= 0xbf:
		h = head{kind: kStr, n: int(c & 0x1f)}
	default:
		switch c {
		case 0xc0:
			return head{kind: kNil}, off, nil
		case 0xc2, 0xc3:
			return head{kind: kBool, u: uint64(c - 0xc2)}, off, nil
		case 0xc4, 0xc5, 0xc6:
			h.kind, size = kBin, 1<<(c-0xc4)
		case 0xc7, 0xc8, 0xc9:
			h.kind, size = kTime, 1<<(c-0xc7)
		case 0xca, 0xcb:
			h.kind, size = kFloat32+kind(c-0xca), 4<<(c-0xca)
			h.u, off, err = readUint(b, off, size)
			return h, off, err
		case 0xcc, 0xcd, 0xce, 0xcf:
			h.kind = kUint
			h.u, off, err = readUint(b, off, 1<<(c-0xcc))
			return h, off, err
		case 0xd0, 0xd1, 0xd2, 0xd3:
			h.kind, size = kInt, 1<<(c-0xd0)
			h.u, off, err = readUint(b, off, size)
			// Sign-extend from size bytes.
			shift := 64 - 8*size
			h.u = uint64(int64(h.u<<shift) >> shift)
			return h, off, err
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
			h.kind, h.n = kTime, 1<<(c-0xd4)
		case 0xd9, 0xda, 0xdb:
			h.kind, size = kStr, 1<<(c-0xd9)
		case 0xdc, 0xdd:
			h.kind, size = kArray, 2<<(c-0xdc)
		case 0xde, 0xdf:
			h.kind, size = kMap, 2<<(c-0xde)
		default: // 0xc1, which msgpack never uses
			return h, 0, fmt.Errorf("%w: invalid code 0xc1 at offset %d", ErrBadMsgpack, start)
		}
	}
	n := uint64(h.n)
	if size > 0 {
		if n, off, err = readUint(b, off, size); err != nil {
			return h, 0, err
		}
	}
	// Compare in uint64 so that a 4 GB claim cannot overflow an int.
	need := n
	switch h.kind {
	case kMap:
		need *= 2 // a key and a value
	case kTime:
		need++ // the ext type byte
	}
	if rest := uint64(len(b) - off); need > rest {
		return h, 0, fmt.Errorf("%w: %s at offset %d claims %d, only %d bytes left",
			ErrBadMsgpack, h.kind, start, n, rest)
	}
	h.n = int(n)
	switch h.kind {
	case kStr:
		if !validUTF8(b[off : off+h.n]) {
			return h, 0, fmt.Errorf("%w: str at offset %d is not UTF-8", ErrBadMsgpack, start)
		}
	case kTime:
		if t := int8(b[off]); t != -1 {
			return h, 0, fmt.Errorf("%w: unsupported ext type %d at offset %d", ErrBadMsgpack, t, start)
		}
		off++
		if _, _, ok := timestamp(b[off : off+h.n]); !ok {
			return h, 0, fmt.Errorf("%w: bad timestamp at offset %d", ErrBadMsgpack, start)
		}
	}
	return h, off, nil
}

// validUTF8 is utf8.Valid with a fast path for the short ASCII strings
// that payloads are made of, where the call itself is most of utf8.Valid's
// cost. It checks eight bytes at a time while they are ASCII, and the
// last eight (or four) bytes as one word, overlapping the ones before.
func validUTF8(s []byte) bool {
	const ascii8 = 0x8080808080808080
	n := len(s)
	switch {
	case n >= 8:
		for i := 0; i < n-8; i += 8 {
			if binary.LittleEndian.Uint64(s[i:])&ascii8 != 0 {
				return utf8.Valid(s[i:])
			}
		}
		if binary.LittleEndian.Uint64(s[n-8:])&ascii8 == 0 {
			return true
		}
	case n >= 4:
		if (binary.LittleEndian.Uint32(s)|binary.LittleEndian.Uint32(s[n-4:]))&0x80808080 == 0 {
			return true
		}
	default:
		for _, c := range s {
			if c >= utf8.RuneSelf {
				return utf8.Valid(s)
			}
		}
		return true
	}
	return utf8.Valid(s)
}

// timestamp decodes the msgpack timestamp ext's data, with the checks that
// Python msgpack makes: 4, 8 or 12 bytes, nanoseconds below a second.
func timestamp(d []byte) (sec, nsec int64, ok bool) {
	switch len(d) {
	case 4:
		return int64(binary.BigEndian.Uint32(d)), 0, true
	case 8:
		v := binary.BigEndian.Uint64(d)
		sec, nsec = int64(v&(1<<34-1)), int64(v>>34)
	case 12:
		nsec, sec = int64(binary.BigEndian.Uint32(d)), int64(binary.BigEndian.Uint64(d[4:]))
	default:
		return 0, 0, false
	}
	return sec, nsec, nsec < 1e9
}

// skipValue walks the value at b[off:], checking it all, and returns the
// offset past it. depth is the nesting level of the value itself. Only the
// MaxDepth ceiling applies: this is for data that a limited walk has
// already checked, or that has no Limits (Message.Decode's).
func skipValue(b []byte, off, depth int) (int, error) {
	var w walker
	w.initCeiling(b)
	return w.skip(off, depth)
}

// walker is the bounded walk: it checks the msgpack in b with readHead and
// checks it against the limits, and adds up the estimate of what decoding
// it would allocate, all without allocating.
type walker struct {
	b                                  []byte
	maxDepth, maxMap, maxArray, maxStr int
	maxSize                            int
	size                               int // the decoded-size estimate so far
}

// The decoded-size estimate, in bytes, for 64-bit Go: what decodeValue
// allocates for each kind of value, measured (TestDecodedSizeEstimate keeps
// it honest) and rounded up.
const (
	costSlot  = 16 // an interface value, in a slice or a map entry
	costNum   = 8  // an int, uint or float boxed in an interface
	costStr   = 16 // a string header boxed in an interface, before the bytes
	costBin   = 24 // a []byte header boxed, before the bytes
	costTime  = 24 // a time.Time boxed
	costArray = 24 // a []any header boxed, before the slots
	costMap   = 48 // a map's header
	// costSmallMap is a map of 1 to 8 entries: one group of 8 slots of a
	// string key and an interface value, and their control word (264
	// bytes), in the allocator's 288-byte size class.
	costSmallMap = 288
	// costEntry is each entry of a bigger map, made at its full size: the
	// slot and control byte, with load-factor and power-of-two slack (33
	// bytes a slot, up to 2.3 slots an entry).
	costEntry = 80
)

// mapCost estimates the memory of a map[string]any of n entries, keys'
// bytes apart.
func mapCost(n int) int {
	switch {
	case n == 0:
		return costMap
	case n <= 8:
		return costMap + costSmallMap
	default:
		return costMap + costEntry*n
	}
}

// roundStr is the allocation for n bytes of string data.
func roundStr(n int) int { return (n + 7) &^ 7 }

// charge adds n to the estimate and checks it.
func (w *walker) charge(n, off int) error {
	w.size += n
	if w.size > w.maxSize {
		return &LimitError{Limit: "MaxDecodedSize", Got: w.size, Max: w.maxSize, Offset: off}
	}
	return nil
}

// container checks a map or array header at off, of n entries or elements,
// at depth, and charges for it.
func (w *walker) container(h head, off, depth int) error {
	if depth > w.maxDepth {
		return &LimitError{Limit: "MaxDepth", Got: depth, Max: w.maxDepth, Offset: off}
	}
	if h.kind == kMap {
		if h.n > w.maxMap {
			return &LimitError{Limit: "MaxMapLen", Got: h.n, Max: w.maxMap, Offset: off}
		}
		return w.charge(mapCost(h.n), off)
	}
	if h.n > w.maxArray {
		return &LimitError{Limit: "MaxArrayLen", Got: h.n, Max: w.maxArray, Offset: off}
	}
	return w.charge(costArray+costSlot*h.n, off)
}

// skip walks the value at off, at depth, and returns the offset past it.
func (w *walker) skip(off, depth int) (int, error) {
	// The commonest values, a small positive int and a short string
	// within every limit, without readHead; anything else, or anything
	// wrong with these, takes the full path and its error.
	if off < len(w.b) {
		switch c := w.b[off]; {
		case c <= 0x7f:
			return off + 1, w.charge(costNum, off)
		case c&0xe0 == 0xa0:
			n := int(c & 0x1f)
			if end := off + 1 + n; end <= len(w.b) && n <= w.maxStr && validUTF8(w.b[off+1:end]) {
				return end, w.charge(costStr+roundStr(n), off)
			}
		}
	}
	h, next, err := readHead(w.b, off)
	if err != nil {
		return 0, err
	}
	switch h.kind {
	case kNil, kBool:
		return next, nil
	case kInt, kUint, kFloat32, kFloat64:
		return next, w.charge(costNum, off)
	case kStr, kBin:
		if h.n > w.maxStr {
			return 0, &LimitError{Limit: "MaxStringLen", Got: h.n, Max: w.maxStr, Offset: off}
		}
		c := costStr
		if h.kind == kBin {
			c = costBin
		}
		return next + h.n, w.charge(c+roundStr(h.n), off)
	case kTime:
		return next + h.n, w.charge(costTime, off)
	case kArray:
		if err := w.container(h, off, depth); err != nil {
			return 0, err
		}
		for range h.n {
			if next, err = w.skip(next, depth+1); err != nil {
				return 0, err
			}
		}
	case kMap:
		if err := w.container(h, off, depth); err != nil {
			return 0, err
		}
		for range h.n {
			if _, next, err = w.key(next); err != nil {
				return 0, err
			}
			if next, err = w.skip(next, depth+1); err != nil {
				return 0, err
			}
		}
	}
	return next, nil
}

// key reads a map key at off, checks and charges it, and returns its
// bytes and the offset past it.
func (w *walker) key(off int) ([]byte, int, error) {
	k, next, err := readKey(w.b, off)
	if err != nil {
		return nil, 0, err
	}
	if len(k) > w.maxStr {
		return nil, 0, &LimitError{Limit: "MaxStringLen", Got: len(k), Max: w.maxStr, Offset: off}
	}
	return k, next, w.charge(roundStr(len(k)), off)
}

// topMap reads and checks the payload map's header.
func (w *walker) topMap() (n, off int, err error) {
	h, off, err := readHead(w.b, 0)
	if err != nil {
		return 0, 0, err
	}
	if h.kind != kMap {
		return 0, 0, fmt.Errorf("%w: got %s", ErrNotMap, h.kind)
	}
	if err := w.container(h, 0, 1); err != nil {
		return 0, 0, err
	}
	return h.n, off, nil
}

// topKey reads a type name: a map key that is also not empty. It returns
// the key's bounds in b.
func (w *walker) topKey(off int) (start, end int, err error) {
	k, end, err := w.key(off)
	if err != nil {
		return 0, 0, err
	}
	if len(k) == 0 {
		return 0, 0, fmt.Errorf("%w: at offset %d", ErrEmptyType, off)
	}
	return end - len(k), end, nil
}

// payload walks a whole payload: a map of types, and nothing after it.
func (w *walker) payload() error {
	n, off, err := w.topMap()
	if err != nil {
		return err
	}
	for range n {
		_, ke, err := w.topKey(off)
		if err != nil {
			return err
		}
		if off, err = w.skip(ke, 2); err != nil {
			return err
		}
	}
	return checkEnd(w.b, off)
}

func errTooDeep(off int) error {
	return &LimitError{Limit: "MaxDepth", Got: MaxDepth + 1, Max: MaxDepth, Offset: off}
}

// decodeValue decodes the value at b[off:] and returns the offset past it.
// Strings and []byte are copied out of b.
func decodeValue(b []byte, off, depth int) (any, int, error) {
	h, off, err := readHead(b, off)
	if err != nil {
		return nil, 0, err
	}
	switch h.kind {
	case kNil:
		return nil, off, nil
	case kBool:
		return h.u == 1, off, nil
	case kInt:
		return int64(h.u), off, nil
	case kUint:
		return h.u, off, nil
	case kFloat32:
		return float64(math.Float32frombits(uint32(h.u))), off, nil
	case kFloat64:
		return math.Float64frombits(h.u), off, nil
	case kStr:
		return string(b[off : off+h.n]), off + h.n, nil
	case kBin:
		return append([]byte{}, b[off:off+h.n]...), off + h.n, nil
	case kTime:
		sec, nsec, _ := timestamp(b[off : off+h.n]) // checked by readHead
		return time.Unix(sec, nsec).UTC(), off + h.n, nil
	case kArray:
		if depth > MaxDepth {
			return nil, 0, errTooDeep(off)
		}
		// Every element takes a byte, so readHead has bounded h.n by len(b).
		a := make([]any, h.n)
		for i := range a {
			if a[i], off, err = decodeValue(b, off, depth+1); err != nil {
				return nil, 0, err
			}
		}
		return a, off, nil
	default: // kMap
		if depth > MaxDepth {
			return nil, 0, errTooDeep(off)
		}
		// The exact size, which a limited walk has charged for (DecodeFrame
		// walks first); without one, readHead bounds h.n by the bytes.
		m := make(map[string]any, h.n)
		for range h.n {
			var k []byte
			if k, off, err = readKey(b, off); err != nil {
				return nil, 0, err
			}
			var v any
			if v, off, err = decodeValue(b, off, depth+1); err != nil {
				return nil, 0, err
			}
			m[string(k)] = v
		}
		return m, off, nil
	}
}

// readKey reads a map key, which must be a str, and returns its bytes.
func readKey(b []byte, off int) ([]byte, int, error) {
	// A short valid key without readHead; the full path finds what is
	// wrong with any other.
	if off < len(b) && b[off]&0xe0 == 0xa0 {
		start := off + 1
		if end := start + int(b[off]&0x1f); end <= len(b) && validUTF8(b[start:end]) {
			return b[start:end], end, nil
		}
	}
	h, next, err := readHead(b, off)
	if err != nil {
		return nil, 0, err
	}
	if h.kind != kStr {
		return nil, 0, fmt.Errorf("%w: %s key at offset %d", ErrNonStringKey, h.kind, off)
	}
	return b[next : next+h.n], next + h.n, nil
}

func checkEnd(b []byte, off int) error {
	if off != len(b) {
		return fmt.Errorf("%w: %d bytes after the value", ErrBadMsgpack, len(b)-off)
	}
	return nil
}
