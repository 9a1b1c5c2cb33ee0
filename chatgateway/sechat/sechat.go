package sechat

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/socketscience/socketscience/chatgateway"
	"github.com/socketscience/socketscience/supervisor"
)

const (
	// DefaultHost is the chat server used when Config.Host and
	// Config.BaseURL are both empty.
	DefaultHost = "chat.stackexchange.com"
	// DefaultLivenessTimeout is how long a socket may go without any frame
	// (keep-alives included) before it counts as dead. SE sends a
	// keep-alive frame well within this, and sockets are known to stop
	// delivering without ever closing.
	DefaultLivenessTimeout = 45 * time.Second
	// DefaultRefreshInterval is how often a healthy socket is rebuilt
	// anyway: SE sockets have been seen to go bad while still sending
	// keep-alives (sochat4j refreshes every 4 h for the same reason).
	DefaultRefreshInterval = 4 * time.Hour
	// MinRetryAfter is the shortest wait Post asks for after a 409 "You can
	// perform this action again in N seconds". SE has been seen to say "0
	// seconds" and refuse again at once; taking that literally made the
	// gateway post tens of thousands of times a second.
	MinRetryAfter = time.Second
	// MaxRetryAfter is the longest wait Post asks for after a 409, however
	// long SE says. Real waits are seconds (tens of seconds for a new
	// account); a broken or hostile answer ("again in 99999999 seconds")
	// must not park the outbound queue for days. After it, the next post
	// attempt just learns the current wait afresh.
	MaxRetryAfter = 2 * time.Minute
	// DefaultRetryAfter is the wait Post asks for after a 409 whose text
	// has no number of seconds (sochat4j guesses the same).
	DefaultRetryAfter = 5 * time.Second
	// DefaultHTTPTimeout bounds each HTTP request of the default client.
	DefaultHTTPTimeout = 30 * time.Second
	// ResumeWindow is how recent a Dialer's last socket cursor must be for
	// its next Dial to resume from it (replaying what was said while the
	// socket was down) rather than from now. Longer outages start afresh:
	// replaying them would re-run old commands long after the fact.
	ResumeWindow = 10 * time.Minute
	// MaxCursorJump is how far one socket frame's cursor "t" may move past
	// the last one (or past the events endpoint's cursor, for a new
	// socket's first frame) before the adapter takes it for corrupt: the
	// cursor counts server-wide events, and even a busy server adds a few
	// thousand during one LivenessTimeout, the longest a healthy socket
	// goes without a frame. A frame beyond it, or behind the last one,
	// fails the connection rather than move the resume cursor where no
	// replay can come from. A genuine jump costs one redial: Dial anchors
	// the check at the events endpoint's cursor again.
	MaxCursorJump = 100_000
	// MaxFetchFailures is on how many connections in a row Read may fail
	// on the same message's plain source before it skips that message
	// (logged as an error). Each of them retried the fetch with backoff,
	// and the gateway redials with backoff in between, so this is
	// minutes of a server refusing one message: past that, holding every
	// later message back for it would deafen the node for good.
	MaxFetchFailures = 5
	// resyncEvents is how many recent message events Dial asks the events
	// endpoint for when the server's cursor is behind the resume cursor (a
	// counter restarted lower): the replay starts before the first of them
	// that Read has not returned yet.
	resyncEvents = 100
	// MaxSingleLineLen is the longest single-line message, in characters
	// (runes), that SE chat accepts. Messages with a line break inside
	// them have no known limit (every frame is one: it starts with ".\n").
	MaxSingleLineLen = 500
)

