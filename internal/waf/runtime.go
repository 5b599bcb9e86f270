package waf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// PolicyFromConfig converts the control plane's object configuration into
// an engine policy: the one boundary conversion, strict about every field.
func PolicyFromConfig(oc wafrule.ObjectConfig) (Policy, error) {
	p := Policy{ObjectID: oc.ID, Response: BlockResponse{Status: oc.Response.Status, Headers: oc.Response.Headers, Body: oc.Response.Body}}
	switch oc.Profile.Action {
	case "off":
		p.Profile.Action = wafrule.Pass
	default:
		a, err := wafrule.ParseAction(oc.Profile.Action)
		if err != nil {
			return p, fmt.Errorf("object %s: core rule set %w", oc.ID, err)
		}
		p.Profile.Action = a
	}
	p.Profile.ParanoiaLevel = oc.Profile.ParanoiaLevel
	p.Profile.InboundThreshold = oc.Profile.InboundThreshold
	p.Profile.ExcludeRuleIDs = oc.Profile.ExcludeRuleIDs
	p.Profile.ExcludeTags = oc.Profile.ExcludeTags
	p.Profile.BodyLimit = oc.Profile.BodyLimit
	p.Profile.BodyAction = BodyAction(oc.Profile.BodyAction)
	p.Profile.InspectResponses = oc.Profile.InspectResponses
	if err := p.Profile.Validate(); err != nil {
		return p, fmt.Errorf("object %s: %w", oc.ID, err)
	}
	p.BlacklistAction = wafrule.Block
	if oc.BlacklistAction != "" {
		a, err := wafrule.ParseAction(oc.BlacklistAction)
		if err != nil {
			return p, fmt.Errorf("object %s: blacklist %w", oc.ID, err)
		}
		p.BlacklistAction = a
	}
	for _, r := range oc.Rules {
		var cs []Condition
		if r.Conditions != "" {
			var err error
			if cs, err = wafrule.ParseConditions(r.Conditions); err != nil {
				return p, fmt.Errorf("rule %s: %w", r.ID, err)
			}
		}
		switch r.Kind {
		case wafrule.KindWhitelist:
			w := WhitelistRule{ID: r.ID, Conditions: cs}
			for _, m := range r.Bypass {
				mod, err := wafrule.ParseModule(m)
				if err != nil {
					return p, fmt.Errorf("rule %s: %w", r.ID, err)
				}
				w.Bypass = w.Bypass.With(mod)
			}
			p.Whitelist = append(p.Whitelist, w)
		case wafrule.KindBlacklist:
			for _, a := range r.Addresses {
				pfx, err := wafrule.ParsePrefix(a)
				if err != nil {
					return p, fmt.Errorf("rule %s: %w", r.ID, err)
				}
				p.Blacklist = append(p.Blacklist, BlacklistEntry{ID: r.ID, Prefix: pfx, Expires: r.Expires})
			}
		case wafrule.KindCustom, wafrule.KindRateLimit:
			a, err := wafrule.ParseAction(r.Action)
			if err != nil {
				return p, fmt.Errorf("rule %s: %w", r.ID, err)
			}
			if r.Kind == wafrule.KindCustom {
				p.Custom = append(p.Custom, CustomRule{ID: r.ID, Conditions: cs, Action: a})
				continue
			}
			p.RateLimits = append(p.RateLimits, RateLimit{ID: r.ID, Conditions: cs, By: RateKey(r.By), Header: r.Header,
				Interval: time.Duration(r.Interval) * time.Second, Threshold: r.Threshold,
				BlockFor: time.Duration(r.BlockFor) * time.Second, Status: r.Status, Action: a})
		default:
			return p, fmt.Errorf("rule %s: unknown kind %q", r.ID, r.Kind)
		}
	}
	return p, nil
}

// Runtime runs one listening proxy per protected object and applies
// configuration changes: a changed policy is swapped into the running
// proxy (connections stay up); a changed listener, upstream or certificate
// restarts that object's server gracefully.
type Runtime struct {
	Cache *Cache
	State *State
	Sink  Sink
	Log   *slog.Logger
	// Metrics counts every object's decisions (nil: none); set it before
	// the first Apply.
	Metrics *Metrics
	// Listen, when set, makes an object's listener instead of
	// net.Listen("tcp", Listen); Listen is then the hook's to interpret
	// (a changed Listen still restarts the object). The agents use it for
	// transparent listeners inside VPC namespaces.
	Listen func(oc wafrule.ObjectConfig) (net.Listener, error)
	// Transport, when set, returns the round tripper to an object's
	// upstream (nil from it: the default pooled transport). Requests'
	// contexts carry the client's connection: its address (ClientAddr),
	// and its own upstream connections (PerClientConnection).
	Transport func(oc wafrule.ObjectConfig) http.RoundTripper
	// VPCs reaches, without a Transport hook, the upstream of an object
	// with a VPCID inside that VPC's network namespace (never from this
	// process's own namespace, whose routes would carry a VPC's private
	// address elsewhere). Objects without a VPCID are dialled directly.
	VPCs *VPCNamespaces

	mu      sync.Mutex
	objects map[string]*runningObject
}

