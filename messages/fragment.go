package messages

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// FragmentPrefix starts every fragment: one piece of a frame too long to
// post whole. Like FramePrefix it makes a multi-line message on Stack
// Exchange chat; unlike it, it does not start with ".\n\x02", so
// SmokeDetector, which tries to decode anything that does, ignores
// fragments as chat. U+000F (SI) marks them.
//
// A fragment is
//
//	FragmentPrefix + id + " " + index + "/" + count + " " + chunk + "\x03"
//
// where id names the payload (NewFragmentID), index (from 0) and count are
// decimal without leading zeros, and the chunks, in index order, are
// consecutive pieces of the frame's text. The id is source + "-" + 16
// lowercase hex digits, where source is the sending node's incarnation as
// 16 lowercase hex digits: receivers budget what they hold per sending
// node, so instances that share one chat account never push out each
// other's pieces. (Older nodes wrote the 16 digits alone; they are still
// read, and budgeted per chat account. Older nodes drop the new form as
// bad_fragment, counted.)
const FragmentPrefix = ".\n\x0f"

// DefaultMaxFragments is the most pieces Fragment cuts a frame into, and
// the most a Reassembler accepts for one payload by default.
const DefaultMaxFragments = 256

const (
	fragHexLen = 16
	fragIDLen  = 2*fragHexLen + 1 // source, "-", payload
	// fragFixed is a fragment's length apart from its id, index, count and
	// chunk: the prefix, two spaces, "/" and the closing U+0003.
	fragFixed = len(FragmentPrefix) + 1 + 1 + 1 + 1
	// maxFragDigits bounds the digits of an index or count, so that
	// parsing cannot overflow.
	maxFragDigits = 9
)

// NewFragmentID returns a fresh fragment id for a payload sent by the node
// whose incarnation is source (Envelope.Incarnation): the source and a
// random number, each as 16 lowercase hex digits, joined by "-". Ids need
// only be unique among one sender's payloads in flight, as a Reassembler
// keys pieces by sender and id.
func NewFragmentID(source uint64) string {
	b := make([]byte, 0, fragIDLen)
	b = appendHex(b, source)
	b = append(b, '-')
	return string(appendHex(b, rand.Uint64()))
}

func appendHex(b []byte, v uint64) []byte {
	for i := fragHexLen - 1; i >= 0; i-- {
		b = append(b, "0123456789abcdef"[v>>(4*i)&0xf])
	}
	return b
}

// validFragID reports whether id is a fragment id, and its source: "" for
// an older node's id, which has none.
func validFragID(id string) (source string, ok bool) {
	switch {
	case len(id) == fragHexLen && isHex(id):
		return "", true
	case len(id) == fragIDLen && id[fragHexLen] == '-' && isHex(id[:fragHexLen]) && isHex(id[fragHexLen+1:]):
		return id[:fragHexLen], true
	}
	return "", false
}

func isHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func decimalLen(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// Fragment cuts frame text into fragments of at most maxLen bytes each, to
// be posted in order (receivers accept them in any order) under fragID, a
// fresh NewFragmentID. A frame of at most maxLen bytes needs no cutting:
// Fragment returns it as it is, as the only piece, so a sender can always
// post what Fragment returns. Otherwise it uses the fewest pieces that fit,
// filling each but the last.
//
// Errors: frame empty or not ASCII (frame text always is), ErrNotFrame;
// fragID not as NewFragmentID makes them, ErrBadFragment; maxLen too small to
// hold a fragment's header and a byte of chunk, or the frame needing more
// than DefaultMaxFragments pieces, ErrTooLarge.
func Fragment(frame string, maxLen int, fragID string) ([]string, error) {
	if frame == "" {
		return nil, fmt.Errorf("%w: empty", ErrNotFrame)
	}
	for i := range len(frame) {
		if frame[i] >= utf8.RuneSelf {
			return nil, fmt.Errorf("%w: frame text is not ASCII (byte %d)", ErrNotFrame, i)
		}
	}
	if _, ok := validFragID(fragID); !ok {
		return nil, fmt.Errorf("%w: id %q is not a fragment id", ErrBadFragment, fragID)
	}
	fixed := fragFixed + len(fragID)
	if len(frame) <= maxLen {
		return []string{frame}, nil
	}

	// The fewest pieces whose room adds up to the frame. Piece i of n has
	// maxLen - fixed - digits(i) - digits(n) bytes for its chunk.
	count, digitsSum := 0, 0 // digitsSum: the digits of every index so far
	for n := 1; ; n++ {
		if n > DefaultMaxFragments {
			return nil, fmt.Errorf("%w: %d bytes need more than %d fragments of %d bytes",
				ErrTooLarge, len(frame), DefaultMaxFragments, maxLen)
		}
		digitsSum += decimalLen(n - 1)
		room := maxLen - fixed - decimalLen(n)
		if room-decimalLen(n-1) < 1 { // the last piece would hold nothing
			return nil, fmt.Errorf("%w: %d bytes cannot hold a fragment's %d-byte header and some data",
				ErrTooLarge, maxLen, fixed+decimalLen(n-1)+decimalLen(n))
		}
		if n*room-digitsSum >= len(frame) {
			count = n
			break
		}
	}

	// One buffer for every piece; the strings view it.
	countLen := decimalLen(count)
	buf := make([]byte, 0, len(frame)+count*(fixed+countLen)+digitsSum)
	pieces := make([]string, count)
	rest := frame
	for i := range count {
		start := len(buf)
		buf = append(buf, FragmentPrefix...)
		buf = append(buf, fragID...)
		buf = append(buf, ' ')
		buf = appendDecimal(buf, i)
		buf = append(buf, '/')
		buf = appendDecimal(buf, count)
		buf = append(buf, ' ')
		n := min(len(rest), maxLen-fixed-decimalLen(i)-countLen)
		buf = append(buf, rest[:n]...)
		rest = rest[n:]
		buf = append(buf, '\x03')
		pieces[i] = unsafe.String(&buf[start], len(buf)-start)
	}
	return pieces, nil
}

func appendDecimal(b []byte, n int) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// fragment is a parsed fragment.
type fragment struct {
	id           string // views the content
	source       string // the sending node's, from id; "" from older nodes
	index, count int
	chunk        string // views the content
}

// parseFragment parses content, after stripping, as a fragment. The caller
// checks the count against its limit.
func parseFragment(content string) (fragment, error) {
	var f fragment
	s := strip(content)
	if !strings.HasPrefix(s, FragmentPrefix) {
		return f, fmt.Errorf("%w: no fragment prefix", ErrBadFragment)
	}
	s = s[len(FragmentPrefix):]
	sp := strings.IndexByte(s, ' ')
	if sp < 0 || sp > fragIDLen {
		return f, fmt.Errorf("%w: no fragment id and space", ErrBadFragment)
	}
	var ok bool
	if f.source, ok = validFragID(s[:sp]); !ok {
		return f, fmt.Errorf("%w: id %q is not a fragment id", ErrBadFragment, s[:sp])
	}
	f.id, s = s[:sp], s[sp+1:]
	if f.index, s, ok = parseDecimal(s, '/'); !ok {
		return f, fmt.Errorf("%w: index is not a decimal number and \"/\"", ErrBadFragment)
	}
	if f.count, s, ok = parseDecimal(s, ' '); !ok {
		return f, fmt.Errorf("%w: count is not a decimal number and a space", ErrBadFragment)
	}
	if len(s) == 0 || s[len(s)-1] != '\x03' {
		return f, fmt.Errorf("%w: no closing U+0003", ErrBadFragment)
	}
	f.chunk = s[:len(s)-1]
	switch {
	case f.count == 0:
		return f, fmt.Errorf("%w: count 0", ErrBadFragment)
	case f.index >= f.count:
		return f, fmt.Errorf("%w: index %d of %d", ErrBadFragment, f.index, f.count)
	}
	return f, nil
}

// parseDecimal parses the digits before end, which must come, with no
// leading zeros and at most maxFragDigits of them.
func parseDecimal(s string, end byte) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && i <= maxFragDigits && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || i > maxFragDigits || i >= len(s) || s[i] != end || (s[0] == '0' && i > 1) {
		return 0, "", false
	}
	return n, s[i+1:], true
}

// Defaults for ReassemblyLimits. A sender's budget holds the largest frame
// (DefaultMaxFrameLen) cut into the most pieces (DefaultMaxFragments), so
// that whatever a node may send, its peers can put back together.
const (
	DefaultMaxFragmentBytesPerSender = DefaultMaxFrameLen + PendingPayloadOverhead + PendingPieceOverhead*DefaultMaxFragments
	DefaultMaxFragmentBytesTotal     = 8 << 20
	DefaultMaxPendingPerSender       = 8
	DefaultReassemblyTimeout         = 30 * time.Second
)

// The bookkeeping that counts as bytes held, besides the chunks, so that
// the byte limits bound memory even against empty chunks.
const (
	// PendingPayloadOverhead is charged for each incomplete payload.
	PendingPayloadOverhead = 256
	// PendingPieceOverhead is charged for each piece an incomplete
	// payload announces (its count), received or not.
	PendingPieceOverhead = 16
)