var (
	// ErrBadCredentials means the login site refused the email and
	// password. Dial returns it wrapped with chatgateway.Permanent.
	ErrBadCredentials = errors.New("sechat: bad credentials")
	// ErrNotLoggedIn means the chat page shows an anonymous visitor even
	// after logging in (or, with only a cookie jar and no credentials, that
	// the jar's session is not logged in: then it is wrapped with
	// chatgateway.Permanent, as nothing the adapter can do fixes it).
	ErrNotLoggedIn = errors.New("sechat: not logged in")
	// ErrThrottled means SE answered a post 409 ("You can perform this
	// action again in N seconds"): the post did not land. Post returns it
	// inside a chatgateway.RetryAfterError.
	ErrThrottled = errors.New("sechat: throttled")
	// ErrDuplicate means SE refused the post as a repeat of the account's
	// previous message in the room ({"id":null}).
	ErrDuplicate = errors.New("sechat: duplicate message refused")
	// ErrNoPermission means the room does not exist or the account may not
	// post in it (HTTP 404 "The room does not exist, or you do not have
	// permission").
	ErrNoPermission = errors.New("sechat: room does not exist or no permission")
	// ErrAccountBlocked means the account is blocked from chat (HTTP 404
	// "Your account is blocked…"). Post returns it wrapped with
	// chatgateway.Permanent.
	ErrAccountBlocked = errors.New("sechat: account blocked")
	// ErrRoomTimeout means the room is in timeout (HTTP 404 "The room is in
	// timeout…").
	ErrRoomTimeout = errors.New("sechat: room in timeout")
	// ErrSilent is what Read returns when no frame arrived for
	// Config.LivenessTimeout; the socket has been closed.
	ErrSilent = errors.New("sechat: socket silent past liveness timeout")
	// ErrFramesLost is what Read returns when a frame shows that frames
	// before it never arrived (its "t" minus "d" is not where the last frame
	// read left the cursor): the socket is closed, and the next one replays
	// from the last frame read.
	ErrFramesLost = errors.New("sechat: socket frames lost")
	// ErrNoPlainSource is what Read returns when a message's plain source
	// could not be fetched (server errors, a stalled fetch) after retries:
	// the socket is closed without moving the resume cursor past the
	// message, so that the next socket replays it.
	ErrNoPlainSource = errors.New("sechat: plain source unavailable")
	// ErrBadCursor is what Read returns when a frame's cursor is
	// implausible: behind the last frame's, or more than MaxCursorJump
	// ahead. The socket is closed without moving the resume cursor, and the
	// next Dial re-establishes it from the events endpoint.
	ErrBadCursor = errors.New("sechat: implausible socket cursor")
	// ErrRefresh is what Read returns once the socket is
	// Config.RefreshInterval old, so that the gateway dials a fresh one.
	ErrRefresh = errors.New("sechat: socket refresh due")
	// ErrEmptyMessage is what Post returns for text that is empty or only
	// whitespace, which SE refuses (HTTP 400).
	ErrEmptyMessage = errors.New("sechat: empty message")
)

