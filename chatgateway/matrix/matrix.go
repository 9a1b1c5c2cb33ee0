package matrix

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/socketscience/socketscience/chatgateway"
)

const (
	// DefaultPollTimeout is how long the server may hold one /sync long
	// poll open when nothing happens (its "timeout" parameter).
	DefaultPollTimeout = 30 * time.Second
	// DefaultLivenessTimeout is how much longer than the poll timeout a
	// /sync may take to answer before Read fails with ErrSilent: a server
	// (or a path to it) that stops answering is noticed within
	// DefaultPollTimeout+DefaultLivenessTimeout.
	DefaultLivenessTimeout = 15 * time.Second
	// DefaultRequestTimeout bounds every other request: login, join, a
	// post, one page of /messages.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultTimelineLimit is the most events one /sync returns for the
	// room; when more happened since the last one the server says
	// "limited" and Read fetches the rest with /messages.
	DefaultTimelineLimit = 50
	// DefaultDeviceName is the display name of the device a password login
	// creates.
	DefaultDeviceName = "socketscience"
	// MaxGapEvents bounds the events Read fetches with /messages to close
	// one gap; a longer outage loses what lies before them (logged as
	// "gap not closed").
	MaxGapEvents = 10000
	// MaxGapBytes bounds the bodies Read holds to close one gap, so that a
	// room flooded while the connection was down cannot fill the heap.
	MaxGapBytes = 32 << 20
	// MaxResponseSize bounds one response's body: a sync of
	// DefaultTimelineLimit full events is about 3.2 MiB, a /messages page
	// about 6.4 MiB. Larger answers fail the request (mautrix-go's own
	// default is 512 MiB).
	MaxResponseSize = 16 << 20
	// gapPage is how many events one /messages page asks for.
	gapPage = 100
	// seenEvents is how many delivered event ids a Dialer remembers, so
	// that an event fetched twice (a sync replayed after a redial, a gap
	// page overlapping the timeline) is returned once.
	seenEvents = 4096
	// defaultRetryAfter is the wait for an M_LIMIT_EXCEEDED without
	// retry_after_ms.
	defaultRetryAfter = time.Second
)

var (
	// ErrSilent: a /sync did not answer within the poll timeout plus the
	// liveness timeout.
	ErrSilent = errors.New("matrix: server silent past liveness timeout")
	// ErrLeft: the account is no longer in the room (kicked, banned, or it
	// left).
	ErrLeft = errors.New("matrix: no longer in the room")
	// ErrEmptyMessage: Post was given empty text.
	ErrEmptyMessage = errors.New("matrix: empty message")
	// ErrInvalidUTF8: Post was given text that is not valid UTF-8, which a
	// JSON event body cannot carry exactly.
	ErrInvalidUTF8 = errors.New("matrix: text is not valid UTF-8")
	// ErrAuth: the server refused the credentials (a wrong password, an
	// access token it does not know and no password to log in again).
	// Dial wraps it with chatgateway.Permanent.
	ErrAuth = errors.New("matrix: authentication failed")
	// ErrForbidden: the server refused with M_FORBIDDEN (joining a room the
	// account may not join, posting where it may not). Permanent.
	ErrForbidden = errors.New("matrix: forbidden")
)