// ReassemblyLimits bound what a Reassembler holds. A field that is zero (or
// negative) means its default. A sender is one sending node (the chat
// account, and the node's incarnation from the fragment id), or, for an
// older node's fragments, which carry no incarnation, the chat account.
//
// The bytes a sender or the Reassembler holds are the chunks of incomplete
// payloads plus PendingPayloadOverhead for each such payload and
// PendingPieceOverhead for each piece it announces, so that the limits bound
// memory whatever the pieces hold. A payload whose pieces would take more
// than MaxBytesPerSender can never be reassembled.
type ReassemblyLimits struct {
	// MaxFragments is the most pieces one payload may have: a larger count
	// is ErrBadFragment. Defaults to DefaultMaxFragments (256).
	MaxFragments int
	// MaxBytesPerSender is the most bytes one sender's incomplete payloads
	// may hold. Defaults to DefaultMaxFragmentBytesPerSender (1 MiB and
	// what 256 pieces cost).
	MaxBytesPerSender int
	// MaxBytesTotal is the most bytes all incomplete payloads may hold.
	// Defaults to DefaultMaxFragmentBytesTotal (8 MiB).
	MaxBytesTotal int
	// MaxPendingPerSender is the most incomplete payloads one sender may
	// have. Defaults to DefaultMaxPendingPerSender (8).
	MaxPendingPerSender int
	// Timeout is how long a payload may go without a new piece; then it is
	// dropped (Reassembler.TakeExpired counts it). It runs from the last
	// piece, not the first, so a payload paced out over minutes arrives as
	// long as its pieces keep coming. Defaults to DefaultReassemblyTimeout
	// (30 s).
	Timeout time.Duration
}

// Check reports whether a receiver with these limits would put pieces,
// as Fragment cut them, back together: ErrBadFragment for more pieces than
// MaxFragments, ErrFragmentLimit for more bytes than one sender, or all,
// may hold. A sender checks its payloads with it, assuming its peers'
// limits are its own, so that nothing it posts is dropped on arrival.
func (l ReassemblyLimits) Check(pieces []string) error {
	if len(pieces) <= 1 {
		return nil
	}
	l = l.Resolved()
	if len(pieces) > l.MaxFragments {
		return fmt.Errorf("%w: %d pieces, receivers take %d", ErrBadFragment, len(pieces), l.MaxFragments)
	}
	cost := PendingPayloadOverhead + PendingPieceOverhead*len(pieces)
	for _, p := range pieces {
		cost += len(p) // the chunk and its header: a little over the charge
	}
	if limit := min(l.MaxBytesPerSender, l.MaxBytesTotal); cost > limit {
		return fmt.Errorf("%w: receivers would hold %d bytes, limit %d", ErrFragmentLimit, cost, limit)
	}
	return nil
}

// Resolved returns l with every zero field set to its default.
func (l ReassemblyLimits) Resolved() ReassemblyLimits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultReassemblyTimeout
	}
	return ReassemblyLimits{
		MaxFragments:        orDefault(l.MaxFragments, DefaultMaxFragments),
		MaxBytesPerSender:   orDefault(l.MaxBytesPerSender, DefaultMaxFragmentBytesPerSender),
		MaxBytesTotal:       orDefault(l.MaxBytesTotal, DefaultMaxFragmentBytesTotal),
		MaxPendingPerSender: orDefault(l.MaxPendingPerSender, DefaultMaxPendingPerSender),
		Timeout:             l.Timeout,
	}
}

// Reassembler puts fragments back together into frames. It keys pieces by
// sender (the chat account, as the caller names it) and fragment id, so one
// account can neither complete nor spoil another's payloads, and budgets
// them per sending node (see ReassemblyLimits): a node over its limits
// pushes out only its own older incomplete payloads, never another node's
// (though enough senders together can fill MaxBytesTotal). Its memory is
// bounded by ReassemblyLimits. It does no I/O and starts no goroutines:
// time is what the caller passes in. It is safe for concurrent use. The
// zero value is ready to use, with the default limits.
type Reassembler struct {
	mu       sync.Mutex
	l        ReassemblyLimits // resolved
	payloads map[fragKey]*pendingPayload
	senders  map[fragSource]*senderHeld
	expiry   expiryHeap // the payloads, soonest deadline first
	bytes    int
	evicted  int // payloads dropped to make room, since TakeEvicted
	expired  int // payloads dropped for want of pieces, since TakeExpired
}

// fragKey names one payload; fragSource the node whose budget it uses.
type (
	fragKey struct {
		sender, id string
	}
	fragSource struct {
		sender, source string
	}
)

