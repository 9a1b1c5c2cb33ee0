package matrix

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"

	"github.com/socketscience/socketscience/chatgateway"
)

// errCode is the Matrix error code of a refusal ("M_FORBIDDEN"), or "".
func errCode(err error) string {
	var h mautrix.HTTPError
	if errors.As(err, &h) && h.RespError != nil {
		return h.RespError.ErrCode
	}
	return ""
}

// retryAfter is how long an M_LIMIT_EXCEEDED asks to wait: retry_after_ms
// in the body (the spec's), else a Retry-After header in seconds (newer
// servers send both), else defaultRetryAfter.
func retryAfter(err error) time.Duration {
	var h mautrix.HTTPError
	if !errors.As(err, &h) {
		return defaultRetryAfter
	}
	if h.RespError != nil {
		if ms, ok := h.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	if h.Response != nil {
		if s, err := strconv.Atoi(h.Response.Header.Get("Retry-After")); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return defaultRetryAfter
}

// refusal classifies a failed request for the gateway (see
// chatgateway.Conn.Post): M_LIMIT_EXCEEDED waits (RetryAfter);
// M_FORBIDDEN, and M_UNKNOWN_TOKEN without a password to log in again
// with, stop the node (Permanent); a text the server will never take
// (M_TOO_LARGE, 413, M_BAD_JSON, M_NOT_JSON) is Rejected; anything else
// fails the connection. M_UNKNOWN_TOKEN with a password marks the token
// stale, so the next Dial logs in again.
func (d *Dialer) refusal(op string, err error) error {
	wrapped := fmt.Errorf("matrix: %s: %w", op, err)
	switch code := errCode(err); code {
	case mautrix.MLimitExceeded.ErrCode:
		return chatgateway.RetryAfter(retryAfter(err), wrapped)
	case mautrix.MForbidden.ErrCode:
		return chatgateway.Permanent(fmt.Errorf("%w: %w", ErrForbidden, wrapped))
	case mautrix.MUnknownToken.ErrCode:
		d.mu.Lock()
		d.stale = true
		d.mu.Unlock()
		if d.cfg.Password == "" {
			return chatgateway.Permanent(fmt.Errorf("%w: %w", ErrAuth, wrapped))
		}
		d.log.Warn().Err(err).Str("op", op).Msg("access token refused, logging in again")
		return wrapped
	case mautrix.MTooLarge.ErrCode:
		return chatgateway.Rejected(fmt.Errorf("%w: %w", chatgateway.ErrMessageTooLong, wrapped))
	case mautrix.MBadJSON.ErrCode, mautrix.MNotJSON.ErrCode:
		var h mautrix.HTTPError
		if errors.As(err, &h) && h.IsStatus(http.StatusRequestEntityTooLarge) {
			return chatgateway.Rejected(fmt.Errorf("%w: %w", chatgateway.ErrMessageTooLong, wrapped))
		}
		return chatgateway.Rejected(wrapped)
	}
	return wrapped
}