// Config configures a Client. Either Email and Password, or Jar, is
// required.
type Config struct {
	// Host is the chat server: "chat.stackexchange.com" (the default),
	// "chat.stackoverflow.com" or "chat.meta.stackexchange.com". The login
	// site is derived from it: meta.stackexchange.com for
	// chat.stackexchange.com, otherwise Host without its "chat." prefix.
	// Everything is over https.
	Host string
	// BaseURL, if set, overrides Host: one base URL (such as
	// "http://127.0.0.1:4711", a sechattest.Server's URL) serves both the
	// login pages and chat.
	BaseURL string
	// Email and Password log the account in. They are sent only to the
	// login site and never logged.
	Email, Password string
	// Jar is a cookie jar that is already logged in, used instead of, or
	// before, Email and Password. With credentials as well, the adapter logs
	// in again when the jar's session turns out to be logged out. Defaults
	// to a new empty jar (so credentials are then required). Whatever jar
	// is used, each host may add at most MaxCookiesPerHost cookies and
	// MaxCookieBytesPerHost bytes to it through the adapter.
	Jar http.CookieJar
	// HTTPClient makes every HTTP request. Defaults to a client with a
	// DefaultHTTPTimeout timeout. The adapter uses a copy of it whose Jar is
	// Config.Jar (or, when that is nil, HTTPClient.Jar, or a new jar), and
	// applies its Timeout to each request as a deadline on the request's
	// context (the same bound, without a goroutine per request).
	HTTPClient *http.Client
	// Logger defaults to zerolog.Nop(). Credentials, cookies, fkeys and
	// socket URLs are never logged.
	Logger *zerolog.Logger
	// Clock times the liveness deadline and the refresh interval.
	// Defaults to supervisor.SystemClock{}.
	Clock supervisor.Clock
	// LivenessTimeout defaults to DefaultLivenessTimeout.
	LivenessTimeout time.Duration
	// RefreshInterval defaults to DefaultRefreshInterval; negative disables
	// refreshing.
	RefreshInterval time.Duration
	// TrustedUsers are the accounts, besides the Client's own, whose
	// messages Read always takes from their plain source, whatever their
	// content looks like. Set it to the node's
	// socketscience.WithTrustedUsers list. Defaults to none: only the
	// account's own messages. (A frame from anyone is fetched anyway:
	// content that may be a frame or fragment always is.)
	TrustedUsers []int64
	// ExactChatText makes Read fetch the plain source of every message, so
	// that a person's message reaches a chat handler exactly as typed
	// (markdown, link URLs and all) rather than as its socket content
	// converted to text. Set it when the node has a chat handler
	// (socketscience.WithChatHandler) that needs the source. Defaults to
	// off: one GET per message per node is load on SE that a node without
	// such a handler does not need.
	ExactChatText bool
}

// defaultTransport is http.DefaultTransport keeping enough idle connections
// per host for several rooms' fetches in flight (maxFetches each) and
// posts: with the standard two, every fetch past the second opened (and
// closed) a connection of its own. Idle ones still close after
// IdleConnTimeout (90 s).
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4 * (maxFetches + 1)
	return t
}()

// Client is one logged-in account session on one chat server: its cookies,
// its chat fkey and its own identity. It is shared by every room the
// account joins, because SE ties the fkey to the session (logging in again
// would invalidate the fkey the other rooms use) and rate-limits per
// account and server, not per room. A bot in several rooms makes one Client
// and one socketscience.Node per room, each with client.Room(id) as its
// Dialer; each room then has its own socket, reconnects on its own, and
// keeps its own outbound queue.
//
// A Client is safe for concurrent use. It logs in lazily, on the first
// Dial, and again only when the chat page shows it logged out.
type Client struct {
	cfg        Config
	log        zerolog.Logger
	http       *http.Client
	noRedirect *http.Client  // for the login POST, whose 302 is the answer
	timeout    time.Duration // bounds each request: the HTTP client's Timeout
	chatRoot   string        // "https://chat.stackexchange.com", no trailing slash
	loginRoot  string        // "https://meta.stackexchange.com"
	origin     string        // Origin header for the socket: the chat root's scheme://host
	chatHost   string        // "chat.stackexchange.com": names rooms in Identity.Room
	haveCreds  bool

	// sess is a one-slot semaphore guarding the session fields below; a
	// channel rather than a mutex so that waiting for it honours ctx.
	sess     chan struct{}
	fkey     string // chat fkey; "" until the chat page was read
	self     chatgateway.Identity
	loggedIn bool // believed logged in: a jar was given, or a login succeeded

	ident atomic.Pointer[chatgateway.Identity] // self, readable without waiting for a login

	trusted map[int64]bool // Config.TrustedUsers
}

