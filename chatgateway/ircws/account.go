package ircws

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// caseMapping is how a server compares nicks and channel names: its
// CASEMAPPING ISUPPORT token.
type caseMapping int

const (
	// rfc1459 folds A-Z to a-z and []\~ to {}|^. InspIRCd's default, and
	// the default when a server advertises nothing.
	rfc1459 caseMapping = iota
	// strictRFC1459 folds A-Z and []\ but not ~.
	strictRFC1459
	// ascii folds A-Z only.
	ascii
)

// parseCaseMapping reads a CASEMAPPING value. A mapping it does not know
// (rfc7613, utf8 and the like) is taken as ascii: every mapping folds at
// least A-Z, and folding less than the server can only make two spellings
// of one nick look like two accounts (a trust that fails), whereas folding
// more would make two of the server's accounts look like one (a trust
// that a stranger could borrow).
func parseCaseMapping(v string) (caseMapping, bool) {
	switch v {
	case "rfc1459":
		return rfc1459, true
	case "strict-rfc1459":
		return strictRFC1459, true
	case "ascii":
		return ascii, true
	}
	return ascii, false
}

func (m caseMapping) String() string {
	return [...]string{"rfc1459", "strict-rfc1459", "ascii"}[m]
}

// fold lower-cases s as the server does.
func (m caseMapping) fold(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + ('a' - 'A')
		case m == ascii:
		case c == '[':
			b[i] = '{'
		case c == ']':
			b[i] = '}'
		case c == '\\':
			b[i] = '|'
		case c == '~' && m == rfc1459:
			b[i] = '^'
		}
	}
	return string(b)
}

// ircLower lower-cases s with the rfc1459 casemapping, which InspIRCd uses
// by default: A-Z and []\~ map to a-z and {}|^.
func ircLower(s string) string { return rfc1459.fold(s) }

// Account is the account string the adapter gives a nick, in
// chatgateway.Identity.Account and messages.ChatMessage.Account: the nick
// folded with the rfc1459 casemapping (A-Z and []\~ to a-z and {}|^), as
// InspIRCd and most servers compare nicks. Trust compares it byte for
// byte, so nodes trust each other with
// socketscience.WithTrustedAccounts(ircws.TrustedAccounts(1, nicks...)...).
//
// A server that advertises another CASEMAPPING (ascii, strict-rfc1459) has
// the connection fold with that instead; the strings then differ from
// Account's only for nicks holding [ ] \ or ~, which bot nicks had better
// avoid. A nick is what the server says it is: whoever holds the nick
// holds the account (IRC services can protect registered nicks; use
// socketscience.WithSecret where that matters).
func Account(nick string) string { return ircLower(nick) }

// TrustedAccounts returns the Accounts of the given nicks and of each
// one's first fallbacks fallback nicks (FallbackNicks), for
// socketscience.WithTrustedAccounts.
func TrustedAccounts(fallbacks int, nicks ...string) []string {
	var out []string
	for _, n := range nicks {
		out = append(out, Account(n))
		for _, f := range FallbackNicks(n, fallbacks) {
			out = append(out, Account(f))
		}
	}
	return out
}

// Room is the chatgateway.Identity.Room of a channel on the server at
// serverURL (a Config.URL): "irc://host:port/#channel", with scheme irc
// (plain TCP), ircs (TLS), ws or wss, the host lower-cased, the default
// port filled in (6667, 6697, 80, 443) and the channel folded with the
// rfc1459 casemapping, so that every member computes the same name. A
// connection to a server that advertises another CASEMAPPING folds the
// channel with that.
func Room(serverURL, channel string) (string, error) {
	base, err := roomBase(serverURL)
	if err != nil {
		return "", err
	}
	return base + "/" + ircLower(channel), nil
}

// roomBase is Room without the channel: "scheme://host:port".
func roomBase(serverURL string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("ircws: bad URL: %w", err)
	}
	scheme, port := u.Scheme, u.Port()
	var def string
	switch scheme {
	case "irc", "tcp":
		scheme, def = "irc", "6667"
	case "ircs":
		def = "6697"
	case "ws":
		def = "80"
	case "wss":
		def = "443"
	default:
		return "", fmt.Errorf("ircws: URL scheme %q: want ws, wss, irc or ircs", u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("ircws: URL %q has no host", serverURL)
	}
	if port == "" {
		port = def
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}
