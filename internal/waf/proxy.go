package waf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// Record is one logged decision.
type Record struct {
	Time      time.Time `json:"time"`
	Object    string    `json:"object"`
	ClientIP  string    `json:"client_ip"`
	Method    string    `json:"method"`
	Host      string    `json:"host"`
	URI       string    `json:"uri"`
	Status    int       `json:"status"`
	Module    string    `json:"module,omitempty"` // deciding module; empty when nothing matched
	RuleIDs   []string  `json:"rule_ids,omitempty"`
	Action    string    `json:"action"` // pass, monitor or block
	Score     int       `json:"score"`  // CRS inbound anomaly score
	Whitelist []string  `json:"whitelist,omitempty"`
	Matches   []Match   `json:"matches,omitempty"`
}

// Sink receives every decision. Log must be safe for concurrent use and
// must not block for long (it runs on the request path).
type Sink interface{ Log(Record) }

// SinkFunc adapts a function to Sink.
type SinkFunc func(Record)

// Log calls f.
func (f SinkFunc) Log(r Record) { f(r) }

// Options configure a Proxy.
type Options struct {
	ObjectID string
	// Upstream is the origin, e.g. http://10.0.1.7:80.
	Upstream *url.URL
	Cache    *Cache // shared engines; nil: a private cache
	State    *State // rate-limit state; nil: a private one
	Sink     Sink   // nil: decisions are not logged
	// Metrics counts decisions and inspection times (nil: none).
	Metrics *Metrics
	// Transport to the upstream; nil: a pooled transport.
	Transport http.RoundTripper
	Now       func() time.Time
	// MaxBuffered bounds the request-body bytes held for inspection by all
	// requests in flight together; 0 means DefaultMaxBuffered. A request
	// that would exceed it is answered 503 (and logged) rather than
	// buffered.
	MaxBuffered int64
	// BodyReadTimeout bounds reading the inspected part of a request body
	// (a client trickling it is answered 400 and disconnected); 0 means
	// DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
}

// DefaultMaxBuffered is the default of Options.MaxBuffered.
const DefaultMaxBuffered = 256 << 20

// Proxy is the WAF as an http.Handler: it inspects each request and
// forwards clean ones to the upstream with X-Forwarded-For and X-Real-IP
// set to the client address.
type Proxy struct {
	opts     Options
	upstream atomic.Pointer[url.URL]
	cur      atomic.Pointer[published]
	buffered atomic.Int64 // body bytes reserved by requests in flight
}

// published is what a request uses from start to end: a reload publishes a
// new one and requests in flight finish with theirs.
type published struct {
	c  *Compiled
	rp *httputil.ReverseProxy
}

// NewProxy compiles p and returns a proxy serving it.
func NewProxy(opts Options, p Policy) (*Proxy, error) {
	if opts.Upstream == nil || opts.Upstream.Host == "" {
		return nil, errors.New("waf: proxy needs an upstream such as http://10.0.1.7:80")
	}
	if opts.Cache == nil {
		opts.Cache = NewCache()
	}
	if opts.State == nil {
		opts.State = NewState()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport()
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = DefaultMaxBuffered
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if p.ObjectID == "" {
		p.ObjectID = opts.ObjectID
	}
	px := &Proxy{opts: opts}
	px.upstream.Store(opts.Upstream)
	if err := px.Update(p); err != nil {
		return nil, err
	}
	return px, nil
}

// UpstreamDialTimeout bounds the connection to an upstream: an upstream
// that drops the SYN is answered 504 after it, not held until the client
// gives up.
const UpstreamDialTimeout = 5 * time.Second

// UpstreamReadTimeout bounds the wait for an upstream's answer (its status
// line and headers) once the request is sent, as the cloud WAF's
// back-to-origin read timeout does (120 s by default): an upstream that
// never answers is answered 504, not held until the client gives up.
const UpstreamReadTimeout = 120 * time.Second

// NewTransport is a pooled transport for upstreams.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: UpstreamDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: UpstreamReadTimeout,
	}
}

// Update compiles p and publishes it; requests that started before keep
// the previous policy. On error the running policy is kept.
func (px *Proxy) Update(p Policy) error {
	if p.ObjectID == "" {
		p.ObjectID = px.opts.ObjectID
	}
	c, err := Compile(p, px.opts.Cache)
	if err != nil {
		return err
	}
	px.Publish(c)
	return nil
}

// SetUpstream changes the origin for requests that start from now on.
func (px *Proxy) SetUpstream(u *url.URL) {
	px.upstream.Store(u)
	px.Publish(px.Compiled())
}

