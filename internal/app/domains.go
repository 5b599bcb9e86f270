package app

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/resolver"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

// The server resolves the domains of Cloud Firewall policies (service
// domains.go): all of them every DomainResolvePeriod, and the new ones
// soon after a policy changes. It learns of a change by watching the
// policies in the store, whichever action (or DeleteNatGateway) made it.

const (
	// DefaultDomainResolvePeriod is how often every domain is looked up
	// again.
	DefaultDomainResolvePeriod = 30 * time.Second
	// HostResolvConf is where the default DNS upstream comes from.
	HostResolvConf = "/etc/resolv.conf"
	// domainLookupTimeout bounds one question to one upstream server.
	domainLookupTimeout = 2 * time.Second
	// watchRetry is the pause before watching again after the watch
	// ended (a watcher too slow is closed) or failed.
	watchRetry = time.Second
)

// domainResolver runs the passes of the server's resolution loop.
type domainResolver struct {
	svc      *service.Service
	st       store.Store
	log      *slog.Logger
	upstream []string
	period   time.Duration
	// mu makes the passes of the loop and those asked for
	// (App.ResolveFirewallDomains) take turns: two passes at once could
	// write an older answer over a newer one.
	mu sync.Mutex
}

func newDomainResolver(svc *service.Service, st store.Store, log *slog.Logger, upstream []string, period time.Duration) *domainResolver {
	if upstream == nil {
		upstream = resolver.HostUpstream(HostResolvConf)
	}
	if period <= 0 {
		period = DefaultDomainResolvePeriod
	}
	return &domainResolver{svc: svc, st: st, log: log, upstream: upstream, period: period}
}

func (d *domainResolver) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	return resolver.LookupA(ctx, d.upstream, name, domainLookupTimeout)
}

// pass looks up every domain (all) or only those without a record yet.
func (d *domainResolver) pass(ctx context.Context, all bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if all {
		return d.svc.ResolveFirewallDomains(ctx, d.lookup)
	}
	return d.svc.ResolveNewFirewallDomains(ctx, d.lookup)
}

// run resolves at once, then every period and after each change of the
// policies, until ctx ends.
func (d *domainResolver) run(ctx context.Context) {
	// Info, not a warning: it matters only once a policy names a domain,
	// and then each failed lookup is logged as a warning.
	if len(d.upstream) == 0 {
		d.log.Info("no DNS upstream server (none in " + HostResolvConf + ", none given with --dns-upstream): the domains of Cloud Firewall policies cannot be resolved and match nothing")
	} else {
		d.log.Debug("resolving the domains of Cloud Firewall policies", "upstream", d.upstream, "period", d.period)
	}
	changed := make(chan struct{}, 1)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	// From the revision before the first pass: nothing is missed.
	rev := d.st.Revision()
	for _, prefix := range []string{model.PrefixFirewallPolicy, model.PrefixNatFirewallPolicy} {
		watchers.Go(func() { d.watch(ctx, prefix, rev, changed) })
	}
	tick := time.NewTicker(d.period)
	defer tick.Stop()
	all := true
	for {
		if err := d.pass(ctx, all); err != nil && ctx.Err() == nil {
			d.log.Warn("resolving the domains of Cloud Firewall policies", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			all = true
		case <-changed:
			all = false
		}
	}
}

// watch signals changed (without blocking: one pending signal is enough)
// for every change under prefix after rev, until ctx ends.
func (d *domainResolver) watch(ctx context.Context, prefix string, rev int64, changed chan<- struct{}) {
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for {
		events, err := d.st.Watch(ctx, prefix, rev)
		if err == nil {
			for ev := range events {
				rev = ev.Revision
				signal()
			}
		}
		if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
			return
		}
		if err != nil && !errors.Is(err, store.ErrCompacted) {
			d.log.Warn("watching Cloud Firewall policies for domains", "prefix", prefix, "err", err)
		}
		// The watch ended (too slow) or its start is gone from the
		// history: resume from now, and look, in case a change was missed.
		rev = d.st.Revision()
		signal()
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchRetry):
		}
	}
}

// startDomains starts the resolution loop (Serve); stopDomains stops it
// and waits (Close, before the store closes).
func (a *App) startDomains() {
	a.domMu.Lock()
	defer a.domMu.Unlock()
	if a.domStop != nil || a.domClosed || a.domains == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.domains.run(ctx)
	}()
	a.domStop = func() {
		cancel()
		<-done
	}
}

func (a *App) stopDomains() {
	a.domMu.Lock()
	stop := a.domStop
	a.domStop, a.domClosed = nil, true
	a.domMu.Unlock()
	if stop != nil {
		stop()
	}
}

// ResolveFirewallDomains looks up every domain of the Cloud Firewall
// policies now and records the answers, as the server's loop does every
// DomainResolvePeriod (tests; the loop need not run).
func (a *App) ResolveFirewallDomains(ctx context.Context) error {
	return a.domains.pass(ctx, true)
}
