package sechat

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/messages"
)

const (
	// maxFetches is how many plain sources one conn fetches at once. Read
	// returns messages in order; fetching only the next one made every
	// message wait out the round trips of all before it.
	maxFetches = 8
	// maxAhead is how many events Read takes from the frame queue ahead
	// of the one it returns next (a frame's events are taken whole).
	maxAhead = 32
	// maxIdleFetchers is how many fetcher goroutines a conn keeps waiting
	// for work once their fetches are done; more end. A message alone
	// needs none (Read fetches it), and a busy room's fetches, a few at a
	// time, reuse them.
	maxIdleFetchers = 2
)

// item is one event on its way out of Read, with its text once had: from
// Post's memory of an own post, from the socket's content, or fetched.
type item struct {
	e     event
	t     int64  // the cursor Read's resume point moves to once this item is done; 0: none
	posts uint64 // posts begun when its frame was read
	// fetch: the text is to be had by a fetch, or a wait for an own
	// post's answer: on Read's goroutine, or on one of its own, which
	// closes done. Whoever sets claimed does it.
	fetch   bool
	claimed atomic.Bool
	done    chan struct{}
	text    string
	err     error
}

// Read returns the next message posted or edited in the room, own posts
// included, in the server's order. Its Text is what was typed when that
// matters, and the socket's content converted to text otherwise:
//
//   - An own post's echo is the text Post sent (when the echo comes before
//     the post's answer, Read waits for the answer rather than fetch).
//   - A message from the account itself or a Config.TrustedUsers account,
//     every message with Config.ExactChatText, and any message whose
//     content is missing, cut short ('partial'), holds a control
//     character, or starts like a frame or fragment might (a lone "." on
//     its first line) is fetched from /message/<id>?plain=true: exactly as
//     typed.
//   - Any other message is a person's chat, and its Text is the event's
//     HTML content converted to text, which keeps the words but not the
//     markup: line breaks are kept ("\n"), other tags are removed (a link
//     keeps its text, not its URL; markdown's marks, a fixed-font
//     message's four-space indent and a reply's ":<id> " are gone, as SE
//     renders them away), entities are decoded. It is never a frame or a
//     fragment (messages.Classify calls it chat): anything that could be
//     is fetched.
//
// U+200B and U+200C are removed either way. Up to maxFetches fetches run at
// once, ahead of the message Read returns next; the fetch for a message
// alone in the queue runs on Read's goroutine.
//
// A fetch, its retries included, is bounded by about
// Config.LivenessTimeout on the Clock (each of its plainTries attempts gets
// an equal share), and failed attempts are retried with backoff on the
// Clock. A message deleted before its source was read (404) is skipped. A
// message whose source cannot be had otherwise fails Read with
// ErrNoPlainSource, without moving the resume cursor past its frame, so
// that the next socket replays it; only after MaxFetchFailures connections
// in a row failed on the same message is it logged as an error and
// skipped, so that one message a server never serves cannot deafen the
// node for good. Only once all of a frame's events are returned does the
// Dialer's resume cursor move past them.
//
// The socket is read all the time by the conn's own goroutine, also while
// Read fetches (up to maxQueuedFrames frames, maxQueuedBytes bytes, wait
// for Read; past that, the socket waits, and so does the liveness
// deadline). The socket counts as dead when no frame (keep-alives
// included) arrives for Config.LivenessTimeout while it is being read: it
// is closed, and Read returns, after what was queued before, an error
// wrapping ErrSilent. Once the socket is Config.RefreshInterval old, Read
// returns what is queued and then an error wrapping ErrRefresh. After Close
// it returns chatgateway.ErrConnClosed.
func (k *conn) Read() (messages.ChatMessage, error) {
	for {
		if k.ctx.Err() != nil {
			return messages.ChatMessage{}, chatgateway.ErrConnClosed
		}
		if k.readErr != nil {
			return messages.ChatMessage{}, k.readErr
		}
		k.fill()
		if len(k.ahead) == 0 {
			f, err := k.frames.pop(k.ctx)
			if err != nil {
				return messages.ChatMessage{}, chatgateway.ErrConnClosed
			}
			if f.err != nil {
				if k.ctx.Err() != nil {
					return messages.ChatMessage{}, chatgateway.ErrConnClosed
				}
				k.readErr = f.err
				k.log.Debug().Err(f.err).Msg("room socket ended")
				return messages.ChatMessage{}, f.err
			}
			k.take(f)
			continue
		}
		if !k.ready() {
			continue // more frames came: start their fetches too
		}
		msg, ok, err := k.finish()
		if err != nil {
			return messages.ChatMessage{}, err
		}
		if ok {
			k.log.Debug().Int64("message_id", msg.ID).Int64("user_id", msg.UserID).Bool("edited", msg.Edited).Int("len", len(msg.Text)).Msg("read message")
			return msg, nil
		}
	}
}