// Publish swaps in an already compiled policy.
func (px *Proxy) Publish(c *Compiled) {
	up := px.upstream.Load()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			if ip, err := clientAddr(pr.In.RemoteAddr); err == nil {
				pr.Out.Header.Set("X-Real-IP", ip.String())
			}
		},
		Transport:      px.opts.Transport,
		FlushInterval:  -1,
		ModifyResponse: px.inspectResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(upstreamErrorStatus(err))
		},
	}
	px.cur.Store(&published{c: c, rp: rp})
}

// upstreamErrorStatus is the answer to a request the upstream failed:
// 504 when it timed out (connecting or answering), as gateways answer,
// 502 otherwise (refused, reset, a malformed answer).
func upstreamErrorStatus(err error) int {
	var ne net.Error
	if (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// Compiled is the policy in force.
func (px *Proxy) Compiled() *Compiled { return px.cur.Load().c }

func clientAddr(remote string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		a, err2 := netip.ParseAddr(remote)
		if err2 != nil {
			return netip.Addr{}, err
		}
		return a.Unmap(), nil
	}
	return ap.Addr().Unmap(), nil
}

// ruleRequest is what the modules' conditions see of r (its body is added
// once read): the path normalized (wafrule.NormalizePath).
func ruleRequest(r *http.Request, ip netip.Addr) *wafrule.Request {
	req := &wafrule.Request{
		IP: ip, Method: r.Method, URI: r.RequestURI, Path: wafrule.NormalizePath(r.URL.Path), Query: r.URL.RawQuery,
		Host: r.Host, Header: r.Header,
	}
	if req.URI == "" {
		req.URI = r.URL.RequestURI()
	}
	return req
}

// ServeHTTP inspects r and blocks or forwards it.
func (px *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pub := px.cur.Load()
	c := pub.c
	now := px.opts.Now()
	ip, _ := clientAddr(r.RemoteAddr)
	req := ruleRequest(r, ip)
	var local netip.AddrPort
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		local, _ = netip.ParseAddrPort(la.String())
	}
	tooLarge, skipCRSBody := false, false
	if c.needsBody && r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		limit := c.profile.BodyLimit
		reserve := int64(limit + 1)
		if r.ContentLength > 0 && r.ContentLength < reserve {
			reserve = r.ContentLength
		}
		if px.buffered.Add(reserve) > px.opts.MaxBuffered {
			px.buffered.Add(-reserve)
			d := Decision{}
			d.add(wafrule.ModuleCoreRules, "body-buffer-full", wafrule.Block)
			px.log(c, r, req, &d, http.StatusServiceUnavailable, now)
			http.Error(w, "WAF busy, retry later", http.StatusServiceUnavailable)
			return
		}
		defer px.buffered.Add(-reserve)
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(px.opts.BodyReadTimeout))
		buf, err := readUpTo(r.Body, limit+1, r.ContentLength)
		if err != nil {
			// Malformed, cut or too slow: answer and drop the connection
			// (the deadline stays, so the server does not wait for more).
			w.Header().Set("Connection", "close")
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		_ = rc.SetReadDeadline(time.Time{})
		orig := r.Body
		if len(buf) > limit {
			tooLarge = true
			switch c.profile.BodyAction {
			case BodyBlock:
				d := Decision{BodyTooLarge: true}
				d.add(wafrule.ModuleCoreRules, "body-limit", wafrule.Block)
				px.log(c, r, req, &d, http.StatusRequestEntityTooLarge, now)
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			case BodySkip:
				req.Body = nil
			default:
				req.Body = buf[:limit]
				// A cut JSON, XML or multipart body cannot be parsed: the
				// CRS would see a parse error (rule 200002) in every large
				// valid body. Custom rules still see the first bytes.
				skipCRSBody = structuredBody(r.Header.Get("Content-Type"))
			}
			r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), orig), orig}
		} else {
			req.Body = buf
			_ = orig.Close()
			r.Body = io.NopCloser(bytes.NewReader(buf))
		}
	}
	inspectStart := time.Now()
	d := c.Evaluate(Input{HTTP: r, Req: req, LocalAddr: local, SkipCRSBody: skipCRSBody}, px.opts.State, now)
	px.opts.Metrics.inspected(time.Since(inspectStart))
	defer d.Finish()
	d.BodyTooLarge = tooLarge
	if d.Action == wafrule.Block {
		status := c.writeBlock(w)
		px.log(c, r, req, &d, status, now)
		return
	}
	if d.crs != nil {
		rs := &responseState{c: c, d: &d}
		defer func() { px.buffered.Add(-rs.reserved) }()
		r = r.WithContext(context.WithValue(r.Context(), responseKey{}, rs))
	}
	rec := &statusWriter{ResponseWriter: w}
	pub.rp.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	c.ObserveResponse(req, &d, rec.status, px.opts.State, px.opts.Now())
	px.log(c, r, req, &d, rec.status, now)
}