type pendingPayload struct {
	key      fragKey
	source   fragSource
	pieces   []string
	have     []bool
	got      int // pieces held
	bytes    int // charged, overhead included
	deadline time.Time
	index    int // in the expiry heap
}

type senderHeld struct {
	bytes, payloads int
}

// NewReassembler returns a Reassembler with the limits l.
func NewReassembler(l ReassemblyLimits) *Reassembler {
	r := &Reassembler{l: l.Resolved()}
	r.init()
	return r
}

func (r *Reassembler) init() {
	if r.payloads == nil {
		r.l = r.l.Resolved()
		r.payloads = make(map[fragKey]*pendingPayload)
		r.senders = make(map[fragSource]*senderHeld)
	}
}

// Add takes one chat message, content, that Classify calls KindFragment,
// posted by the chat account sender (any string that names it) at now. When content is the last missing piece of its payload, Add
// returns the payload's frame text and done; the caller then Splits (and,
// where nodes sign, Verifies) it as any frame, since reassembly checks
// nothing inside. Otherwise the piece is kept and Add returns "", false.
//
// An exact duplicate of a piece held is ignored: no error, nothing counted.
// Errors, after which nothing is delivered:
//   - ErrBadFragment: content is not a well-formed fragment, its index is
//     not below its count, or its count is 0 or over MaxFragments; the
//     piece is dropped. If its count differs from that of the payload's
//     earlier pieces, the whole payload is dropped.
//   - ErrFragmentConflict: a piece with the same index but another chunk
//     is held; the whole payload is dropped.
//   - ErrFragmentLimit: keeping the piece would take all senders over
//     MaxBytesTotal, or it alone would take its sender over
//     MaxBytesPerSender; the piece is dropped. A piece that would take its
//     sender over MaxBytesPerSender or MaxPendingPerSender only because of
//     the sender's other incomplete payloads is kept, and the sender's
//     oldest incomplete payloads are dropped to make room (TakeEvicted
//     counts them): a sender flooding with pieces that never complete then
//     only pushes out its own, never its later whole payloads, and never
//     another sender's.
//
// First, Add drops every payload that has timed out by now, as Expire does
// (TakeExpired counts them).
func (r *Reassembler) Add(sender string, content string, now time.Time) (frame string, done bool, err error) {
	f, err := parseFragment(content) // before locking: it strips content
	r.mu.Lock()
	r.init()
	r.expire(now)
	var pieces []string
	switch {
	case err != nil:
	case f.count > r.l.MaxFragments:
		err = fmt.Errorf("%w: count %d, limit %d", ErrBadFragment, f.count, r.l.MaxFragments)
	default:
		pieces, err = r.add(sender, f, now)
	}
	r.mu.Unlock()
	if err != nil || pieces == nil {
		return "", false, err
	}
	return strings.Join(pieces, ""), true, nil
}

// add files a parsed piece, with r.mu held. It returns the pieces of a
// payload that is complete, already removed from r.
func (r *Reassembler) add(sender string, f fragment, now time.Time) ([]string, error) {
	k := fragKey{sender, f.id}
	src := fragSource{sender, f.source}
	p := r.payloads[k]
	var held *senderHeld
	if p != nil {
		switch {
		case len(p.pieces) != f.count:
			r.drop(p)
			return nil, fmt.Errorf("%w: count %d, earlier pieces said %d; payload %s dropped",
				ErrBadFragment, f.count, len(p.pieces), f.id)
		case p.have[f.index] && p.pieces[f.index] == f.chunk:
			return nil, nil // a duplicate
		case p.have[f.index]:
			r.drop(p)
			return nil, fmt.Errorf("%w: piece %d of payload %s differs from the one held; payload dropped",
				ErrFragmentConflict, f.index, f.id)
		}
		if err := r.makeRoom(src, p, len(f.chunk), false); err != nil {
			return nil, err
		}
		held = r.senders[src]
		// Progress: the payload may wait another Timeout for its next piece.
		p.deadline = now.Add(r.l.Timeout)
		heap.Fix(&r.expiry, p.index)
	} else {
		cost := PendingPayloadOverhead + PendingPieceOverhead*f.count + len(f.chunk)
		if err := r.makeRoom(src, nil, cost, f.count > 1); err != nil {
			return nil, err
		}
		held = r.senders[src]
		if f.count == 1 { // complete at once: nothing to keep
			return []string{f.chunk}, nil
		}
		// Not views into the caller's message.
		k.id, src.source = strings.Clone(k.id), strings.Clone(src.source)
		p = &pendingPayload{
			key:      k,
			source:   src,
			pieces:   make([]string, f.count),
			have:     make([]bool, f.count),
			bytes:    PendingPayloadOverhead + PendingPieceOverhead*f.count,
			deadline: now.Add(r.l.Timeout),
		}
		r.payloads[k] = p
		heap.Push(&r.expiry, p)
		if held == nil {
			held = new(senderHeld)
			r.senders[src] = held
		}
		held.payloads++
		held.bytes += p.bytes
		r.bytes += p.bytes
	}
	if p.got == len(p.pieces)-1 { // the last piece: deliver, keep nothing
		p.pieces[f.index] = f.chunk
		pieces := p.pieces
		r.drop(p)
		return pieces, nil
	}
	// A copy, so that a small chunk does not pin a large message.
	p.pieces[f.index] = strings.Clone(f.chunk)
	p.have[f.index] = true
	p.got++
	p.bytes += len(f.chunk)
	held.bytes += len(f.chunk)
	r.bytes += len(f.chunk)
	return nil, nil
}

