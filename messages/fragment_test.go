package messages

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// frameOfSize makes a real frame of about n bytes, and its blob.
func frameOfSize(tb testing.TB, n int, seed uint64) (string, []byte) {
	tb.Helper()
	blob := make([]byte, max(n*3/4-40, 0))
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range blob {
		blob[i] = byte(rng.Uint32())
	}
	content, err := Encode(Payload{"blob": blob, "beverage": "coffee"})
	require.NoError(tb, err)
	return content, blob
}

// checkPieces checks Fragment's output for frame and maxLen.
func checkPieces(t *testing.T, frame string, maxLen int, id string, pieces []string) {
	t.Helper()
	if len(frame) <= maxLen {
		require.Equal(t, []string{frame}, pieces)
		return
	}
	var joined strings.Builder
	for i, p := range pieces {
		require.LessOrEqual(t, len(p), maxLen, "piece %d", i)
		require.False(t, strings.HasPrefix(p, FramePrefix), "piece %d starts like a frame", i)
		require.Equal(t, KindFragment, Classify(p))
		head := fmt.Sprintf("%s%s %d/%d ", FragmentPrefix, id, i, len(pieces))
		require.True(t, strings.HasPrefix(p, head), "%q", p[:min(len(p), 40)])
		require.Equal(t, byte('\x03'), p[len(p)-1])
		chunk := p[len(head) : len(p)-1]
		require.NotEmpty(t, chunk)
		if i < len(pieces)-1 {
			require.Len(t, p, maxLen, "piece %d is not full", i)
		}
		joined.WriteString(chunk)
	}
	require.Equal(t, frame, joined.String())
}

func TestFragmentRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ size, maxLen int }{
		{50_000, 500}, // the IRC case
		{1_000, 500}, {1_000, 100}, {300, 60}, {2_000, 80}, {5_000, 70},
		{100, 100}, {100, 1000}, // fits: no cutting
		{12_000, 130}, // about 200 pieces: index digits change at 10 and 100
	} {
		frame, blob := frameOfSize(t, tc.size, uint64(tc.size))
		t.Run(fmt.Sprintf("%d bytes in %d", len(frame), tc.maxLen), func(t *testing.T) {
			id := NewFragmentID(7)
			pieces, err := Fragment(frame, tc.maxLen, id)
			require.NoError(t, err)
			checkPieces(t, frame, tc.maxLen, id, pieces)
			if len(pieces) == 1 {
				return // a whole frame, not a fragment
			}
			// Delivered in a random order, the whole frame comes back once.
			r := NewReassembler(ReassemblyLimits{})
			var got string
			for n, i := range rng.Perm(len(pieces)) {
				frame, done, err := r.Add("42", pieces[i], testNow)
				require.NoError(t, err)
				require.Equal(t, n == len(pieces)-1, done)
				if done {
					got = frame
				}
			}
			require.Equal(t, frame, got)
			payloads, held := r.Pending()
			assert.Zero(t, payloads)
			assert.Zero(t, held)
			p, err := DecodeFrame(got)
			require.NoError(t, err)
			assert.Equal(t, blob, p["blob"])
		})
	}
}

func TestFragmentFewestPieces(t *testing.T) {
	// Every piece but the last is full, so no fewer pieces would do; and
	// the count is exact around the boundaries of the digits.
	id := "0123456789abcdef"
	for _, maxLen := range []int{26, 27, 40, 100} {
		for size := 1; size < 3000; size += 7 {
			frame := strings.Repeat("A", size)
			pieces, err := Fragment(frame, maxLen, id)
			if err != nil {
				require.ErrorIs(t, err, ErrTooLarge)
				continue
			}
			checkPieces(t, frame, maxLen, id, pieces)
		}
	}
}