type runningObject struct {
	cfg    wafrule.ObjectConfig
	proxy  *Proxy
	server *http.Server
	addr   net.Addr
	cert   atomic.Pointer[tls.Certificate] // TLS objects: rotated in place
	conns  *sync.Map                       // live client connections: net.Conn -> *clientConn
	done   chan struct{}
}

func upstreamURL(hostport string) (*url.URL, error) {
	u, err := url.Parse("http://" + hostport)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("upstream %q: want host:port", hostport)
	}
	return u, nil
}

// updateLocked swaps a running object's policy, upstream and certificate
// in place: its listener and open connections stay. Must be called with
// rt.mu held.
func (rt *Runtime) updateLocked(ro *runningObject, oc wafrule.ObjectConfig, pol Policy) error {
	var cert *tls.Certificate
	if oc.TLSCert != ro.cfg.TLSCert || oc.TLSKey != ro.cfg.TLSKey {
		c, err := tls.X509KeyPair([]byte(oc.TLSCert), []byte(oc.TLSKey))
		if err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
		cert = &c
	}
	var up *url.URL
	if oc.Upstream != ro.cfg.Upstream {
		u, err := upstreamURL(oc.Upstream)
		if err != nil {
			return err
		}
		up = u
	}
	if err := ro.proxy.Update(pol); err != nil {
		return err
	}
	if up != nil {
		ro.proxy.SetUpstream(up)
	}
	if cert != nil {
		ro.cert.Store(cert)
	}
	ro.cfg = oc
	return nil
}

// NewRuntime returns a runtime with fresh caches.
func NewRuntime(sink Sink, log *slog.Logger) *Runtime {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{Cache: NewCache(), State: NewState(), Sink: sink, Log: log, VPCs: &VPCNamespaces{}, objects: map[string]*runningObject{}}
}

// Apply makes the running objects those of cfgs. Errors of single objects
// are joined; the other objects are still applied.
func (rt *Runtime) Apply(cfgs []wafrule.ObjectConfig) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var errsOut []error
	keep := map[string]bool{}
	var profiles []Profile
	for _, oc := range cfgs {
		keep[oc.ID] = true
		pol, err := PolicyFromConfig(oc)
		if err != nil {
			errsOut = append(errsOut, err)
			continue
		}
		profiles = append(profiles, pol.Profile)
		cur := rt.objects[oc.ID]
		// The upstream transport is made for the object's VPC: another
		// VPC restarts it.
		if cur != nil && cur.cfg.Listen == oc.Listen && cur.cfg.VPCID == oc.VPCID && (cur.cfg.TLSCert == "") == (oc.TLSCert == "") {
			if err := rt.updateLocked(cur, oc, pol); err != nil {
				errsOut = append(errsOut, fmt.Errorf("object %s: %w", oc.ID, err))
			}
			continue
		}
		if cur != nil {
			rt.stopLocked(oc.ID)
		}
		ro, err := rt.start(oc, pol)
		if err != nil {
			errsOut = append(errsOut, fmt.Errorf("object %s: %w", oc.ID, err))
			continue
		}
		rt.objects[oc.ID] = ro
	}
	for id := range rt.objects {
		if !keep[id] {
			rt.stopLocked(id)
		}
	}
	for _, ro := range rt.objects {
		profiles = append(profiles, ro.proxy.Compiled().Profile())
	}
	rt.Cache.Retain(profiles)
	return errors.Join(errsOut...)
}