func (c *Compiled) writeBlock(w http.ResponseWriter) int {
	body := c.blockResponse(w.Header())
	w.WriteHeader(c.response.Status)
	_, _ = io.WriteString(w, body)
	return c.response.Status
}

// blockResponse sets the block response's headers in h and returns its
// body.
func (c *Compiled) blockResponse(h http.Header) string {
	for k, v := range c.response.Headers {
		h.Set(k, v)
	}
	body := c.response.Body
	if body == "" && c.response.Status == DefaultBlockStatus && len(c.response.Headers) == 0 {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = "Request blocked by Palisade WAF.\n"
	}
	return body
}

// responseKey carries a request's responseState to inspectResponse.
type responseKey struct{}

// responseState is what inspectResponse needs of the request's decision,
// and the body bytes it reserved (released when the request ends).
type responseState struct {
	c        *Compiled
	d        *Decision
	reserved int64
}

// inspectResponse is the reverse proxy's ModifyResponse: for a request
// whose decision kept its CRS transaction open, it runs the response
// rules on the upstream's answer (reading at most the profile's body
// limit ahead, within Options.MaxBuffered) and, on a detection in Block
// mode, replaces the answer with the block response. Upgrades (101) pass
// untouched: their body is the connection.
func (px *Proxy) inspectResponse(resp *http.Response) error {
	mirrorClose(resp)
	rs, _ := resp.Request.Context().Value(responseKey{}).(*responseState)
	if rs == nil || rs.d.crs == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		return nil
	}
	var read func(int) ([]byte, error)
	if resp.Body != nil && resp.Body != http.NoBody && resp.ContentLength != 0 {
		read = func(limit int) ([]byte, error) {
			reserve := int64(limit + 1)
			if resp.ContentLength > 0 && resp.ContentLength < reserve {
				reserve = resp.ContentLength
			}
			if px.buffered.Add(reserve) > px.opts.MaxBuffered {
				// Out of buffer: the status and headers are inspected,
				// the body passes uninspected (like one over the limit).
				px.buffered.Add(-reserve)
				return nil, nil
			}
			rs.reserved += reserve
			buf, err := readUpTo(resp.Body, limit+1, resp.ContentLength)
			if err != nil {
				return nil, fmt.Errorf("waf: read upstream response: %w", err)
			}
			orig := resp.Body
			resp.Body = readCloser{io.MultiReader(bytes.NewReader(buf), orig), orig}
			return buf, nil
		}
	}
	block, err := rs.c.InspectResponse(rs.d, resp.StatusCode, resp.Proto, resp.Header, read)
	// The engine has seen all it will see: its logging phase (the CRS's
	// reports) runs now rather than after the body was copied.
	rs.d.Finish()
	if err != nil || !block {
		return err
	}
	_ = resp.Body.Close()
	resp.Header = http.Header{}
	body := rs.c.blockResponse(resp.Header)
	resp.StatusCode, resp.Status = rs.c.response.Status, ""
	resp.Body = io.NopCloser(strings.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.TransferEncoding, resp.Trailer = nil, nil
	return nil
}

func (px *Proxy) log(c *Compiled, r *http.Request, req *wafrule.Request, d *Decision, status int, now time.Time) {
	px.opts.Metrics.decided(d)
	if px.opts.Sink == nil {
		return
	}
	px.opts.Sink.Log(Record{
		Time: now.UTC(), Object: c.objectID, ClientIP: req.IP.String(), Method: r.Method,
		Host: truncate(r.Host, 256), URI: truncate(req.URI, 2048), Status: status,
		Module: d.Module.String(), RuleIDs: d.RuleIDs, Action: d.Action.String(), Score: d.Score,
		Whitelist: d.Whitelist, Matches: d.Matches,
	})
}

// structuredBody reports whether Coraza parses bodies of this content type
// as a whole (JSON, XML, multipart) rather than as bytes or form fields.
func structuredBody(ct string) bool {
	ct = strings.ToLower(ct)
	return strings.Contains(ct, "json") || strings.Contains(ct, "xml") || strings.HasPrefix(ct, "multipart/")
}

// readUpTo reads at most n bytes of r.
func readUpTo(r io.Reader, n int, contentLength int64) ([]byte, error) {
	size := n
	if contentLength > 0 && contentLength < int64(n) {
		size = int(contentLength)
	} else if contentLength < 0 && size > 32<<10 {
		size = 32 << 10
	}
	var b bytes.Buffer
	b.Grow(size)
	_, err := b.ReadFrom(io.LimitReader(r, int64(n)))
	return b.Bytes(), err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// statusWriter records the status the upstream answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