func TestFragmentErrors(t *testing.T) {
	id := NewFragmentID(7)
	frame, _ := frameOfSize(t, 1000, 1)
	tests := []struct {
		name   string
		frame  string
		maxLen int
		id     string
		want   error
	}{
		{"empty", "", 100, id, ErrNotFrame},
		{"not ASCII", frame[:500] + "é" + frame[500:], 100, id, ErrNotFrame},
		{"id short", frame, 100, "abc", ErrBadFragment},
		{"id upper", frame, 100, "0123456789ABCDEF", ErrBadFragment},
		{"id not hex", frame, 100, "0123456789abcdeg", ErrBadFragment},
		{"maxLen 0", frame, 0, id, ErrTooLarge},
		{"maxLen header", frame, 39, id, ErrTooLarge},
		{"maxLen negative", frame, -1, id, ErrTooLarge},
		{"too many pieces", frame, 41, id, ErrTooLarge},
		{"257 pieces", strings.Repeat("A", maxFragmented500+1), 500, id, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pieces, err := Fragment(tt.frame, tt.maxLen, tt.id)
			assert.ErrorIs(t, err, tt.want)
			assert.True(t, pieces == nil)
			assert.True(t, isSentinel(err))
		})
	}
	// 256 pieces is the most.
	frame = strings.Repeat("A", maxFragmented500)
	pieces, err := Fragment(frame, 500, id)
	require.NoError(t, err)
	assert.Len(t, pieces, DefaultMaxFragments)
	checkPieces(t, frame, 500, id, pieces)
	// Small pieces: a 42-byte header and 8 bytes of chunk.
	frame = strings.Repeat("A", 60)
	pieces, err = Fragment(frame, 50, id)
	require.NoError(t, err)
	assert.Len(t, pieces, 8)
	checkPieces(t, frame, 50, id, pieces)
	// An older node's id, without a source, still cuts.
	pieces, err = Fragment(frame, 50, "0123456789abcdef")
	require.NoError(t, err)
	assert.Len(t, pieces, 3)
}

// maxFragmented500 is the longest frame that 256 pieces of 500 bytes
// carry: each has a 40-byte header, a 3-digit count and a 1- to 3-digit
// index.
const maxFragmented500 = 256*(500-fragFixed-fragIDLen-3) - (10*1 + 90*2 + 156*3)

func TestNewFragmentID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewFragmentID(7)
		source, ok := validFragID(id)
		require.True(t, ok, id)
		require.Equal(t, "0000000000000007", source)
		require.False(t, seen[id])
		seen[id] = true
	}
}

func TestClassify(t *testing.T) {
	frag := FragmentPrefix + "0123456789abcdef 0/2 abc\x03"
	frame, _ := frameOfSize(t, 100, 1)
	for want, texts := range map[Kind][]string{
		KindFragment: {
			frag, "  " + frag + "\n", "\u200b\u00a0" + frag,
			".\u200b\n\u200c\x0f0123", // zero-width inside the prefix
			".\r\n\x0f0123",           // CR LF
			"\x1c\x1f" + frag,         // Python whitespace
			FragmentPrefix,            // malformed, but for Add to say so
		},
		KindFrame: {
			frame, " " + frame, "\u200c" + frame, ".\n\u200b\x02" + frame[3:], "\x1d.\r\n\x02x",
			FramePrefix, // malformed, but receivers drop it as a bad frame
		},
		KindChat: {
			"", ".", ".\n", "coffee", ".\n\x0e" + frag[3:], "x" + frag,
			"\xff" + frag, "\u200d" + frag, ". \x02" + frame[3:], "..\n\x02",
		},
	} {
		for _, s := range texts {
			assert.Equal(t, want, Classify(s), "%q", s)
		}
	}
}

// fragmentsOf cuts a frame of about size bytes into pieces of maxLen.
func fragmentsOf(tb testing.TB, size, maxLen int) (string, []string) {
	tb.Helper()
	frame, _ := frameOfSize(tb, size, uint64(size))
	pieces, err := Fragment(frame, maxLen, NewFragmentID(7))
	require.NoError(tb, err)
	require.Greater(tb, len(pieces), 2)
	return frame, pieces
}

func TestReassembleStripping(t *testing.T) {
	frame, pieces := fragmentsOf(t, 300, 100)
	r := NewReassembler(ReassemblyLimits{})
	for i, p := range pieces {
		// As a chat server might deliver them.
		mangled := " \u200b" + p[:30] + "\u200c" + p[30:] + "\r\n"
		got, done, err := r.Add("1", mangled, testNow)
		require.NoError(t, err)
		if i == len(pieces)-1 {
			require.True(t, done)
			assert.Equal(t, frame, got)
		}
	}
}

