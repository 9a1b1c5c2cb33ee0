package sechat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/socketscience/socketscience/chatgateway"
)

// maxBody bounds every response body read. Plain sources are the largest
// (a frame is at most messages.DefaultMaxFrameLen, plus inserted zero-width
// characters); anything bigger is not something this adapter can use.
const maxBody = 4 << 20

const userAgent = "socketscience-sechat (+https://github.com/socketscience/socketscience)"

// response is a fully read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
	final  *url.URL // the URL that answered, after redirects
}

func (r *response) text() string { return strings.TrimSpace(string(r.body)) }

// snippet is the start of the body, for error messages. The endpoints whose
// bodies end up in errors never echo credentials or the fkey.
func (r *response) snippet() string {
	s := r.text()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// do makes one request and reads the whole answer, within c.timeout. form,
// if not nil, is sent x-www-form-urlencoded (SE answers 404 to POST bodies
// of any other type).
func (c *Client) do(ctx context.Context, hc *http.Client, method, rawURL string, form url.Values) (*response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return nil, fmt.Errorf("sechat: %w", redactErr(err, true))
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sechat: %s %s: %w", method, req.URL.Path, redactErr(err, true))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("sechat: %s %s: reading answer: %w", method, req.URL.Path, redactErr(err, true))
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("sechat: %s %s: answer over %d bytes", method, req.URL.Path, maxBody)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b, final: resp.Request.URL}, nil
}

