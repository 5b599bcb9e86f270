package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/remote"
	"github.com/palisade-project/palisade/internal/service"
)

// AgentOption changes how RunAgent runs.
type AgentOption func(*agentOptions)

type agentOptions struct {
	metricsListen string
	underlay      service.UnderlayRequest
}

// WithUnderlay announces the address (and UDP port) the agents of other
// hosts reach this host by, so that a VPC with instances here and on
// other hosts is one network (VXLAN between the VPC namespaces).
func WithUnderlay(u service.UnderlayRequest) AgentOption {
	return func(o *agentOptions) { o.underlay = u }
}

// WithMetricsListen serves the agent's Prometheus metrics on addr
// (host:port), path /metrics, WITHOUT authentication: bind it to loopback
// or a private interface. Empty: no metrics endpoint.
func WithMetricsListen(addr string) AgentOption {
	return func(o *agentOptions) { o.metricsListen = addr }
}

// RunAgent runs an agent for zone against a remote server (palisade agent):
// it registers the zone, mirrors the server's records and enforces them in
// this host's kernel until ctx ends. tag separates test instances.
func RunAgent(ctx context.Context, client remote.Caller, zone, tag string, logger *slog.Logger, opts ...AgentOption) error {
	if logger == nil {
		logger = slog.Default()
	}
	var o agentOptions
	for _, opt := range opts {
		opt(&o)
	}
	release, err := lockKernel(kernelLockDir, tag)
	if err != nil {
		return err
	}
	defer release()
	var hm hostMetrics // nil metrics: none
	if o.metricsListen != "" {
		reg, err := newMetricsRegistry()
		if err != nil {
			return err
		}
		if hm, err = newHostMetrics(reg); err != nil {
			return err
		}
		_, stop, err := serveMetrics(o.metricsListen, reg, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	m := remote.New(client, zone, logger)
	m.SetUnderlay(o.underlay.Addr, o.underlay.Port)
	if err := m.Heartbeat(ctx); err != nil {
		return fmt.Errorf("register zone %s: %w", zone, err)
	}
	if _, err := m.Sync(ctx); err != nil {
		return err
	}
	// The WAF of the steered protected objects; its decisions go to the
	// server (PalisadeReportWafLogs), which stores each under its object's
	// account. The listeners stop first, then the last decisions are sent.
	hw, wafLogs := newHostWAF(logger, m.ReportWafLogs, hm.waf)
	logsCtx, stopLogs := context.WithCancel(context.Background())
	logsDone := make(chan struct{})
	go func() {
		defer close(logsDone)
		wafLogs.run(logsCtx)
	}()
	defer func() {
		hw.Close()
		stopLogs()
		<-logsDone
	}()
	ag := agent.New(agent.Config{
		Store:    m.Store(),
		Zone:     zone,
		Topology: linux.New(linux.Config{Tag: tag, Logger: logger}),
		Firewall: &agent.NlFirewall{GuardPrefix: linux.VethPrefix},
		Status:   m,
		WAF:      hw,
		// Flow-log records go to the server; capture checkpoints
		// survive an agent restart (not a reboot) under /run.
		FlowRecords: m,
		FlowLogDir:  filepath.Join("/run/palisade", "flowlog"+tag),
		// Anti-DDoS events go to the server (PalisadeReportDdosEvents).
		DDoS:         m,
		Resolvers:    true,
		FirewallHits: m,
		FirewallLogs: m,
		LBHealth:     m,
		IfName:       linux.VethName,
		Logger:       logger,
		Metrics:      hm.agent,
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mirrorDone := make(chan error, 1)
	go func() { mirrorDone <- m.Run(ctx) }()
	err = ag.Run(ctx)
	cancel()
	return errors.Join(err, <-mirrorDone)
}