func (rt *Runtime) start(oc wafrule.ObjectConfig, pol Policy) (*runningObject, error) {
	if oc.Upstream == "" {
		return nil, errors.New("no upstream address (the instance has no primary address)")
	}
	u, err := upstreamURL(oc.Upstream)
	if err != nil {
		return nil, err
	}
	opts := Options{ObjectID: oc.ID, Upstream: u, Cache: rt.Cache, State: rt.State, Sink: rt.Sink, Metrics: rt.Metrics}
	switch {
	case rt.Transport != nil:
		opts.Transport = rt.Transport(oc)
	case oc.VPCID != "":
		vpcs := rt.VPCs
		if vpcs == nil {
			vpcs = &VPCNamespaces{}
		}
		opts.Transport = vpcs.Transport(oc.VPCID)
	}
	px, err := NewProxy(opts, pol)
	if err != nil {
		return nil, err
	}
	var ln net.Listener
	if rt.Listen != nil {
		ln, err = rt.Listen(oc)
	} else {
		ln, err = net.Listen("tcp", oc.Listen)
	}
	if err != nil {
		return nil, err
	}
	conns := &sync.Map{}
	srv := &http.Server{Handler: px, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			cc := newClientConn(c)
			conns.Store(c, cc)
			return context.WithValue(ctx, clientConnKey{}, cc)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateClosed && st != http.StateHijacked {
				return
			}
			if cc, ok := conns.LoadAndDelete(c); ok {
				cc.(*clientConn).close()
			}
		}}
	ro := &runningObject{cfg: oc, proxy: px, server: srv, addr: ln.Addr(), conns: conns, done: make(chan struct{})}
	if oc.TLSCert != "" {
		cert, err := tls.X509KeyPair([]byte(oc.TLSCert), []byte(oc.TLSKey))
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("certificate: %w", err)
		}
		ro.cert.Store(&cert)
		// HTTP/2 as well as HTTP/1.1, as clients expect of a TLS front:
		// each stream is one request to the engine, and goes upstream as
		// HTTP/1.1 (PerClientConnection keeps a client's streams on its
		// own upstream connections).
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return ro.cert.Load(), nil }}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() {
		defer close(ro.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			rt.Log.Error("waf listener stopped", "object", oc.ID, "err", err)
		}
	}()
	rt.Log.Info("waf protecting", "object", oc.ID, "listen", ln.Addr().String(), "upstream", oc.Upstream, "vpc", oc.VPCID, "tls", oc.TLSCert != "")
	return ro, nil
}

// stopLocked shuts an object's server down, letting requests in flight
// finish (up to 10 s). Must be called with rt.mu held.
func (rt *Runtime) stopLocked(id string) {
	ro := rt.objects[id]
	if ro == nil {
		return
	}
	delete(rt.objects, id)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ro.server.Shutdown(ctx)
	<-ro.done
}

// CloseClients closes the live client connections of object id whose
// client address and port admits rejects, and returns how many. A
// security-group or ACL change cuts the direct path's established flows
// that it now denies; for a protected port it is called with the new
// filters, so that a client they deny loses its connection to the WAF at
// once (with its upstream connection) instead of waiting on a cut upstream.
func (rt *Runtime) CloseClients(id string, admits func(client netip.AddrPort) bool) int {
	rt.mu.Lock()
	ro := rt.objects[id]
	rt.mu.Unlock()
	if ro == nil {
		return 0
	}
	n := 0
	ro.conns.Range(func(k, v any) bool {
		if cc := v.(*clientConn); cc.remote.IsValid() && !admits(cc.remote) {
			_ = k.(net.Conn).Close() // ConnState(StateClosed) closes its upstream connections
			n++
		}
		return true
	})
	return n
}

// Addr is the listening address of an object (nil when not running).
func (rt *Runtime) Addr(id string) net.Addr {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if ro := rt.objects[id]; ro != nil {
		return ro.addr
	}
	return nil
}

// Close stops every object.
func (rt *Runtime) Close() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for id := range rt.objects {
		rt.stopLocked(id)
	}
}

// Fetch returns the current configuration and its hash.
type Fetch func(ctx context.Context) ([]wafrule.ObjectConfig, string, error)

// PollInterval is how often Run asks for the configuration: a change is in
// force within about this time plus the compile time.
const PollInterval = 250 * time.Millisecond

// Run applies the configuration from fetch, then polls it every interval
// (0: PollInterval) and applies it when its hash changes, until ctx ends.
// It then stops every object.
func (rt *Runtime) Run(ctx context.Context, fetch Fetch, interval time.Duration) error {
	if interval <= 0 {
		interval = PollInterval
	}
	defer rt.Close()
	last := ""
	lastSweep := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cfgs, hash, err := fetch(ctx)
		switch {
		case err != nil:
			rt.Log.Warn("waf config fetch failed", "err", err)
		case hash != last:
			// On errors the hash is not recorded, so the next poll retries
			// (for example a listener whose port was busy).
			if err := rt.Apply(cfgs); err != nil {
				rt.Log.Error("waf config applied with errors", "err", err)
			} else {
				last = hash
			}
		}
		if time.Since(lastSweep) > 30*time.Second {
			rt.State.Sweep(time.Now())
			lastSweep = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