func TestReassembleDuplicates(t *testing.T) {
	frame, pieces := fragmentsOf(t, 1000, 200)
	r := NewReassembler(ReassemblyLimits{})
	_, done, err := r.Add("1", pieces[0], testNow)
	require.NoError(t, err)
	require.False(t, done)
	n0, b0 := r.Pending()
	for range 3 {
		_, done, err = r.Add("1", pieces[0], testNow)
		require.NoError(t, err)
		require.False(t, done)
	}
	n, b := r.Pending()
	assert.Equal(t, n0, n)
	assert.Equal(t, b0, b, "a duplicate was counted")
	for _, p := range pieces[1:] {
		got, done, err := r.Add("1", p, testNow)
		require.NoError(t, err)
		if done {
			assert.Equal(t, frame, got)
		}
	}
	// After completion, a late duplicate starts afresh and expires.
	_, done, err = r.Add("1", pieces[1], testNow)
	require.NoError(t, err)
	assert.False(t, done)
	assert.Equal(t, 1, r.Expire(testNow.Add(DefaultReassemblyTimeout)))
}

func TestReassembleConflict(t *testing.T) {
	_, pieces := fragmentsOf(t, 1000, 200)
	r := NewReassembler(ReassemblyLimits{})
	for _, p := range pieces[:2] {
		_, _, err := r.Add("1", p, testNow)
		require.NoError(t, err)
	}
	// Same index, another chunk.
	bad := []byte(pieces[1])
	bad[len(bad)-5] ^= 1
	_, done, err := r.Add("1", string(bad), testNow)
	assert.ErrorIs(t, err, ErrFragmentConflict)
	assert.False(t, done)
	n, b := r.Pending()
	assert.Zero(t, n, "the payload was not dropped")
	assert.Zero(t, b)
	// The rest arrive: nothing is delivered, since pieces 0 and 1 are gone.
	for _, p := range pieces[2:] {
		_, done, err := r.Add("1", p, testNow)
		require.NoError(t, err)
		assert.False(t, done)
	}

	// A count that changes is ErrBadFragment, and drops the payload too.
	r = NewReassembler(ReassemblyLimits{})
	_, _, err = r.Add("1", pieces[0], testNow)
	require.NoError(t, err)
	changed := strings.Replace(pieces[1], fmt.Sprintf("1/%d ", len(pieces)), fmt.Sprintf("1/%d ", len(pieces)+1), 1)
	_, _, err = r.Add("1", changed, testNow)
	assert.ErrorIs(t, err, ErrBadFragment)
	n, _ = r.Pending()
	assert.Zero(t, n)
}

func TestReassembleExpiry(t *testing.T) {
	frame, pieces := fragmentsOf(t, 1000, 200)
	timeout := 10 * time.Second
	r := NewReassembler(ReassemblyLimits{Timeout: timeout})
	// All but the last piece, spread over time: expiry counts from the
	// newest.
	last := testNow
	for i, p := range pieces[:len(pieces)-1] {
		last = testNow.Add(time.Duration(i) * time.Second)
		_, done, err := r.Add("1", p, last)
		require.NoError(t, err)
		require.False(t, done)
	}
	assert.Zero(t, r.Expire(last.Add(timeout-time.Nanosecond)))
	n, _ := r.Pending()
	assert.Equal(t, 1, n)
	assert.Zero(t, r.TakeExpired())
	assert.Equal(t, 1, r.Expire(last.Add(timeout)))
	assert.Equal(t, 1, r.TakeExpired())
	assert.Zero(t, r.TakeExpired(), "taken")
	n, b := r.Pending()
	assert.Zero(t, n)
	assert.Zero(t, b)
	// The last piece comes too late: it starts a new payload, which never
	// completes.
	_, done, err := r.Add("1", pieces[len(pieces)-1], last.Add(timeout))
	require.NoError(t, err)
	assert.False(t, done)

	// Add expires lazily: an incomplete payload is gone once any piece
	// arrives past its time, and its late pieces do not complete it.
	r = NewReassembler(ReassemblyLimits{Timeout: timeout})
	_, _, err = r.Add("1", pieces[0], testNow)
	require.NoError(t, err)
	_, other := fragmentsOf(t, 400, 200)
	_, _, err = r.Add("2", other[0], testNow.Add(timeout))
	require.NoError(t, err)
	n, _ = r.Pending()
	assert.Equal(t, 1, n)
	for _, p := range pieces[1:] {
		_, done, err := r.Add("1", p, testNow.Add(timeout))
		require.NoError(t, err)
		assert.False(t, done)
	}

	// In time, it completes.
	r = NewReassembler(ReassemblyLimits{Timeout: timeout})
	var got string
	for _, p := range pieces {
		got, _, err = r.Add("1", p, testNow.Add(timeout-time.Nanosecond))
		require.NoError(t, err)
	}
	assert.Equal(t, frame, got)
}

