// Package sechat connects a node to a Stack Exchange chat room: it
// implements chatgateway.Dialer and chatgateway.Conn over SE chat's HTTP
// endpoints and its per-room websocket, the way SmokeDetector's
// ChatExchange and the other public bot clients use them.
//
// A Client is one account's session on one chat server; Client.Room gives a
// Dialer for one room. A bot in several rooms makes one Client and one
// socketscience.Node per room:
//
//	client, err := sechat.NewClient(sechat.Config{
//		Host:     "chat.stackexchange.com",
//		Email:    email,
//		Password: password,
//	})
//	...
//	node, err := socketscience.New(client.Room(11540))
//
// # What a Conn does
//
// Dial logs in (lazily, once per Client: the login site's form, then the
// chat page for the chat fkey and the account's own id and name), gets the
// room's event cursor and a socket URL, and opens the socket with the Origin
// header SE requires. The Conn's Identity is the account (UserID, UserName;
// Account stays empty, SE accounts being numbers) and the room, named
// "<chat host>/rooms/<id>", such as "chat.stackexchange.com/rooms/11540".
//
// Read turns the socket's message-posted and message-edited events for this
// room into messages.ChatMessage values, one at a time in the server's
// order, ignoring other rooms and other event types. A message that may be
// a frame has as Text its plain source, fetched from
// /message/<id>?plain=true, never the event's HTML, which is escaped and,
// for long messages, only a 'partial' beginning: any message from the
// account itself or a Config.TrustedUsers account, and any whose content is
// missing, cut short, holds a control character or starts like a frame or
// fragment might. The echo of the conn's own post is the text Post sent.
// Any other message is a person's chat, read from its content converted to
// text (markup dropped, line breaks and entities kept), without a GET,
// unless Config.ExactChatText asks for every source; docs/sechat-reading.md
// says exactly what the conversion keeps and loses. U+200B and U+200C,
// which SE inserts into long words, are removed. Up to 8 fetches run at
// once, ahead of the message Read returns next (a message alone in the
// queue is fetched on Read's goroutine). A fetch that fails is
// retried with backoff on the clock; if it still fails, Read fails with
// ErrNoPlainSource without moving the resume cursor past the message, so
// that the next socket replays it. Only a deleted message (404) is skipped,
// and, so that one message cannot deafen the node for good, one whose
// source failed on MaxFetchFailures connections in a row (logged as an
// error).
//
// Post posts with the chat fkey, refreshing the fkey once when SE refuses
// it, and makes one attempt: it never sleeps or retries inside, because the
// gateway owns waiting and pacing, and a Post parked in a wait would hold the
// gateway's writer hostage to the server's numbers. The gateway posts a
// message again, unchanged, when a connection died before the post's
// outcome was known; SE refuses that copy as a duplicate if the first post
// landed, and Post then reports the success it was rather than
// ErrDuplicate. An answer with the post's time but no id ({"time":…}) is a
// post that landed, id unknown: Post returns 0 and no error.
//
// # What Post's errors mean to the gateway
//
// Each answer SE (or something in front of it) may give a post is mapped to
// what retrying can and cannot fix:
//   - 409 "again in N seconds": chatgateway.RetryAfter(N) wrapping
//     ErrThrottled, N clamped to [MinRetryAfter, MaxRetryAfter] ("0
//     seconds" means 1 s: taken literally it made a hot loop).
//   - 408, 425, 429: chatgateway.RetryAfter, after the Retry-After header.
//   - 400, 405, 411, 415, 422 (and 413, 414, also
//     chatgateway.ErrMessageTooLong): chatgateway.Rejected. The request as
//     made is refused for good; posting it again would loop forever. So are
//     a blank text and a duplicate.
//   - 404: the room is gone, the account may not post there, or the room is
//     in timeout (ErrNoPermission, ErrRoomTimeout): a connection failure,
//     not Rejected, because it is about the room, not this text; the
//     gateway redials with backoff, and dialing checks the room again.
//     An account block is permanent.
//   - 403 is a stale fkey: refreshed and posted once more; 401, a 403 after
//     that, 5xx and network errors are connection failures: the gateway
//     redials (logging in again if the session is gone) and posts again,
//     and the duplicate check below keeps that from posting twice.
//
// # Dead sockets
//
// SE sockets are known to stop delivering without closing. The socket is
// read all the time by the Conn's own goroutine, also while Read fetches a
// plain source (what it reads ahead is bounded), and a fetch, its retries
// included, is bounded by about Config.LivenessTimeout too, so a stalled
// fetch neither deafens the node nor hides a dead socket. A socket that sends no frame,
// keep-alives included, for Config.LivenessTimeout (45 s) is closed and
// Read fails with ErrSilent; every socket is also rebuilt after
// Config.RefreshInterval (4 h) with ErrRefresh, however healthy it looks.
// Either way the gateway dials again, and the new socket resumes at the
// last cursor the old one read (within ResumeWindow), so that the server
// replays what was said in between. Both timers run on Config.Clock, so
// tests drive them with a fake clock.
//
// The cursor is only followed while it is plausible. A frame whose "t" is
// behind the last frame's, or more than MaxCursorJump past it (or past the
// events endpoint's cursor, for a new socket), fails Read with ErrBadCursor
// without moving the resume cursor, so that one corrupt frame cannot make
// the next socket resume where no replay comes from. When the events
// endpoint's cursor is behind the resume cursor (a counter restarted
// lower), Dial re-establishes it: it resumes just before the oldest recent
// message event that Read has not returned yet (message ids survive a
// restart; the event counter does not).
//
// # Limits
//
// Conn.Limits reports no length limit: SE refuses single-line messages over
// MaxSingleLineLen (500) characters but sets no known limit on messages with
// a line break, which every frame is (it starts with ".\n"). Post refuses an
// over-long single line itself with chatgateway.ErrMessageTooLong, which
// the gateway drops and counts rather than retrying.
//
// # Bounds against a hostile server
//
// Every answer body is read up to 4 MiB; socket frames likewise. The cookie
// jar keeps at most MaxCookiesPerHost cookies and MaxCookieBytesPerHost
// bytes from each host (further new cookies are dropped, with a
// rate-limited warning), so a Set-Cookie flood cannot grow the heap or the
// Cookie header of every request. 409 waits are clamped to [MinRetryAfter,
// MaxRetryAfter]; frame cursors to MaxCursorJump.
//
// # Assumptions
//
// Where the real service's behaviour is not documented, the adapter
// assumes: a stale fkey is answered HTTP 403 (or a redirect to the login
// page); a 409 without a number of seconds means DefaultRetryAfter (5 s);
// /message/<id>?plain=true
// returns U+0002 and U+0003 unchanged; the event cursor from
// /chats/<room>/events is the right ?l= for the socket (as ChatExchange uses
// it), and a frame's "t" counts the same event ids, so a socket opened at an
// older cursor replays the events after it; message ids never go back. Credentials, cookies, fkeys and
// socket URLs are never logged, nor put in errors: every error from a call
// that takes a URL has its URLs redacted (no userinfo, query or fragment;
// for the socket URL, whose path is its token, no path either), because the
// standard library quotes whole URLs in its errors.
//
// Package sechattest is a local server that speaks the same protocol, for
// tests, with fault knobs for throttling, refusals, stale fkeys and dead
// sockets.
package sechat