// fill takes the frames already queued, without waiting, while fewer than
// maxAhead events are ahead, and starts what fetches it can.
func (k *conn) fill() {
	for len(k.ahead) < maxAhead {
		f, ok := k.frames.tryPop()
		if !ok || f.err != nil {
			break // the error stays queued, for when ahead is done
		}
		k.take(f)
	}
	for k.started < len(k.ahead) {
		if k.started == 0 && len(k.ahead) == 1 {
			return // alone: ready may have it on Read's goroutine
		}
		if it := k.ahead[k.started]; it.fetch && !k.tryStart(it) {
			return
		}
		k.started++
	}
}

// take adds a frame's items to ahead. A frame with none only moves the
// cursor: at once, or once the items before it are done.
func (k *conn) take(f queuedFrame) {
	if len(f.items) == 0 {
		if n := len(k.ahead); n > 0 {
			k.ahead[n-1].t = max(k.ahead[n-1].t, f.t)
		} else {
			k.d.advance(f.t)
		}
		return
	}
	k.ahead = append(k.ahead, f.items...)
}

// items makes a frame's events into items, the last holding the frame's
// cursor t; posts is how many posts had begun when it was read.
func (k *conn) items(evs []event, t int64, posts uint64) []*item {
	its := make([]*item, len(evs))
	for i, e := range evs {
		its[i] = &item{e: e, posts: posts}
		k.prepare(its[i])
	}
	if len(its) > 0 {
		its[len(its)-1].t = t
	}
	return its
}

// prepare has the item's text at once where it can: an own post's
// remembered text, or a person's message's content. Otherwise it marks the
// item for a fetch.
func (k *conn) prepare(it *item) {
	e := it.e
	own := e.EventType == eventMessagePosted && e.UserID == k.self.UserID
	if own {
		if text, ok := k.d.echoes.recall(e.MessageID); ok {
			it.text = text // exactly what Post sent
			return
		}
	}
	if own || k.c.cfg.ExactChatText || e.UserID == k.self.UserID || k.c.trusted[e.UserID] || needSource(e.Content) {
		it.fetch = true
		it.done = make(chan struct{})
		return
	}
	it.text = contentText(*e.Content)
}

// tryStart starts the fetch of an item that needs one on a goroutine of
// its own, unless it has been claimed already; it reports false when it
// could not, all of k.slots being taken. Both Read and, while Read fetches
// on its own goroutine, the pump call it.
func (k *conn) tryStart(it *item) bool {
	if it.claimed.Load() {
		return true
	}
	select {
	case k.slots <- struct{}{}:
	default:
		return false
	}
	if !it.claimed.CompareAndSwap(false, true) {
		<-k.slots
		return true
	}
	k.start(it)
	return true
}

// start runs the claimed item's fetch on a fetcher goroutine, which
// releases one of k.slots when it is done: an idle one, or a new one; not
// once Close has begun (which waits for the fetchers started before).
func (k *conn) start(it *item) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reason == chatgateway.ErrConnClosed {
		return
	}
	select {
	case k.work <- it: // an idle fetcher took it
		return
	default:
	}
	k.fetches.Add(1)
	go k.fetcher(it)
}

// fetcher has items' texts, it first, then what start hands it while it
// waits idle, until Close; or it ends once done when maxIdleFetchers are
// idle already. Reused, it keeps the stack that net/http and the cookie
// jar grew (a new goroutine per fetch grew its stack every time: 2% of a
// node's CPU end to end).
func (k *conn) fetcher(it *item) {
	defer k.fetches.Done()
	for {
		k.have(it)
		close(it.done)
		<-k.slots
		if k.idle.Add(1) > maxIdleFetchers {
			k.idle.Add(-1)
			return
		}
		select {
		case it = <-k.work:
			k.idle.Add(-1)
		case <-k.ctx.Done():
			k.idle.Add(-1)
			return
		}
	}
}

// have gets the text of an item that needs a fetch: an own post's, once
// answered, or else its plain source.
func (k *conn) have(it *item) {
	e := it.e
	if e.EventType == eventMessagePosted && e.UserID == k.self.UserID {
		if text, ok := k.d.echoes.await(k.ctx, e.MessageID, it.posts); ok {
			it.text = text
			return
		}
	}
	it.text, it.err = k.plainSource(k.ctx, e.MessageID)
}