// NewClient checks cfg and returns a Client. It does no I/O: the account
// logs in on the first Dial.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg, log: zerolog.Nop(), sess: make(chan struct{}, 1)}
	if cfg.Logger != nil {
		c.log = *cfg.Logger
	}
	if c.cfg.Clock == nil {
		c.cfg.Clock = supervisor.SystemClock{}
	}
	if c.cfg.LivenessTimeout <= 0 {
		c.cfg.LivenessTimeout = DefaultLivenessTimeout
	}
	if c.cfg.RefreshInterval == 0 {
		c.cfg.RefreshInterval = DefaultRefreshInterval
	}

	c.trusted = make(map[int64]bool, len(cfg.TrustedUsers))
	for _, id := range cfg.TrustedUsers {
		c.trusted[id] = true
	}

	c.haveCreds = cfg.Email != "" && cfg.Password != ""
	jar := cfg.Jar
	if jar == nil && cfg.HTTPClient != nil {
		jar = cfg.HTTPClient.Jar
	}
	c.loggedIn = jar != nil
	if !c.haveCreds && jar == nil {
		return nil, errors.New("sechat: Config needs Email and Password, or a logged-in Jar")
	}
	own := jar == nil
	if own {
		jar, _ = cookiejar.New(nil) // never fails with nil options
	}
	hc := http.Client{Timeout: DefaultHTTPTimeout, Transport: defaultTransport}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.Jar = newBoundedJar(jar, own, c.log)
	// do bounds each request by the client's Timeout itself, as a deadline
	// on the request's context: for Client.Timeout, net/http starts a
	// goroutine and a timer per request, which were 2% of a node's CPU end
	// to end.
	c.timeout, hc.Timeout = hc.Timeout, 0
	c.http = &hc
	nr := hc
	nr.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.noRedirect = &nr

	switch {
	case cfg.BaseURL != "":
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sechat: bad BaseURL %q", redactURL(cfg.BaseURL, true))
		}
		root := strings.TrimRight(u.String(), "/")
		c.chatRoot, c.loginRoot = root, root
		c.origin = u.Scheme + "://" + u.Host
		c.chatHost = strings.ToLower(u.Host)
	default:
		host := strings.ToLower(strings.TrimSpace(cfg.Host))
		if host == "" {
			host = DefaultHost
		}
		login, ok := loginHost(host)
		if !ok {
			return nil, fmt.Errorf("sechat: unknown chat host %q (want chat.stackexchange.com, chat.stackoverflow.com or chat.meta.stackexchange.com)", cfg.Host)
		}
		c.chatRoot = "https://" + host
		c.loginRoot = "https://" + login
		c.origin = c.chatRoot
		c.chatHost = host
	}
	return c, nil
}

// loginHost maps a chat host to the site whose login sets its cookies.
// chat.stackexchange.com has no parent site of its own; like ChatExchange,
// it logs in on meta.stackexchange.com, whose cookies cover
// *.stackexchange.com.
func loginHost(chatHost string) (string, bool) {
	if chatHost == "chat.stackexchange.com" {
		return "meta.stackexchange.com", true
	}
	site, ok := strings.CutPrefix(chatHost, "chat.")
	return site, ok && strings.Contains(site, ".")
}

// Room returns a Dialer for one room of this account's chat server. Every
// Conn it dials shares the Client's session, and its Identity names the room
// as "<chat host>/rooms/<id>", such as "chat.stackexchange.com/rooms/11540"
// (SE's own room URL without the scheme): the same for every member.
func (c *Client) Room(roomID int64) chatgateway.Dialer {
	return &roomDialer{c: c, room: roomID, name: c.roomName(roomID)}
}

// roomName is Identity.Room for a room of this chat server. Identity.Account
// stays empty: SE accounts are numbers (UserID).
func (c *Client) roomName(roomID int64) string {
	return c.chatHost + "/rooms/" + strconv.FormatInt(roomID, 10)
}

// Identity returns the account's own user id and name as the chat page
// showed them, or the zero Identity before the first successful Dial. Its
// Room is empty: a Client is in no one room (each Conn's Identity names its
// room).
func (c *Client) Identity() chatgateway.Identity {
	if id := c.ident.Load(); id != nil {
		return *id
	}
	return chatgateway.Identity{}
}
