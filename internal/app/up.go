package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

// UpOptions configures RunUp: a control plane and a local agent that puts
// the zone's VPCs, vSwitches, instances and security groups in the kernel.
type UpOptions struct {
	Options
	// Zone is the zone this host serves (default "<region>-a").
	Zone string
	// Tag separates the kernel objects of several Palisades on one host
	// (tests); empty in production.
	Tag string
	// Resync is the period of the agent's drift repair (default 10 s).
	Resync time.Duration
	// Underlay is the address (and UDP port, default
	// model.DefaultUnderlayPort) the agents of other hosts reach this host
	// by, to join its VPC namespaces to theirs; empty: this host joins no
	// other.
	Underlay service.UnderlayRequest
	// Started, when set, is called once the API serves and the agent runs.
	Started func(*App, *agent.Agent)
}

// Up is a running control plane with its local agent.
type Up struct {
	*App
	Agent   *agent.Agent
	Applier *linux.Applier
	zone    string
	// waf serves the protected objects steered on this host (waf.go).
	waf     *hostWAF
	wafLogs *wafLogBatcher
	// unlock releases the host-wide kernel lock taken by NewUp (once).
	unlock func()
}

// NewUp takes the host-wide kernel lock (lockKernel), then opens the
// control plane for the local zone and builds the agent. The lock comes
// first: a refused second "up" leaves the data directory untouched. It is
// held until Run returns or Close.
func NewUp(o UpOptions) (*Up, error) {
	release, err := lockKernel(kernelLockDir, o.Tag)
	if err != nil {
		return nil, err
	}
	u, err := newUp(o)
	if err != nil {
		release()
		return nil, err
	}
	u.unlock = sync.OnceFunc(release)
	return u, nil
}

func newUp(o UpOptions) (*Up, error) {
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Zone == "" {
		o.Zone = o.Region + "-a"
	}
	zone := o.Zone
	o.ZoneServed = func(z string) bool { return z == zone }
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a, err := New(o.Options)
	if err != nil {
		return nil, err
	}
	if err := registerZone(a, zone, o.Underlay); err != nil {
		a.Close()
		return nil, err
	}
	applier := linux.New(linux.Config{Tag: o.Tag, Logger: o.Logger})
	// The local agent's and WAF's metrics join the API's on /metrics.
	hm, err := newHostMetrics(a.metrics)
	if err != nil {
		a.Close()
		return nil, err
	}
	hw, wafLogs := newHostWAF(o.Logger, storeWAFLogs(a.Service()), hm.waf)
	ag := agent.New(agent.Config{
		Store:    a.Service().Store(),
		Zone:     zone,
		Topology: applier,
		Firewall: &agent.NlFirewall{GuardPrefix: linux.VethPrefix},
		Status:   a.Service(),
		WAF:      hw,
		// Flow-log records go to the service as the admin; capture
		// checkpoints live in the data directory.
		FlowRecords: a.FlowRecordReporter(),
		FlowLogDir:  filepath.Join(a.opts.DataDir, "flowlog"),
		// Anti-DDoS events go to the service as the admin.
		DDoS: a.DDoSReporter(),
		// Each VPC namespace gets its DNS server, as a cloud VPC does.
		Resolvers:    true,
		FirewallHits: a.DDoSReporter(),
		FirewallLogs: a.DDoSReporter(),
		// What a remote agent mirrors: the rest of the store is the
		// server's (hits, logs, statuses this agent reports among them).
		WatchPrefixes: service.AgentPrefixes(),
		LBHealth:      a.DDoSReporter(),
		IfName:        linux.VethName,
		Resync:        o.Resync,
		Logger:        o.Logger,
		Metrics:       hm.agent,
	})
	return &Up{App: a, Agent: ag, Applier: applier, zone: zone, waf: hw, wafLogs: wafLogs}, nil
}

func putZone(tx store.Txn, z model.ZoneStatus) error {
	b, err := json.Marshal(z)
	if err != nil {
		return err
	}
	return tx.Put(model.PrefixZoneStatus+z.ZoneID, b)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

// registerZone records the zone so that DescribeZones lists it, and its
// underlay (or that it has none).
func registerZone(a *App, zone string, underlay service.UnderlayRequest) error {
	_, err := a.Service().Store().Update(context.Background(), func(tx store.Txn) error {
		return putZone(tx, model.ZoneStatus{ZoneID: zone, Host: hostname(), LastSeen: time.Now().UTC()})
	})
	if err != nil {
		return fmt.Errorf("register zone %s: %w", zone, err)
	}
	if err := a.Service().SetZoneUnderlay(context.Background(), zone, underlay); err != nil {
		return fmt.Errorf("underlay of zone %s: %w", zone, err)
	}
	return nil
}

// Run serves the API and runs the agent until ctx ends. The kernel keeps
// its state when Palisade stops (workloads keep their network); CleanupKernel
// removes it.
func (u *Up) Run(ctx context.Context) error {
	defer u.unlock()
	// The agent stops before the server: Serve closes the store the agent
	// reads and reports status through.
	agentCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	agentErr := make(chan error, 1)
	// The WAF's listeners go with the agent, then its last decisions are
	// stored (the store is still open).
	logsCtx, stopLogs := context.WithCancel(context.Background())
	defer stopLogs()
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		u.wafLogs.run(logsCtx)
	}()
	go func() {
		err := u.Agent.Run(agentCtx)
		u.waf.Close()
		stopLogs()
		<-logsDone
		agentErr <- err
	}()
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	serveErr := make(chan error, 1)
	go func() { serveErr <- u.Serve(serveCtx) }()
	var errServe error
	select {
	case <-ctx.Done():
		stopAgent()
		errAgent := <-agentErr
		stopServe()
		return errors.Join(errAgent, <-serveErr)
	case errServe = <-serveErr:
	case errAgent := <-agentErr:
		// The agent gave up (it retries transient errors itself): stop serving
		// rather than pretend the zone is enforced.
		stopServe()
		return errors.Join(fmt.Errorf("agent: %w", errAgent), <-serveErr)
	}
	stopAgent()
	return errors.Join(errServe, <-agentErr)
}

// Close closes the app and releases the kernel lock.
func (u *Up) Close() error {
	err := u.App.Close()
	u.unlock()
	return err
}

// RunUp runs NewUp(o).Run(ctx) and closes everything after.
func RunUp(ctx context.Context, o UpOptions) error {
	u, err := NewUp(o)
	if err != nil {
		return err
	}
	defer u.Close()
	if o.Started != nil {
		o.Started(u.App, u.Agent)
	}
	u.log.Info("palisade up", "listen", u.Addr(), "zone", u.zone, "data_dir", u.opts.DataDir)
	return u.Run(ctx)
}

// CleanupKernel removes every namespace, link, route and nftables table
// that Palisade made on this host (those carrying the marker of tag).
func CleanupKernel(ctx context.Context, tag string, log *slog.Logger) error {
	release, err := lockKernel(kernelLockDir, tag) // not under a running up or agent
	if err != nil {
		return err
	}
	defer release()
	return linux.New(linux.Config{Tag: tag, Logger: log}).Cleanup(ctx)
}
