// Package console serves Palisade's web console under /console/: embedded
// static assets (index.html, app.js, style.css: plain JavaScript, no build
// step) and a small JSON API for them.
//
//	POST /console/login    {AccessKeyId, AccessKeySecret} -> session cookie + CSRF token
//	GET  /console/session  the session's account and CSRF token (401 without one)
//	POST /console/logout   ends the session
//	POST /console/api      {Version, Action, Params} -> the action's response
//
// /console/api dispatches through the API server's router, as the account
// of the session, so the console can do what the API can, with the same
// validation, errors and account scoping. Sessions live in memory: a
// restart of the server logs every user out.
//
// It imports api (router, error shapes), errs and model directly, and
// reaches accounts and resources only through the router and the key
// lookup it is given: never the store, the service or anything
// kernel-side.
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

//go:embed assets/index.html assets/app.js assets/style.css
var assets embed.FS

// Defaults of Options.
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultMaxLifetime   = 12 * time.Hour
	DefaultMaxSessions   = 1000
	DefaultLoginFailures = 10 // per client IP per minute
)

// CookieName is the session cookie.
const CookieName = "palisade_console"

// CSRFHeader carries the session's CSRF token on every POST but login.
const CSRFHeader = "X-Palisade-CSRF"

// ContentSecurityPolicy is sent with every console response: no inline
// script or style, nothing from another origin, no framing.
const ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

const maxBody = 1 << 20

// Options configures a Console.
type Options struct {
	Router *api.Router
	Keys   api.KeyLookup
	Region string           // the server's region: RegionID of every call
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	// IdleTimeout ends a session unused this long (0: DefaultIdleTimeout);
	// MaxLifetime ends any session this long after login (0:
	// DefaultMaxLifetime).
	IdleTimeout, MaxLifetime time.Duration
	// MaxSessions bounds the sessions held (0: DefaultMaxSessions); beyond
	// it the least recently used one ends.
	MaxSessions int
	// LoginFailures is how many failed logins a client IP may make per
	// minute before its logins are refused with 429 (0:
	// DefaultLoginFailures).
	LoginFailures int
}

// Console is the web console's http.Handler, to mount at "/console/".
type Console struct {
	opts     Options
	sessions *sessions
	throttle *throttle
}

