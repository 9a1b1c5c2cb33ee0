// Package matrix connects a node to a Matrix room through the
// client-server API, with mautrix-go (maunium.net/go/mautrix): it
// implements chatgateway.Dialer and chatgateway.Conn.
//
//	d, err := matrix.NewDialer(matrix.Config{
//		HomeserverURL: "https://matrix.example.org",
//		Room:          "#bots:example.org",
//		UserID:        "@smokey-alpha:example.org",
//		Password:      os.Getenv("MATRIX_PASSWORD"),
//	})
//	...
//	node, err := socketscience.New(d, socketscience.WithTrustedAccounts(
//		"@smokey-alpha:example.org", "@smokey-beta:example.org"))
//
// # Connecting
//
// Dial logs in with m.login.password (reusing Config.DeviceID if set), or
// uses Config.AccessToken, and keeps the token for later connections; it
// joins Config.Room, by id or alias (joining a room the account is in is
// harmless); later connections reuse the token. The first connection of a Dialer takes the room's current
// sync position: Read returns what is said from then on, not the room's
// history (the sync token lives in the Dialer, not on disk). A wrong
// password, a deactivated account and M_FORBIDDEN on joining (an
// invite-only room, a ban) fail Dial with errors wrapping
// chatgateway.ErrPermanent.
// M_UNKNOWN_TOKEN (the server forgot or revoked the token) marks the
// token stale: with Config.Password the next Dial logs in again, once per
// refusal; without it the refusal is permanent.
//
// # Reading
//
// Read long-polls /sync (Config.PollTimeout) with a filter for the room's
// timeline only, and returns its m.room.message events of types m.text,
// m.notice and m.emote as messages.ChatMessage values: ID is MessageID of
// the event id (stable across connections), Account and UserName are the
// sender's user id, Text the body exactly, Time the server's timestamp.
// An edit (m.replace) comes as Edited with the edited event's ID and the
// new body. The sync token moves on only when every message of a sync has
// been returned, and it is the Dialer's: a new connection resumes where
// the last one stopped, so nothing said while the connection was down is
// missed, and the Dialer's memory of the last 4096 event ids it returned
// keeps what is fetched twice from being returned twice. When more
// happened than one sync returns (Config.TimelineLimit), the server marks
// the timeline "limited": Read then pages /messages backwards from the
// timeline's start to the previous sync token (at most MaxGapEvents events
// and MaxGapBytes of content) and
// returns that gap, oldest first, before the timeline. /messages is rate
// limited on Dendrite (5 requests per 500 ms and device): Read waits as
// M_LIMIT_EXCEEDED asks. A /sync that does not answer within
// PollTimeout + LivenessTimeout fails Read with ErrSilent; the gateway
// dials again. A sync that shows the account left the room (kicked,
// banned) fails Read with ErrLeft. A response over MaxResponseSize fails
// its request.
//
// # Posting
//
// Post sends text as the body of an m.notice (clients show bots' notices
// apart, and never notify for them) and returns MessageID of the new
// event. It makes one request, with the transaction id TxnID(text, n):
// for a frame or fragment a hash of the exact text, which carries the
// envelope (node, incarnation, seq), so when the answer to a post is lost
// and the gateway posts the same text again on the next connection, the
// server recognises the transaction and returns the first event instead
// of making a second. Homeservers keep transaction ids per access token
// for a while (Dendrite: in memory, 30 to 60 minutes); a retry after the
// server restarted or the Dialer logged in again, and a re-stamped post
// (a different text), may make a second event, which receivers drop by its
// envelope.
// Plain text (Node.Post) is counted instead: a retry reuses its
// transaction id, and the same words posted again later make a new event.
//
// Refusals: M_LIMIT_EXCEEDED is chatgateway.RetryAfter with the server's
// retry_after_ms; M_FORBIDDEN (not in the room, muted by power levels)
// and M_UNKNOWN_TOKEN without a password are permanent; M_TOO_LARGE,
// M_BAD_JSON and M_NOT_JSON reject the text (chatgateway.Rejected);
// anything else, a lost answer included, fails the connection. Empty text
// and text that is not valid UTF-8 (a JSON body cannot carry it exactly)
// are rejected before sending.
//
// # Limits
//
// A homeserver refuses an event over MaxEventSize (65 536 bytes of
// canonical JSON for the whole event). Post refuses a body whose JSON
// form (BodyLen: quotes and escapes included) is over MaxBodyLen,
// MaxEventSize less EventReserve for the event's own fields; a text over
// Limits.MaxMessageLen bytes may still fit if it has few characters to
// escape, and frames and fragments cut to MaxMessageLen always fit.
// Limits.PostInterval and PostBurst are Config's, zero by default:
// Dendrite v0.13.8 does not rate limit sending messages at all (its
// limiter covers login, joins and /messages), Synapse does (rc_message),
// and the gateway learns a pace from the first M_LIMIT_EXCEEDED.
//
// # Trust
//
// A Matrix user id (@bot:example.org) is asserted by the homeserver: an
// event's sender is the account whose access token sent it, and a remote
// server's events are signed by that server. Unlike IRC nicks, nobody
// else can post as @bot:example.org without its password, its token, or
// control of example.org's homeserver. Trust each bot by its user id with
// socketscience.WithTrustedAccounts; ChatMessage.UserID is a hash of the
// user id, for display only, never for trust (WithTrustedUsers). Who
// administers the homeserver can post as any of its users: in a room on a
// homeserver you do not trust, sign frames with socketscience.WithSecret.
// The adapter does not use end-to-end encryption (no olm): use it in
// unencrypted rooms.
package matrix