func TestReassembleSenderLimit(t *testing.T) {
	_, pieces := fragmentsOf(t, 3000, 500) // 4000-odd bytes of frame
	l := ReassemblyLimits{MaxBytesPerSender: 2000}
	r := NewReassembler(l)
	var held int
	var err error
	for _, p := range pieces {
		_, _, err = r.Add("1", p, testNow)
		if err != nil {
			break
		}
		_, held = r.Pending()
	}
	require.ErrorIs(t, err, ErrFragmentLimit)
	assert.LessOrEqual(t, held, 2000)
	_, after := r.Pending()
	assert.Equal(t, held, after, "the refused piece was counted")
	n, _ := r.Pending()
	assert.Equal(t, 1, n, "the payload was dropped")

	// Another sender is not affected.
	frame2, pieces2 := fragmentsOf(t, 1000, 500)
	var got string
	for _, p := range pieces2 {
		got, _, err = r.Add("2", p, testNow)
		require.NoError(t, err)
	}
	assert.Equal(t, frame2, got)

	// Once the first sender's payload expires, it may send again.
	r.Expire(testNow.Add(DefaultReassemblyTimeout))
	for _, p := range pieces2 {
		got, _, err = r.Add("1", p, testNow.Add(DefaultReassemblyTimeout))
		require.NoError(t, err)
	}
	assert.Equal(t, frame2, got)
}

func TestReassembleTotalLimit(t *testing.T) {
	l := ReassemblyLimits{MaxBytesPerSender: 3000, MaxBytesTotal: 5000}
	r := NewReassembler(l)
	// Two senders hold nearly 3000 each would be 6000: the second sender is
	// cut off at the total.
	_, pieces := fragmentsOf(t, 4000, 500)
	add := func(sender string) error {
		for _, p := range pieces {
			if _, _, err := r.Add(sender, p, testNow); err != nil {
				return err
			}
		}
		return nil
	}
	assert.ErrorIs(t, add("1"), ErrFragmentLimit)
	err := add("2")
	assert.ErrorIs(t, err, ErrFragmentLimit)
	assert.Contains(t, err.Error(), "all senders")
	_, held := r.Pending()
	assert.LessOrEqual(t, held, 5000)
	// Both payloads are still pending: nothing was evicted.
	n, _ := r.Pending()
	assert.Equal(t, 2, n)
}

