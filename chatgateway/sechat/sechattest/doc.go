// Package sechattest is a local Stack Exchange chat server that speaks the
// protocol chat bots use, in the spirit of net/http/httptest: tests and the
// demo start one on 127.0.0.1, point the sechat adapter (or any client) at
// its URL, and break it on purpose.
//
//	s := sechattest.NewServer()
//	defer s.Close()
//	bot := s.AddUser("smokey", "bot@example.com", "secret")
//	room := s.AddRoom("Sandbox")
//	// log in at s.URL, open s.RoomURL(room.ID) in a browser, ...
//
// # What it implements
//
// One base URL (Server.URL) is both the login site and the chat site:
//
//   - GET /users/login: a login form with a hidden fkey input; with a
//     valid acct cookie the page's top bar also has a.my-profile, as the
//     real site shows a logged-in visitor (ChatExchange's cookie login
//     checks for it). POST /users/login (email, password, fkey): 302 to /
//     with an HttpOnly acct cookie, or 200 and "The email or password is
//     incorrect." with no cookie (also for a wrong or missing login fkey).
//   - GET /, /chats/join/favorite and /rooms/<room>[/<slug>|/]: chat pages.
//     With a valid acct cookie they carry the chat fkey
//     (<input id="fkey" name="fkey" type="hidden" value="…">) and the
//     topbar user link (<span class="topbar-menu-links"><a href="/users/<id>/<slug>" title="name">name</a></span>);
//     without one, neither (an anonymous view). The room page also has
//     div.js-present whose data-users is the JSON list ({"id","name",…})
//     of the users in the room.
//   - POST /chats/<room>/events (fkey, since, mode, msgCount ≤ 500,
//     optional before/after): {"events":[…],"time":cursor}; joins the room.
//   - POST /ws-auth (roomid, fkey): {"url":"ws://127.0.0.1:<port>/events/<room>/<token>"}.
//   - GET /events/<room>/<token>?l=<time>: the websocket. It needs an Origin
//     header equal to the server's base URL (or http://<Host> of the
//     request), else 403. Frames are {"r<room>":{"e":[events],"t":cursor,"d":n}};
//     keep-alive frames {"r<room>":{"t":cursor,"d":n}} come every
//     keep-alive period, and every third one (the first, fourth, …) also
//     carries "r<room+998>":{}, a room the socket did not ask for.
//   - POST /events (fkey, r<room>=<time>…): the polling alternative to the
//     socket, same shape as a frame.
//   - POST /chats/<room>/messages/new (text, fkey): {"id":N,"time":unix};
//     409 "You can perform this action again in N seconds" ("1 second");
//     {"id":null,"time":null} for a repeat of the user's previous message
//     in the room; 404 "The room does not exist, or you do not have
//     permission"; 403 "Invalid fkey"; 400 for empty text.
//   - POST /messages/<id> (text, fkey): edit, "ok" and event 2; 403
//     "You can only edit your own messages". POST /messages/<id>/delete:
//     "ok" and event 10. POST /chats/leave/<room|all>: event 4.
//   - GET /message/<id>?plain=true: the text exactly as posted; without
//     plain=true, the content HTML.
//   - GET /messages/<id>/history, in the real page's shape: in #content,
//     the message as a transcript shows it (a .monologue with the
//     .username a owner link and a .message holding a[name=<id>] linking
//     /transcript/<room>?m=<id>#<id>, the .content and the .stars badge),
//     a <p> with .stars.owner-star and the pinner's link per pinner, then
//     every version, newest first, as a .monologue labelled <b>edited:</b>
//     (the original <b>said:</b>) with its .message-source.
//   - GET /transcript/message/<id> and /transcript/<room>[?m=<id>]: up to
//     500 messages around the message (or the room's last ones) as
//     monologues (.signature .username a, .message#message-<id>,
//     .content, a.reply-info for a reply ":<id> text", span.edits, the
//     .stars badge with user-star and owner-star), and .room-name a
//     linking /rooms/<room>/<slug>.
//   - GET /users/<id>[/<slug>]: the profile (h1 name, .user-status with ♦
//     for a moderator, .user-message-count-xxl, .user-room-count-xxl,
//     .user-valuecell cells, the second the last message and the third the
//     last seen, "just now" or "<n><s|m|h|d|y> ago" or "n/a").
//   - GET /rooms/info/<room>[/<slug>]: h1 name, .roomcard-xxl p,
//     .room-message-count-xxl, .room-user-count-xxl, #room-ownercards
//     .usercard a per owner (AddRoomOwner). GET /rooms/pingable/<room>:
//     [[user id, name, last seen, last message], …] for everyone ever in
//     the room.
//   - POST /messages/<id>/star (fkey): toggles the user's star, "ok" and
//     event 6 (message_stars, message_owner_stars). /owner-star toggles a
//     pin and /unstar clears stars and pins; both for room owners and
//     moderators (SetModerator) only, else 403 TextPinNotAllowed.
//   - Repeated slashes in a path are served as one ("//chats/leave/1",
//     which ChatExchange builds), never redirected.
//
// TestChatExchangeCompat holds a table (68 rows) of every selector and
// JSON field ChatExchange, the Python client SmokeDetector runs on, reads
// from these pages and answers, each citing the ChatExchange function;
// it fails when any of them goes missing.
//
//   - GET /rooms/<room> is also a page for people: the live transcript
//     (polling GET /rooms/<room>/transcript.json?after=<id>&since=<cursor>
//     every 300 ms) and a form that posts as a named person through
//     POST /rooms/<room>/say (name, text), creating that user on first use.
//
// Event objects carry event_type, time_stamp, content, id, user_id,
// user_name, room_id, room_name, message_id (and message_edits on edits,
// parent_id and show_parent on replies, message_stars and
// message_owner_stars on event 6).
// Event IDs (and so the cursor "t"/"time", which is the last event ID, as in
// the real frames JamesSOBot shows) increase server-wide; message IDs
// increase from 1 server-wide; user IDs start at 1001.
//
// Each websocket has one reader (the handler's goroutine, which also
// answers pings) and one writer goroutine fed by a bounded queue
// (WithSocketQueue); a socket whose queue overflows is closed abruptly.
// Close stops the listener, every connection and every goroutine the
// server started, and waits for them.
//
// # Fault knobs
//
// Throttle, ThrottleNext, RejectPosts, ExpireFKeys, KillSockets, Silence
// (the half-dead socket bot authors complain about: open, but no frames)
// and DelayFrames. Sockets, Posts, Requests, Messages and WaitFor observe.
//
// # Assumptions where the real service is unknown
//
// These follow the contract shared with the sechat adapter; the real
// service may differ:
//
//   - Content: single-line text is HTML-escaped (& < > " ' as &amp; &lt;
//     &gt; &quot; &#39;) and no markdown is rendered. Multi-line text is
//     <div class='full'> with escaped lines joined by " <br> "; when every
//     line starts with 4 spaces it is <pre class='full'> with the 4 spaces
//     removed (as real content shows code blocks) and real newlines. Text
//     longer than the partial threshold (bytes, default 500) is class
//     'partial' and holds only its first threshold bytes; a long single
//     line is wrapped in <div class='partial'>. U+0002 and U+0003 pass
//     through unchanged, in content and in the plain source.
//   - Zero-width characters: with WithZeroWidth, a U+200B follows every 20
//     runes of a word (non-space run) longer than 20 runes, in the plain
//     source and in the history page's .message-source, never in event
//     content. Clients must strip U+200B and U+200C.
//   - An invalid or stale chat fkey answers 403 "Invalid fkey". A chat fkey
//     belongs to one login session (acct cookie) and is checked against the
//     request's cookie; it stays the same across chat pages until
//     ExpireFKeys, after which the next chat page issues a new one.
//   - A ws-auth token is good for one websocket of its room; a second dial
//     with it answers 404.
//   - ?l=<time> replays, in the first frame, the events after that cursor
//     (so a client reconnecting with its last cursor misses nothing kept);
//     without l, the last 100 events ("omitting it results in a lot of
//     history"). A value at or past the cursor replays nothing.
//   - "d" is how far the server-wide cursor moved since the socket's
//     previous frame.
//   - A socket carries, besides its own room, the events of every other
//     room its user is in (posting, the events call, polling or opening a
//     socket joins a room), under that room's key. Clients must read only
//     their own room's key.
//   - A user entering a room produces event 3; leaving, event 4.
//   - POST bodies must be application/x-www-form-urlencoded; anything else
//     answers 404 (JamesSOBot).
//   - Duplicate detection compares with the same user's previous message
//     in the same room only.
//   - Edits and deletes are allowed for EditWindow (115 s) after posting;
//     an unknown message ID answers a 302 (sochat4j), a deleted one the
//     JSON string "This message has already been deleted.".
//   - Deleted messages answer 404 on /message/<id>.
//   - Messages have no length limit beyond the 1 MiB request body.
//   - Slugs keep ASCII letters (lower-cased) and digits, make every other
//     ASCII run one '-' (a trailing one stays) and drop non-ASCII, as the
//     one real page on record shows ("Jeremy Banks Ψ": jeremy-banks-).
//   - A reply's content is its text as posted; the real server renders
//     ":<id> text" as "@<name> text". Markdown is not rendered anywhere.
//   - The star badge counts stars and pins together; .times is empty for
//     one. Anyone logged in may star any message, their own included.
package sechattest
