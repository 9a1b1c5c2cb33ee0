// Package ircws connects a node to an IRC channel, over WebSocket (as
// InspIRCd's m_websocket and other IRCv3 WebSocket gateways serve it) or
// over plain TCP or TLS: it implements chatgateway.Dialer and
// chatgateway.Conn.
//
//	d, err := ircws.NewDialer(ircws.Config{
//		URL:     "ws://127.0.0.1:8097/",
//		Channel: "#bots",
//		Nick:    "smokey-alpha",
//	})
//	...
//	node, err := socketscience.New(d,
//		socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, "smokey-alpha", "smokey-beta")...))
//
// # Connecting
//
// Dial opens the WebSocket with an Origin header (InspIRCd 3 refuses a
// handshake without one; the default is http://<host>) and offers the
// text.ircv3.net and text.inspircd.org subprotocols; every WebSocket
// message is one IRC line, without CR LF. It then registers: PASS (if
// Config.Password), CAP LS 302 and CAP REQ for message-tags, server-time
// and echo-message where offered, SASL PLAIN (if Config.SASLUser), NICK
// and USER. A nick in use (433) is retried as nick_, nick2, nick3, …
// (FallbackNicks). Once the MOTD has ended it JOINs Config.Channel (with
// Config.Key) and returns when the server has listed the channel's names.
// Refused credentials, a ban, an invalid nick and a refused JOIN (banned,
// invite-only, bad key) fail Dial with errors wrapping
// chatgateway.ErrPermanent, so the gateway stops retrying. What
// registration holds for later (the channel's messages before the end of
// NAMES, a multi-line CAP LS) is bounded by MaxRegistrationBuffer bytes and
// MaxEarlyMessages messages; a server that sends more fails Dial with
// ErrRegistrationOverflow.
//
// # Reading and posting
//
// Read returns the channel's PRIVMSGs (not CTCP/ACTION, not private
// messages) as messages.ChatMessage values: ID is a counter local to the
// Dialer, increasing across its connections (IRC has no message ids the
// gateway could use: msgid tags are strings, and optional); Account is
// the nick folded with the server's casemapping (CASEMAPPING from
// ISUPPORT: rfc1459, strict-rfc1459 or ascii; rfc1459 if the server says
// nothing, ascii for a mapping the adapter does not know); UserName is the
// nick; UserID is UserID(nick), a hash for display and deduplication that
// is no identity (see Trust); Time is the server-time tag if there is
// one. Identity carries the same Account, and Room names the channel as
// Room does: "irc://host:port/#channel" (ircs, ws or wss), the same for
// every member. When the server changes the connection's own nick (a
// NICK line for it, as IRC services send to enforce a registered nick),
// Identity and Limits follow the new nick. Read returns the
// connection's own posts too, as the gateway expects: the server echoes
// them when it granted echo-message, else Post hands Read a local echo
// once the post is proven (below).
//
// Post sends one PRIVMSG and waits for proof that the server took it.
// IRC has no acknowledgement, but it refuses a PRIVMSG with a numeric
// (404 ERR_CANNOTSENDTOCHAN for a moderated channel, a ban or a mute;
// 442, 482, 489, 477, …) and processes a client's lines in order: with
// echo-message the echo is the proof, without it the PONG to a PING with a
// unique token that Post writes right after the PRIVMSG (one more line
// per post, which also paces posts to the server's round trip). A refusal
// fails Post with ErrRefused, unmarked: the gateway tears the connection
// down and posts again after a reconnect, with backoff. It is not
// chatgateway.Rejected (the payload would be dropped, though a mode or
// ban that lifts later would let it through) nor Permanent (it would stop
// the node for good over a mute). Post waits no longer than its context
// and the liveness timeout. IRC lines cannot hold line breaks, so frames
// and fragments travel with the newline of their ".\n" prefix sent as a
// space (". \x02…", ". \x0f…", and in a first fragment the embedded
// frame's ". \x02"); Read puts the newline back in lines that start so.
// Any other text with CR or LF is refused (chatgateway.ErrRejected), and
// so is plain text already in that form (ErrWireForm: ". \x02…" or
// ". \x0f…", also behind leading whitespace or zero-width characters),
// which every receiver would otherwise read as a frame: the mapping is
// injective, so a post that is not a frame never arrives as one.
//
// # Limits
//
// The server relays ":nick!user@host PRIVMSG #chan :text" and silently
// cuts it at 510 bytes (LINELEN−2 where the server advertises LINELEN).
// Limits.MaxMessageLen is that budget minus the prefix, using the
// user@host the server showed in the connection's own JOIN (or ~user and a
// 63-byte host if it never did): texts the gateway posts are never cut.
// Longer payloads go as fragments. Limits.PostInterval and PostBurst
// (DefaultPostInterval, DefaultPostBurst) keep a node under InspIRCd's
// default flood class, which otherwise holds lines back (fakelag) and
// disconnects a client whose queued input passes its recvq ("RecvQ
// exceeded") or, with fakelag off, "Excess Flood". Without echo-message
// each post also costs the PING that proves it (one more penalty point on
// InspIRCd), so Limits.PostInterval is then twice Config.PostInterval.
//
// # Liveness
//
// One reader goroutine and one write pump own the socket (as in
// gorilla/websocket's chat example): every write, PONGs and PINGs
// included, goes through the pump, so a server that stops reading blocks
// nothing but the pump. A write that cannot complete within 10 s fails
// the connection (ErrStalled). Close lets the pump send QUIT for at most
// 200 ms, then closes the transport under whatever it is stuck on, and
// returns.
//
// The adapter answers the server's PINGs and sends its own IRC PING, with
// a unique token, every Config.PingInterval in which nothing has proved
// for half that long that the server processes what we send. Liveness
// covers both directions: when nothing at all arrives for
// Config.LivenessTimeout, or a PING of ours goes unanswered that long (a
// server that keeps sending but reads nothing), Read fails with ErrSilent
// and the gateway dials again. WebSocket pings are off by
// default, and never sent more often than MinWSPingInterval: InspIRCd 3
// closes a connection whose ping or pong frames come within 10 s of each
// other. Timers run on Config.Clock, so tests drive them with a fake clock.
//
// # Trust
//
// IRC has no shared bot account like Stack Exchange chat's SmokeDetector
// account: each instance has its own nick, and so its own Account. Nodes
// must trust each other explicitly, by account string, with
// socketscience.WithTrustedAccounts(TrustedAccounts(n, nicks...)...),
// which covers each nick's first n fallback nicks. Trust compares the
// strings themselves. UserID is a 63-bit FNV-1a hash of the folded nick;
// FNV is invertible, so a nick with the same UserID as a trusted one can
// be found with about 2^32 work: UserID is not an identity, and must not
// be used for trust (socketscience.WithTrustedUsers). A nick is not
// an identity either (anyone may take a free one, unless IRC services
// protect it): use socketscience.WithSecret in shared channels.
package ircws