// Config is where and how to connect. HomeserverURL, Room and either
// Password (with UserID) or AccessToken are required.
type Config struct {
	// HomeserverURL is the client-server API's base URL, such as
	// "https://matrix.example.org" or "http://127.0.0.1:8008".
	HomeserverURL string
	// Room is the room to join: its id ("!abc:example.org") or an alias
	// ("#bots:example.org"), resolved once per Dialer.
	Room string
	// UserID is the account, "@bot:example.org" or its localpart "bot".
	// With AccessToken alone the server says who the token is.
	UserID string
	// Password logs in with m.login.password. When the server forgets the
	// access token (M_UNKNOWN_TOKEN) the Dialer logs in again, once per
	// refusal, if Password is set; otherwise the refusal is permanent.
	Password string
	// AccessToken, if set, is used instead of logging in.
	AccessToken string
	// DeviceID is reused by a password login (so the server keeps one
	// device for the bot instead of a new one per start). With
	// AccessToken it is the token's device, as the server reports it.
	DeviceID string
	// DeviceName is a new device's display name. Defaults to
	// DefaultDeviceName.
	DeviceName string
	// PostInterval and PostBurst are reported in Limits for the gateway's
	// pacing. Defaults to zero: homeservers differ (Synapse limits
	// messages, Dendrite v0.13.8 does not), so the gateway learns a pace
	// from M_LIMIT_EXCEEDED answers.
	PostInterval time.Duration
	PostBurst    int
	// PollTimeout, LivenessTimeout and RequestTimeout default to
	// DefaultPollTimeout, DefaultLivenessTimeout and
	// DefaultRequestTimeout.
	PollTimeout     time.Duration
	LivenessTimeout time.Duration
	RequestTimeout  time.Duration
	// TimelineLimit defaults to DefaultTimelineLimit.
	TimelineLimit int
	// HTTPClient defaults to a client of its own (no overall timeout: each
	// request has its own deadline).
	HTTPClient *http.Client
	// Logger defaults to zerolog.Nop().
	Logger *zerolog.Logger
}

// Dialer connects to one room. It implements chatgateway.Dialer. It keeps,
// across its connections, the access token, the room id, the sync token
// to resume from and the ids of recent events it returned, so a redial
// misses nothing and repeats nothing.
type Dialer struct {
	cfg    Config
	hsHost string // Identity.Room's host
	log    zerolog.Logger

	mu       sync.Mutex
	token    string
	device   id.DeviceID
	user     id.UserID
	stale    bool // the server refused token: log in again before using it
	roomID   id.RoomID
	since    string // next_batch of the last sync whose events were all returned
	seen     *seenSet
	plainSeq int64 // completed plain-text posts, part of their transaction ids
}

var _ chatgateway.Dialer = (*Dialer)(nil)

