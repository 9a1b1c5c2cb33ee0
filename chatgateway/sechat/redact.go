package sechat

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Errors end up in Health().Err, the gateway's state handler and logs, so
// no error of this package may carry a secret. The URLs it handles carry
// some: the socket URL's path holds its access token (and its query the
// cursor), and a configured URL may hold credentials. Yet the standard
// library quotes whole URLs in its errors (url.Parse's "parse \"…\": net/url:
// invalid control character in URL", http.Client's `Get "…": …`), so every
// error from a URL-taking call goes through redactErr before it is
// returned or logged.

// urlInText finds URLs quoted in an error's text.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s"'<>]*`)

// redactURL returns raw without userinfo, query and fragment, and, unless
// keepPath, without its path either (a socket URL's path is its token).
// It works on the text, so it also redacts a URL the parser refuses.
func redactURL(raw string, keepPath bool) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/?#@ \t\r\n") {
		// Not a URL we can take apart: nothing of it is safe to show.
		return "[URL redacted]"
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	// Everything up to the last '@' may be userinfo, even in a malformed
	// URL whose "password" holds a '/'.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	host, path, hasPath := strings.Cut(rest, "/")
	switch {
	case !hasPath || path == "":
		return scheme + "://" + host
	case keepPath:
		return scheme + "://" + host + "/" + path
	default:
		return scheme + "://" + host + "/…"
	}
}

// redactErr returns err with every URL in its text redacted (see
// redactURL). A *url.Error is rebuilt with its URL redacted; any other
// error whose text holds a URL is wrapped in one whose Error() is
// redacted and which unwraps to err, so that errors.Is still sees the
// sentinels inside it.
func redactErr(err error, keepPath bool) error {
	if err == nil {
		return nil
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: redactURL(ue.URL, keepPath), Err: redactErr(ue.Err, keepPath)}
	}
	msg := err.Error()
	if !urlInText.MatchString(msg) {
		return err
	}
	return &redactedError{
		msg: urlInText.ReplaceAllStringFunc(msg, func(u string) string { return redactURL(u, keepPath) }),
		err: err,
	}
}

// redactedError is err with a redacted text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

var errBadSocketURL = errors.New("sechat: ws-auth: bad socket URL")