// New returns a Console.
func New(opts Options) *Console {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Region == "" {
		opts.Region = "local"
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxLifetime <= 0 {
		opts.MaxLifetime = DefaultMaxLifetime
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.LoginFailures <= 0 {
		opts.LoginFailures = DefaultLoginFailures
	}
	return &Console{
		opts:     opts,
		sessions: newSessions(opts.IdleTimeout, opts.MaxLifetime, opts.MaxSessions),
		throttle: newThrottle(opts.LoginFailures, time.Minute, 10000),
	}
}

// assetTypes are the assets and their content types.
var assetTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	p := strings.TrimPrefix(r.URL.Path, "/console")
	switch p {
	case "/login", "/logout", "/session", "/api":
		h.Set("Cache-Control", "no-store")
		c.serveJSON(w, r, p)
		return
	}
	name := strings.TrimPrefix(p, "/")
	if name == "" {
		name = "index.html"
	}
	ct, ok := assetTypes[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "not found\n")
		return
	}
	b, err := assets.ReadFile(path.Join("assets", name))
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// call is one request to the console's JSON endpoints.
type call struct {
	reqID   string
	action  string
	account string
}

func (c *Console) serveJSON(w http.ResponseWriter, r *http.Request, p string) {
	cl := &call{reqID: api.NewRequestID(), action: "console" + p}
	defer func() {
		if v := recover(); v != nil {
			c.opts.Logger.Error("console: handler panic", "request_id", cl.reqID, "action", cl.action,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			c.writeError(w, r, cl, errors.New("panic"))
		}
	}()
	var (
		resp any
		err  error
	)
	switch {
	case p == "/session" && r.Method == http.MethodGet:
		resp, err = c.session(w, r, cl)
	case r.Method != http.MethodPost:
		err = errs.New(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod",
			"The HTTP method %s is not supported here; use POST.", r.Method)
	case !sameOrigin(r):
		err = errs.Forbidden("Forbidden.Origin", "The request comes from another origin (%s): the console accepts its own pages only.", r.Header.Get("Origin"))
	case p == "/login":
		resp, err = c.login(w, r, cl)
	case p == "/logout":
		resp, err = c.logout(w, r, cl)
	case p == "/api":
		resp, err = c.api(r, cl)
	default:
		err = errs.New(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod",
			"The HTTP method %s is not supported here.", r.Method)
	}
	if err != nil {
		c.writeError(w, r, cl, err)
		return
	}
	b, err := api.OKResponse(resp, cl.reqID)
	if err != nil {
		c.writeError(w, r, cl, fmt.Errorf("encode %s response: %w", cl.action, err))
		return
	}
	c.write(w, cl, http.StatusOK, b, "")
}

// sameOrigin refuses a POST whose Origin header (browsers send it with
// every POST) names another origin; SameSite=Strict and the CSRF token
// already stop such requests, this is a second lock.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func (c *Console) writeError(w http.ResponseWriter, r *http.Request, cl *call, err error) {
	status, code, b, internal := api.ErrorResponse(err, cl.reqID, r.Host)
	if internal {
		c.opts.Logger.Error("console: internal error", "request_id", cl.reqID, "action", cl.action,
			"account", cl.account, "err", err)
	}
	c.write(w, cl, status, b, code)
}

func (c *Console) write(w http.ResponseWriter, cl *call, status int, body []byte, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", cl.reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	// Never parameters, secrets, cookies or tokens.
	c.opts.Logger.Log(context.Background(), level, "console request", "request_id", cl.reqID,
		"action", cl.action, "account", cl.account, "status", status, "code", code)
}

// readJSON decodes a JSON body into v.
func readJSON(r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return errs.New(http.StatusUnsupportedMediaType, "InvalidParameter.ContentType",
			"The request body must be JSON (Content-Type: application/json).")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.InvalidParam("InvalidParameter", "The request body is not valid JSON for this call: %v.", err)
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func secretHash(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

var (
	errBadCredentials = errs.New(http.StatusUnauthorized, "InvalidAccessKey",
		"The AccessKey ID or AccessKey secret is not correct.")
	errThrottled = errs.New(http.StatusTooManyRequests, "Throttling.User",
		"Request was denied due to user flow control: too many failed logins from this address; wait a minute.")
	errNoSession = errs.New(http.StatusUnauthorized, "InvalidSession",
		"You are not logged in, or your console session has expired: log in again.")
	errCSRF = errs.Forbidden("Forbidden.CSRF",
		"The request lacks the console's CSRF token (header "+CSRFHeader+"): reload the console.")
)

type loginRequest struct {
	AccessKeyId     string
	AccessKeySecret string
}

// whoami is the answer of login and session.
type whoami struct {
	AccountId   string
	AccountName string
	AccessKeyId string
	Admin       bool
	CsrfToken   string
	RegionId    string
}

func (c *Console) login(w http.ResponseWriter, r *http.Request, cl *call) (any, error) {
	now := c.opts.Now()
	ip := clientIP(r)
	if c.throttle.blocked(ip, now) {
		return nil, errThrottled
	}
	var in loginRequest
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.AccessKeyId == "" || in.AccessKeySecret == "" {
		return nil, errs.MissingParameter(map[bool]string{true: "AccessKeyId", false: "AccessKeySecret"}[in.AccessKeyId == ""])
	}
	// A failed login is counted against the client's address and logged
	// with the key ID tried (cut short), never the secret.
	refuse := func(why string) (any, error) {
		c.throttle.fail(ip, now)
		c.opts.Logger.Warn("console login refused", "request_id", cl.reqID, "reason", why,
			"access_key_id", api.ClipForLog(in.AccessKeyId, 64), "client", ip)
		return nil, errBadCredentials
	}
	if len(in.AccessKeyId) > 128 {
		return refuse("access key ID too long")
	}
	key, acct, err := c.opts.Keys(r.Context(), in.AccessKeyId)
	if err != nil {
		if _, coded := errs.As(err); !coded {
			return nil, err
		}
		return refuse("unknown access key")
	}
	if subtle.ConstantTimeCompare([]byte(key.Secret), []byte(in.AccessKeySecret)) != 1 {
		return refuse("wrong secret")
	}
	if key.AgentZone != "" {
		return nil, errs.Forbidden("Forbidden.AgentKey",
			"Access key %s is the agent key of zone %s: it cannot log in to the console. Use a full access key.", key.ID, key.AgentZone)
	}
	tok, s := c.sessions.create(acct.ID, key.ID, secretHash(key.Secret), now)
	cl.account = acct.ID
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: tok, Path: "/console/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return whoami{AccountId: acct.ID, AccountName: acct.Name, AccessKeyId: key.ID, Admin: acct.Admin, CsrfToken: s.csrf, RegionId: c.opts.Region}, nil
}

// authed is a live session with its account's current state.
type authed struct {
	session
	acct model.Account
	who  whoami
}

// authenticate returns the request's session after checking that its
// access key still exists, is still a full key of the same account and has
// the same secret; otherwise the session ends.
func (c *Console) authenticate(r *http.Request, cl *call) (authed, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return authed{}, errNoSession
	}
	s, ok := c.sessions.get(ck.Value, c.opts.Now())
	if !ok {
		return authed{}, errNoSession
	}
	key, acct, err := c.opts.Keys(r.Context(), s.keyID)
	if err != nil {
		if _, coded := errs.As(err); !coded {
			return authed{}, err
		}
		c.sessions.endKey(s.keyID)
		return authed{}, errNoSession
	}
	if key.AccountID != s.accountID || acct.ID != s.accountID || key.AgentZone != "" || secretHash(key.Secret) != s.secretHash {
		c.sessions.endKey(s.keyID)
		return authed{}, errNoSession
	}
	cl.account = acct.ID
	return authed{session: s, acct: acct,
		who: whoami{AccountId: acct.ID, AccountName: acct.Name, AccessKeyId: key.ID, Admin: acct.Admin, CsrfToken: s.csrf, RegionId: c.opts.Region}}, nil
}

func (c *Console) session(w http.ResponseWriter, r *http.Request, cl *call) (any, error) {
	a, err := c.authenticate(r, cl)
	if err != nil {
		clearCookie(w, r)
		return nil, err
	}
	return a.who, nil
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, cl *call) (any, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		clearCookie(w, r)
		return nil, nil // nothing to end
	}
	s, ok := c.sessions.get(ck.Value, c.opts.Now())
	if !ok {
		clearCookie(w, r)
		return nil, nil
	}
	if !csrfOK(s, r.Header.Get(CSRFHeader)) {
		return nil, errCSRF
	}
	cl.account = s.accountID
	c.sessions.end(ck.Value)
	clearCookie(w, r)
	return nil, nil
}

type apiRequest struct {
	Version string
	Action  string
	Params  map[string]string
}

// reserved are parameters of the RPC protocol itself, which the bridge
// sets or does not use.
var reserved = map[string]bool{
	"Action": true, "Version": true, "AccessKeyId": true, "Signature": true, "SignatureMethod": true,
	"SignatureVersion": true, "SignatureNonce": true, "Timestamp": true, "Format": true,
}

func (c *Console) api(r *http.Request, cl *call) (any, error) {
	a, err := c.authenticate(r, cl)
	if err != nil {
		return nil, err
	}
	if !csrfOK(a.session, r.Header.Get(CSRFHeader)) {
		return nil, errCSRF
	}
	var in apiRequest
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	cl.action = in.Action
	h, ok := c.opts.Router.Lookup(in.Version, in.Action)
	if !ok {
		return nil, errs.NotFound("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
	}
	if c.opts.Router.IsAgentAction(in.Version, in.Action) {
		return nil, errs.Forbidden("Forbidden.AgentAction",
			"%s is an agent action: agents call it with their agent key, the console does not.", in.Action)
	}
	params := make(api.Params, len(in.Params)+1)
	for k, v := range in.Params {
		if reserved[k] {
			return nil, errs.InvalidParameter(k, "the console sets it; leave it out of Params")
		}
		params[k] = v
	}
	if region := params["RegionId"]; region != "" && region != c.opts.Region {
		return nil, errs.InvalidParam("InvalidRegionId.NotFound",
			"The specified RegionId %q does not exist: this endpoint serves region %q only.", region, c.opts.Region)
	}
	params["RegionId"] = c.opts.Region
	return h(r.Context(), &api.Request{
		RequestID: cl.reqID,
		Account:   a.acct,
		Version:   in.Version,
		Action:    in.Action,
		RegionID:  c.opts.Region,
		Params:    params,
	})
}