func TestReassemblePendingLimit(t *testing.T) {
	r := NewReassembler(ReassemblyLimits{MaxPendingPerSender: 3})
	var first [][]string
	for i := range 3 {
		_, pieces := fragmentsOf(t, 300+i, 100)
		_, _, err := r.Add("1", pieces[0], testNow.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
		first = append(first, pieces)
	}
	// A fourth payload pushes out the sender's oldest, not itself.
	frame, pieces := fragmentsOf(t, 400, 100)
	_, _, err := r.Add("1", pieces[0], testNow.Add(3*time.Second))
	require.NoError(t, err)
	assert.Equal(t, 1, r.TakeEvicted())
	assert.Zero(t, r.TakeEvicted(), "taken")
	n, _ := r.Pending()
	assert.Equal(t, 3, n)
	var got string
	for _, p := range pieces[1:] {
		got, _, err = r.Add("1", p, testNow.Add(3*time.Second))
		require.NoError(t, err)
	}
	assert.Equal(t, frame, got)
	// The second payload was kept and completes.
	for _, p := range first[1][1:] {
		got, _, err = r.Add("1", p, testNow.Add(4*time.Second))
		require.NoError(t, err)
	}
	assert.NotEmpty(t, got)
	// Another sender has its own allowance, and evicts nothing of sender 1.
	for i := range 3 {
		_, p := fragmentsOf(t, 500+i, 100)
		_, _, err = r.Add("2", p[0], testNow.Add(5*time.Second))
		require.NoError(t, err)
	}
	assert.Zero(t, r.TakeEvicted())
}

func TestReassembleFlood(t *testing.T) {
	r := NewReassembler(ReassemblyLimits{})
	frame, victim := fragmentsOf(t, 3000, 400)
	_, _, err := r.Add("2", victim[0], testNow)
	require.NoError(t, err)

	big := strings.Repeat("A", 60_000)
	errs := map[error]int{}
	for i := range 2000 {
		id := fmt.Sprintf("%016x", i)
		content := FragmentPrefix + id + " 0/256 " + big[:1+i*31%len(big)] + "\x03"
		// The flooder also tries the victim's id, as its own sender.
		if i%10 == 0 {
			content = victim[1][:len(FragmentPrefix)+fragIDLen] + " 1/2 x\x03"
		}
		_, _, err := r.Add("1", content, testNow.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			require.ErrorIs(t, err, ErrFragmentLimit)
			errs[ErrFragmentLimit]++
		}
		_, held := r.Pending()
		require.LessOrEqual(t, held, DefaultMaxFragmentBytesPerSender+4000)
	}
	// The flooder only ever pushes out its own incomplete payloads.
	assert.Zero(t, errs[ErrFragmentLimit])
	assert.Greater(t, r.TakeEvicted(), 1780, "of 1800 flooding payloads")

	var got string
	for _, p := range victim[1:] {
		got, _, err = r.Add("2", p, testNow.Add(2*time.Second))
		require.NoError(t, err)
	}
	assert.Equal(t, frame, got)
}

func TestReassembleMalformed(t *testing.T) {
	id := "0123456789abcdef"
	tests := []struct {
		name, content string
	}{
		{"empty", ""},
		{"chat", "coffee"},
		{"a frame", FramePrefix + "4242gA==\x03"},
		{"prefix only", FragmentPrefix},
		{"short id", FragmentPrefix + "0123 0/2 x\x03"},
		{"upper id", FragmentPrefix + "0123456789ABCDEF 0/2 x\x03"},
		{"id without space", FragmentPrefix + id + "0/2 x\x03"},
		{"two spaces", FragmentPrefix + id + "  0/2 x\x03"},
		{"no index", FragmentPrefix + id + " /2 x\x03"},
		{"index not digits", FragmentPrefix + id + " a/2 x\x03"},
		{"negative index", FragmentPrefix + id + " -1/2 x\x03"},
		{"index leading zero", FragmentPrefix + id + " 01/2 x\x03"},
		{"no slash", FragmentPrefix + id + " 0 2 x\x03"},
		{"no count", FragmentPrefix + id + " 0/ x\x03"},
		{"count leading zero", FragmentPrefix + id + " 0/02 x\x03"},
		{"count without space", FragmentPrefix + id + " 0/2x\x03"},
		{"count 0", FragmentPrefix + id + " 0/0 x\x03"},
		{"index = count", FragmentPrefix + id + " 2/2 x\x03"},
		{"index > count", FragmentPrefix + id + " 7/2 x\x03"},
		{"count over MaxFragments", FragmentPrefix + id + " 0/257 x\x03"},
		{"huge count", FragmentPrefix + id + " 0/99999999999999999999 x\x03"},
		{"huge index", FragmentPrefix + id + " 99999999999999999999/2 x\x03"},
		{"no ETX", FragmentPrefix + id + " 0/2 x"},
		{"ETX only in the middle", FragmentPrefix + id + " 0/2 x\x03y"},
		{"truncated", FragmentPrefix + id + " 0/2"},
	}
	r := NewReassembler(ReassemblyLimits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, done, err := r.Add("1", tt.content, testNow)
			assert.ErrorIs(t, err, ErrBadFragment)
			assert.False(t, done)
			assert.Empty(t, frame)
			assert.True(t, strings.HasPrefix(err.Error(), "messages: "), err.Error())
		})
	}
	n, b := r.Pending()
	assert.Zero(t, n)
	assert.Zero(t, b)

	// Edge cases that are well formed.
	for _, ok := range []string{
		FragmentPrefix + id + " 0/2 \x03",         // an empty chunk
		FragmentPrefix + id + " 1/2 a b\x03c\x03", // ETX inside the chunk
		FragmentPrefix + id + " 0/256 x\x03",
	} {
		_, _, err := r.Add("2", ok, testNow)
		assert.NoError(t, err, "%q", ok)
	}
	// A single piece is its own payload, and needs no storage.
	frame, done, err := r.Add("3", FragmentPrefix+id+" 0/1 whole\x03", testNow)
	require.NoError(t, err)
	assert.True(t, done)
	assert.Equal(t, "whole", frame)
	// A smaller MaxFragments.
	r = NewReassembler(ReassemblyLimits{MaxFragments: 4})
	_, _, err = r.Add("1", FragmentPrefix+id+" 0/5 x\x03", testNow)
	assert.ErrorIs(t, err, ErrBadFragment)
	_, _, err = r.Add("1", FragmentPrefix+id+" 0/4 x\x03", testNow)
	assert.NoError(t, err)
}

