package ircws

import (
	"errors"
	"slices"
	"strings"
)

// Line is one parsed IRC message (RFC 1459 / 2812 with IRCv3 message
// tags):
//
//	['@' tags SPACE] [':' prefix SPACE] command {SPACE param} [SPACE ':' trailing]
//
// The trailing parameter, if any, is the last element of Params; Trailing
// records that it was written with a ':' (so it may be empty or hold
// spaces).
type Line struct {
	// Tags are the IRCv3 message tags, unescaped. A tag without a value
	// maps to "".
	Tags map[string]string
	// Prefix is the source: "nick!user@host" or a server name.
	Prefix  string
	Command string
	Params  []string
	// Trailing: the last parameter was given after " :".
	Trailing bool
}

// ErrBadLine is returned by ParseLine for a line with no command, with a
// command that is neither letters nor three digits, or with CR, LF or NUL
// inside it.
var ErrBadLine = errors.New("ircws: malformed IRC line")

// ParseLine parses one IRC line, without its CR LF (trailing CR and LF are
// removed if present). It accepts what servers send in practice: runs of
// spaces between words, a tag block or prefix without anything after is an
// error, as is an empty line. Commands are returned upper-cased.
func ParseLine(s string) (Line, error) {
	s = strings.TrimRight(s, "\r\n")
	if strings.ContainsAny(s, "\r\n\x00") {
		// No IRC line holds them. A CR would end the line on the server's
		// side when we echo a parameter back (a PONG), letting the server
		// make us send a line of its choosing.
		return Line{}, ErrBadLine
	}
	var l Line
	if strings.HasPrefix(s, "@") {
		var tags string
		tags, s, _ = strings.Cut(s[1:], " ")
		l.Tags = parseTags(tags)
		s = strings.TrimLeft(s, " ")
	}
	if strings.HasPrefix(s, ":") {
		l.Prefix, s, _ = strings.Cut(s[1:], " ")
		s = strings.TrimLeft(s, " ")
	}
	var cmd string
	cmd, s, _ = strings.Cut(s, " ")
	if !validCommand(cmd) {
		return Line{}, ErrBadLine
	}
	l.Command = strings.ToUpper(cmd)
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == ':' {
			l.Params = append(l.Params, s[1:])
			l.Trailing = true
			break
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		l.Params = append(l.Params, p)
	}
	return l, nil
}

// validCommand: RFC 1459 commands are one or more letters or exactly three
// digits. Anything else (":" in ": :") is no command, and accepting it
// would let a line through that formats to one that does not parse.
func validCommand(cmd string) bool {
	if len(cmd) == 3 && isDigit(cmd[0]) && isDigit(cmd[1]) && isDigit(cmd[2]) {
		return true
	}
	if cmd == "" {
		return false
	}
	for i := 0; i < len(cmd); i++ {
		if c := cmd[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func parseTags(s string) map[string]string {
	tags := make(map[string]string)
	for _, kv := range strings.Split(s, ";") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			continue
		}
		tags[k] = unescapeTag(v)
	}
	return tags
}

// unescapeTag undoes IRCv3 tag value escaping: \: ; \s space, \\ \, \r CR,
// \n LF; a backslash before anything else is dropped, as is a lone one at
// the end.
func unescapeTag(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func escapeTag(v string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\:`, " ", `\s`, "\r", `\r`, "\n", `\n`)
	return r.Replace(v)
}

// Nick is the nick part of the prefix ("nick!user@host" → "nick").
func (l Line) Nick() string {
	n, _, _ := strings.Cut(l.Prefix, "!")
	n, _, _ = strings.Cut(n, "@")
	return n
}

// Param returns the i-th parameter, or "" if there is none (i may be
// anything: lines come from the server, and a numeric may come with no
// parameters at all).
func (l Line) Param(i int) string {
	if i >= 0 && i < len(l.Params) {
		return l.Params[i]
	}
	return ""
}

// Last returns the last parameter (usually the trailing one), or "" if
// there is none.
func (l Line) Last() string { return l.Param(len(l.Params) - 1) }

// String formats the line for the wire, without CR LF. The last parameter
// is written after " :" when Trailing is set or when it needs it (empty,
// starting with ':' or holding a space). Tags are written in sorted order.
func (l Line) String() string {
	var b strings.Builder
	if len(l.Tags) > 0 {
		b.WriteByte('@')
		keys := make([]string, 0, len(l.Tags))
		for k := range l.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(k)
			if v := l.Tags[k]; v != "" {
				b.WriteByte('=')
				b.WriteString(escapeTag(v))
			}
		}
		b.WriteByte(' ')
	}
	if l.Prefix != "" {
		b.WriteByte(':')
		b.WriteString(l.Prefix)
		b.WriteByte(' ')
	}
	b.WriteString(l.Command)
	for i, p := range l.Params {
		b.WriteByte(' ')
		if i == len(l.Params)-1 && (l.Trailing || p == "" || p[0] == ':' || strings.Contains(p, " ")) {
			b.WriteByte(':')
		}
		b.WriteString(p)
	}
	return b.String()
}