// haveAlone has the text of the head item, alone ahead and not claimed, on
// Read's own goroutine: a goroutine of its own would add two hand-offs to
// the message's way (one message at a time is the usual case). Meanwhile
// the pump starts the fetches of the frames it queues, so that they still
// run at once. It reports false, having done nothing, when a frame has come
// in or all of k.slots are taken (then the item is started like any
// other).
func (k *conn) haveAlone(it *item) bool {
	// The pump queues a frame, then looks at inline; this sets inline,
	// then looks at the queue: one of the two sees the other.
	k.inline.Store(true)
	defer k.inline.Store(false)
	for {
		f, ok := k.frames.tryPop()
		if !ok || f.err != nil {
			break
		}
		if k.take(f); len(k.ahead) > 1 {
			return false
		}
	}
	select { // it counts against maxFetches too
	case k.slots <- struct{}{}:
	default:
		return false
	}
	defer func() { <-k.slots }()
	if !it.claimed.CompareAndSwap(false, true) {
		return false
	}
	k.have(it)
	close(it.done)
	return true
}

// ready waits for the first item ahead to have its text, starting it if
// need be, and reports true; or false when more frames came first, while
// there is room ahead for them. It returns true when Close ends the wait.
func (k *conn) ready() bool {
	it := k.ahead[0]
	if k.started == 0 {
		if it.fetch && !it.claimed.Load() {
			if len(k.ahead) == 1 {
				if k.haveAlone(it) {
					k.started++
					return true
				}
				if len(k.ahead) > 1 {
					return false // fill starts it with the ones come in
				}
			}
			select { // the slots free up as the fetches before it end
			case k.slots <- struct{}{}:
			case <-k.ctx.Done():
				return true
			}
			if it.claimed.CompareAndSwap(false, true) {
				k.start(it)
			} else {
				<-k.slots
			}
		}
		k.started++
	}
	if !it.fetch {
		return true
	}
	var more <-chan struct{}
	if len(k.ahead) < maxAhead {
		more = k.frames.added
	}
	select {
	case <-it.done:
	case <-k.ctx.Done():
	case <-more:
		return false
	}
	return true
}

// finish finishes the first item ahead, once ready: it returns its
// message, or false when it is skipped, or the error that failed Read.
func (k *conn) finish() (messages.ChatMessage, bool, error) {
	it := k.ahead[0]
	if k.ctx.Err() != nil {
		// Not returned: the next socket's replay brings it again.
		return messages.ChatMessage{}, false, chatgateway.ErrConnClosed
	}
	e := it.e
	ok := true
	switch {
	case errors.Is(it.err, errNoSuchMessage):
		k.log.Info().Int64("message_id", e.MessageID).Int64("user_id", e.UserID).Msg("skipped message: deleted before its source was read")
		ok = false
	case it.err != nil:
		if n := k.d.fetchFailed(e.MessageID); n < MaxFetchFailures {
			// Never skip a message for a server's passing trouble: fail
			// the socket without moving the resume cursor past the
			// frame, and the next socket replays it.
			k.readErr = fmt.Errorf("%w: message %d (failure %d of %d before it is skipped): %w",
				ErrNoPlainSource, e.MessageID, n, MaxFetchFailures, it.err)
			k.log.Warn().Err(it.err).Int64("message_id", e.MessageID).Int("attempt", n).Msg("no plain source; closing the socket to read the frame again")
			k.closeSocket()
			return messages.ChatMessage{}, false, k.readErr
		}
		k.log.Error().Err(it.err).Int64("message_id", e.MessageID).Int64("user_id", e.UserID).Int("attempt", MaxFetchFailures).
			Msg("skipped message: no plain source on as many connections in a row")
		ok = false
	default:
		k.d.fetchOK(e.MessageID)
	}
	k.ahead[0] = nil
	k.ahead = k.ahead[1:]
	k.started--
	k.d.sawMessage(e.MessageID)
	k.d.advance(it.t)
	if !ok {
		return messages.ChatMessage{}, false, nil
	}
	msg := messages.ChatMessage{
		ID:       e.MessageID,
		UserID:   e.UserID,
		UserName: e.UserName,
		Text:     it.text,
		Edited:   e.EventType == eventMessageEdited,
	}
	if e.TimeStamp > 0 {
		msg.Time = time.Unix(e.TimeStamp, 0)
	}
	return msg, true, nil
}