// NewDialer checks cfg and fills in its defaults.
func NewDialer(cfg Config) (*Dialer, error) {
	u, err := url.Parse(cfg.HomeserverURL)
	switch {
	case cfg.HomeserverURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("matrix: bad HomeserverURL %q", cfg.HomeserverURL)
	case cfg.Room == "" || (cfg.Room[0] != '!' && cfg.Room[0] != '#') || !strings.Contains(cfg.Room, ":"):
		return nil, fmt.Errorf("matrix: bad Room %q (want !id:server or #alias:server)", cfg.Room)
	case cfg.AccessToken == "" && (cfg.Password == "" || cfg.UserID == ""):
		return nil, errors.New("matrix: Config needs AccessToken, or UserID and Password")
	}
	if cfg.DeviceName == "" {
		cfg.DeviceName = DefaultDeviceName
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.LivenessTimeout <= 0 {
		cfg.LivenessTimeout = DefaultLivenessTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.TimelineLimit <= 0 {
		cfg.TimelineLimit = DefaultTimelineLimit
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	d := &Dialer{cfg: cfg, hsHost: u.Host, log: zerolog.Nop(), token: cfg.AccessToken,
		device: id.DeviceID(cfg.DeviceID), seen: newSeenSet(seenEvents)}
	if cfg.Logger != nil {
		d.log = cfg.Logger.With().Str("room", cfg.Room).Logger()
	}
	if cfg.Room[0] == '!' {
		d.roomID = id.RoomID(cfg.Room)
	}
	return d, nil
}

// Dial logs in (unless it holds a token the server still knows), joins the
// room, and on its first connection takes the room's current sync
// position: Read returns what is said from then on, and later connections
// resume where the last one stopped.
func (d *Dialer) Dial(ctx context.Context) (chatgateway.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	roomID, err := d.join(ctx, cli)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	since := d.since
	d.mu.Unlock()
	if since == "" {
		resp, err := cli.FullSyncRequest(ctx, mautrix.ReqSync{FilterID: syncFilter(roomID, 1)})
		if err != nil {
			return nil, d.refusal("first sync", err)
		}
		d.mu.Lock()
		if d.since == "" {
			d.since = resp.NextBatch
		}
		d.mu.Unlock()
	}
	return d.newConn(cli, roomID), nil
}

// client returns a client with a token the server accepts: the one held,
// or a new one from a password login when there is none or the server
// refused the last.
func (d *Dialer) client(ctx context.Context) (*mautrix.Client, error) {
	d.mu.Lock()
	token, stale, user, device := d.token, d.stale, d.user, d.device
	d.mu.Unlock()
	if user == "" {
		user = userID(d.cfg.UserID, d.hsHost)
	}
	cli, err := mautrix.NewClient(d.cfg.HomeserverURL, user, token)
	if err != nil {
		return nil, fmt.Errorf("matrix: %w", err)
	}
	cli.Client = d.cfg.HTTPClient
	cli.DefaultHTTPRetries = 0 // one attempt: the gateway owns retrying
	cli.ResponseSizeLimit = MaxResponseSize
	if token == "" || stale {
		if d.cfg.Password == "" {
			return nil, chatgateway.Permanent(fmt.Errorf("%w: the server refused the access token and no password is configured", ErrAuth))
		}
		if err := d.login(ctx, cli, device); err != nil {
			return nil, err
		}
		return cli, nil
	}
	who, err := cli.Whoami(ctx)
	if err != nil {
		return nil, d.refusal("whoami", err)
	}
	cli.UserID, cli.DeviceID = who.UserID, who.DeviceID
	d.mu.Lock()
	d.user, d.device = who.UserID, who.DeviceID
	d.mu.Unlock()
	return cli, nil
}

func (d *Dialer) login(ctx context.Context, cli *mautrix.Client, device id.DeviceID) error {
	resp, err := cli.Login(ctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: d.cfg.UserID},
		Password:                 d.cfg.Password,
		DeviceID:                 device,
		InitialDeviceDisplayName: d.cfg.DeviceName,
		StoreCredentials:         true,
	})
	if err != nil {
		if code := errCode(err); code == mautrix.MForbidden.ErrCode || code == "M_USER_DEACTIVATED" {
			return chatgateway.Permanent(fmt.Errorf("%w: %w", ErrAuth, err))
		}
		return d.refusal("login", err)
	}
	d.mu.Lock()
	d.token, d.stale, d.user, d.device = resp.AccessToken, false, resp.UserID, resp.DeviceID
	d.mu.Unlock()
	d.log.Info().Str("user_id", resp.UserID.String()).Str("device_id", resp.DeviceID.String()).Msg("logged in")
	return nil
}

// join resolves the alias (once) and joins the room; joining a room the
// account is in already is harmless.
func (d *Dialer) join(ctx context.Context, cli *mautrix.Client) (id.RoomID, error) {
	d.mu.Lock()
	roomID := d.roomID
	d.mu.Unlock()
	target := string(roomID)
	if target == "" {
		target = d.cfg.Room
	}
	resp, err := cli.JoinRoom(ctx, target, nil)
	if err != nil {
		return "", d.refusal("join", err)
	}
	d.mu.Lock()
	d.roomID = resp.RoomID
	d.mu.Unlock()
	return resp.RoomID, nil
}

// userID makes "@local:host" of a localpart, with host the homeserver
// URL's host without its port (the usual server name).
func userID(user, hsHost string) id.UserID {
	if user == "" || strings.HasPrefix(user, "@") {
		return id.UserID(user)
	}
	host := hsHost
	if h, _, ok := strings.Cut(hsHost, ":"); ok {
		host = h
	}
	return id.UserID("@" + user + ":" + host)
}