// makeRoom gets sender ready to hold n bytes more (and, if newPayload, one
// more incomplete payload), dropping the sender's oldest incomplete
// payloads other than keep while that is what stands in the way.
func (r *Reassembler) makeRoom(sender fragSource, keep *pendingPayload, n int, newPayload bool) error {
	for {
		held := r.senders[sender]
		if held == nil {
			return r.fits(nil, n)
		}
		over := held.bytes+n > r.l.MaxBytesPerSender ||
			(newPayload && held.payloads >= r.l.MaxPendingPerSender)
		if !over {
			return r.fits(held, n)
		}
		oldest := r.oldest(sender, keep)
		if oldest == nil {
			return r.fits(held, n)
		}
		r.drop(oldest)
		r.evicted++
	}
}

// oldest is sender's incomplete payload with the earliest deadline, other
// than keep. A linear scan: it runs only when a sender is at its limits.
func (r *Reassembler) oldest(sender fragSource, keep *pendingPayload) *pendingPayload {
	var o *pendingPayload
	for _, p := range r.expiry {
		if p.source == sender && p != keep && (o == nil || p.deadline.Before(o.deadline)) {
			o = p
		}
	}
	return o
}

// TakeEvicted returns how many incomplete payloads Add has dropped to make
// room for their sender's newer pieces since the last call.
func (r *Reassembler) TakeEvicted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.evicted
	r.evicted = 0
	return n
}

// TakeExpired returns how many incomplete payloads have been dropped for
// want of pieces within Timeout (by Add or Expire) since the last call.
func (r *Reassembler) TakeExpired() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.expired
	r.expired = 0
	return n
}

// fits checks that a sender holding held (nil: nothing) may take n bytes
// more.
func (r *Reassembler) fits(held *senderHeld, n int) error {
	var has int
	if held != nil {
		has = held.bytes
	}
	if has+n > r.l.MaxBytesPerSender {
		return fmt.Errorf("%w: the sender would hold %d bytes, limit %d",
			ErrFragmentLimit, has+n, r.l.MaxBytesPerSender)
	}
	if r.bytes+n > r.l.MaxBytesTotal {
		return fmt.Errorf("%w: all senders would hold %d bytes, limit %d",
			ErrFragmentLimit, r.bytes+n, r.l.MaxBytesTotal)
	}
	return nil
}

// drop removes p and releases what it held.
func (r *Reassembler) drop(p *pendingPayload) {
	delete(r.payloads, p.key)
	heap.Remove(&r.expiry, p.index)
	held := r.senders[p.source]
	held.bytes -= p.bytes
	held.payloads--
	if held.payloads == 0 {
		delete(r.senders, p.source)
	}
	r.bytes -= p.bytes
}

func (r *Reassembler) expire(now time.Time) int {
	n := 0
	for len(r.expiry) > 0 && !now.Before(r.expiry[0].deadline) {
		r.drop(r.expiry[0])
		n++
	}
	r.expired += n
	return n
}

// Expire drops every incomplete payload whose last piece came Timeout or
// more before now, and returns how many it dropped (TakeExpired counts
// them too). Add does this too, so
// calling Expire only frees memory sooner when no fragments arrive.
func (r *Reassembler) Expire(now time.Time) (dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	return r.expire(now)
}

// Pending returns how many incomplete payloads r holds, and the bytes they
// hold as ReassemblyLimits counts them.
func (r *Reassembler) Pending() (payloads, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.payloads), r.bytes
}

// expiryHeap orders payloads by deadline, for container/heap.
type expiryHeap []*pendingPayload

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expiryHeap) Push(x any) {
	p := x.(*pendingPayload)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *expiryHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