func TestReassemblerZeroValue(t *testing.T) {
	frame, pieces := fragmentsOf(t, 500, 100)
	var r Reassembler
	assert.Zero(t, r.Expire(testNow))
	var got string
	for _, p := range pieces {
		var err error
		got, _, err = r.Add("1", p, testNow)
		require.NoError(t, err)
	}
	assert.Equal(t, frame, got)
	assert.Equal(t, DefaultMaxFragments, r.l.MaxFragments)
}

func TestReassemblerAccounting(t *testing.T) {
	_, pieces := fragmentsOf(t, 1000, 200)
	r := NewReassembler(ReassemblyLimits{})
	want := PendingPayloadOverhead + PendingPieceOverhead*len(pieces)
	for i, p := range pieces[:len(pieces)-1] {
		_, _, err := r.Add("1", p, testNow)
		require.NoError(t, err)
		f, err := parseFragment(p)
		require.NoError(t, err)
		want += len(f.chunk)
		n, b := r.Pending()
		assert.Equal(t, 1, n)
		assert.Equal(t, want, b, "after piece %d", i)
		checkReassembler(t, r)
	}
}

// checkReassembler checks r's bookkeeping against its contents.
func checkReassembler(t testing.TB, r *Reassembler) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	perSender := map[fragSource]*senderHeld{}
	total := 0
	require.Len(t, r.expiry, len(r.payloads))
	for i, p := range r.expiry {
		require.Equal(t, i, p.index)
		require.Same(t, p, r.payloads[p.key])
	}
	for _, p := range r.payloads {
		bytes := PendingPayloadOverhead + PendingPieceOverhead*len(p.pieces)
		got := 0
		for i, c := range p.pieces {
			if p.have[i] {
				bytes += len(c)
				got++
			} else {
				require.Empty(t, c)
			}
		}
		require.Equal(t, got, p.got)
		require.Less(t, got, len(p.pieces))
		require.Equal(t, bytes, p.bytes)
		h := perSender[p.source]
		if h == nil {
			h = new(senderHeld)
			perSender[p.source] = h
		}
		h.bytes += bytes
		h.payloads++
		total += bytes
	}
	require.Equal(t, total, r.bytes)
	require.LessOrEqual(t, r.bytes, r.l.MaxBytesTotal)
	require.Len(t, r.senders, len(perSender))
	for s, h := range perSender {
		require.Equal(t, *h, *r.senders[s])
		require.LessOrEqual(t, h.bytes, r.l.MaxBytesPerSender)
		require.LessOrEqual(t, h.payloads, r.l.MaxPendingPerSender)
	}
}

func TestReassembleConcurrent(t *testing.T) {
	r := NewReassembler(ReassemblyLimits{})
	var wg sync.WaitGroup
	results := make([]string, 8)
	frames := make([]string, 8)
	for s := range 8 {
		frame, pieces := fragmentsOf(t, 2000+s, 150)
		frames[s] = frame
		wg.Go(func() {
			for _, p := range pieces {
				got, done, err := r.Add(strconv.Itoa(s), p, testNow)
				if err != nil {
					t.Error(err)
					return
				}
				if done {
					results[s] = got
				}
				r.Pending()
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			r.Expire(testNow)
		}
	})
	wg.Wait()
	assert.Equal(t, frames, results)
	checkReassembler(t, r)
}

// TestFragmentNotAFrame: no fragment decodes as a frame, so SmokeDetector
// and Split both take it for chat.
func TestFragmentNotAFrame(t *testing.T) {
	_, pieces := fragmentsOf(t, 2000, 300)
	for _, p := range pieces {
		_, err := Split(p)
		assert.ErrorIs(t, err, ErrNotFrame)
		assert.False(t, bytes.HasPrefix([]byte(strings.TrimSpace(p)), []byte(FramePrefix)))
	}
}

// The timeout runs from a payload's last piece, not its first: pieces
// paced 1.1 s apart (IRC's pace) complete however many there are.
func TestReassembleProgress(t *testing.T) {
	frame, pieces := fragmentsOf(t, 20000, 400)
	require.Greater(t, len(pieces), 40)
	r := NewReassembler(ReassemblyLimits{})
	var got string
	for i, p := range pieces {
		var err error
		got, _, err = r.Add("1", p, testNow.Add(time.Duration(i)*1100*time.Millisecond))
		require.NoError(t, err, "piece %d", i)
	}
	assert.Equal(t, frame, got)
}