// lock takes the session semaphore, or gives up when ctx ends.
func (c *Client) lock(ctx context.Context) error {
	select {
	case c.sess <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Client) unlock() { <-c.sess }

// session returns the chat fkey and own identity, logging in and reading the
// chat page first if that has not happened yet.
func (c *Client) session(ctx context.Context) (string, chatgateway.Identity, error) {
	if err := c.lock(ctx); err != nil {
		return "", chatgateway.Identity{}, err
	}
	defer c.unlock()
	if c.fkey == "" {
		if err := c.establishLocked(ctx); err != nil {
			return "", chatgateway.Identity{}, err
		}
	}
	return c.fkey, c.self, nil
}

// refresh gets a new chat fkey after stale was refused. When another request
// has already replaced stale, it does nothing, so that a burst of refusals
// costs one page load.
func (c *Client) refresh(ctx context.Context, stale string) error {
	if err := c.lock(ctx); err != nil {
		return err
	}
	defer c.unlock()
	if c.fkey != "" && c.fkey != stale {
		return nil
	}
	c.log.Debug().Msg("chat fkey refused; reloading the chat page")
	c.fkey = ""
	return c.establishLocked(ctx)
}

// establishLocked reads the chat page for the fkey and identity, logging in
// first when the session is not believed logged in, or when the page shows
// an anonymous visitor. The caller holds the session lock.
func (c *Client) establishLocked(ctx context.Context) error {
	justLoggedIn := false
	if !c.loggedIn {
		if err := c.loginLocked(ctx); err != nil {
			return err
		}
		justLoggedIn = true
	}
	page, err := c.chatPage(ctx)
	if err != nil {
		return err
	}
	if page.self.UserID == 0 {
		c.loggedIn = false
		switch {
		case !c.haveCreds:
			return chatgateway.Permanent(fmt.Errorf("%w: the cookie jar's session is logged out and no credentials are configured", ErrNotLoggedIn))
		case justLoggedIn:
			return fmt.Errorf("%w: the chat page shows an anonymous visitor right after logging in", ErrNotLoggedIn)
		}
		c.log.Info().Msg("chat session logged out; logging in again")
		if err := c.loginLocked(ctx); err != nil {
			return err
		}
		if page, err = c.chatPage(ctx); err != nil {
			return err
		}
		if page.self.UserID == 0 {
			c.loggedIn = false
			return fmt.Errorf("%w: the chat page shows an anonymous visitor right after logging in", ErrNotLoggedIn)
		}
	}
	if page.fkey == "" {
		return errors.New("sechat: the chat page has no fkey")
	}
	c.fkey, c.self = page.fkey, page.self
	c.ident.Store(&page.self)
	c.log.Debug().Int64("user_id", c.self.UserID).Str("user", c.self.UserName).Msg("chat session ready")
	return nil
}

// chatPage loads /chats/join/favorite, which every logged-in account can
// see, and reads the chat fkey and the account's own id and name from it.
func (c *Client) chatPage(ctx context.Context) (chatPageInfo, error) {
	resp, err := c.do(ctx, c.http, http.MethodGet, c.chatRoot+"/chats/join/favorite", nil)
	if err != nil {
		return chatPageInfo{}, err
	}
	if resp.status != http.StatusOK {
		return chatPageInfo{}, fmt.Errorf("sechat: chat page: HTTP %d", resp.status)
	}
	return parseChatPage(string(resp.body)), nil
}

// loginLocked logs in on the login site: fetch the login form's fkey, then
// post email, password and fkey. SE answers a good login with a 302 and an
// acct cookie, and a bad one with the form again (HTTP 200). The caller
// holds the session lock.
func (c *Client) loginLocked(ctx context.Context) error {
	if !c.haveCreds {
		return chatgateway.Permanent(fmt.Errorf("%w: no credentials configured", ErrNotLoggedIn))
	}
	c.log.Info().Str("site", c.loginRoot).Msg("logging in")
	page, err := c.do(ctx, c.http, http.MethodGet, c.loginRoot+"/users/login", nil)
	if err != nil {
		return err
	}
	if page.status != http.StatusOK {
		return fmt.Errorf("sechat: login page: HTTP %d", page.status)
	}
	fkey := findFkey(string(page.body))
	if fkey == "" {
		// SE serves the login page without a form while in read-only
		// mode; SmokeDetector waits and retries, as the gateway will.
		return errors.New("sechat: the login page has no fkey (is the site read-only?)")
	}
	form := url.Values{"email": {c.cfg.Email}, "password": {c.cfg.Password}, "fkey": {fkey}}
	resp, err := c.do(ctx, c.noRedirect, http.MethodPost, c.loginRoot+"/users/login", form)
	if err != nil {
		return err
	}
	acct := false
	for _, ck := range (&http.Response{Header: resp.header}).Cookies() {
		if ck.Name == "acct" && ck.Value != "" && ck.MaxAge >= 0 {
			acct = true
		}
	}
	redirected := resp.status == http.StatusFound || resp.status == http.StatusSeeOther
	switch {
	case acct || (redirected && !strings.Contains(resp.header.Get("Location"), "/users/login")):
		// An acct cookie is what ChatExchange checks; a 302 away from the
		// form is what sochat4j checks. The chat page confirms either.
		c.loggedIn = true
		c.log.Info().Msg("logged in")
		return nil
	case resp.status == http.StatusOK || redirected:
		return chatgateway.Permanent(fmt.Errorf("%w: %s refused the login", ErrBadCredentials, c.loginRoot))
	default:
		return fmt.Errorf("sechat: login: HTTP %d", resp.status)
	}
}

// postFkey posts form plus the chat fkey to path on the chat site. An answer
// showing the fkey is stale (HTTP 403, or a redirect to the login page)
// makes it reload the chat page, logging in again if need be, and retry
// once.
func (c *Client) postFkey(ctx context.Context, path string, form url.Values) (*response, error) {
	for attempt := 0; ; attempt++ {
		fkey, _, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		f := make(url.Values, len(form)+1)
		for k, v := range form {
			f[k] = v
		}
		f.Set("fkey", fkey)
		resp, err := c.do(ctx, c.http, http.MethodPost, c.chatRoot+path, f)
		if err != nil {
			return nil, err
		}
		stale := resp.status == http.StatusForbidden ||
			(resp.final != nil && strings.HasPrefix(resp.final.Path, "/users/login"))
		if !stale || attempt > 0 {
			return resp, nil
		}
		if err := c.refresh(ctx, fkey); err != nil {
			return nil, err
		}
	}
}
