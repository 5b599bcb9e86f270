// Package remote connects an agent on another host to a Palisade control
// plane over the API (palisade agent --server): it mirrors the records the
// data plane needs into a local in-memory store, which the agent watches as
// it would the server's own; it heartbeats the zone; and it reports the
// statuses the agent observes.
package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// VersionPalisade is the API version of the agent actions.
const VersionPalisade = "2026-11-01"

// Caller sends one API action (apiclient.Client implements it).
type Caller interface {
	Call(ctx context.Context, version, action string, params map[string]string) (map[string]any, error)
}

// Mirror keeps a local copy of the server's data-plane records.
type Mirror struct {
	c         Caller
	st        store.Store
	zone      string
	log       *slog.Logger
	heartbeat time.Duration
	// applied is the server revision of the last sync (for heartbeats).
	applied int64
	// underlayAddr and underlayPort are announced in heartbeats (empty:
	// this host joins no other).
	underlayAddr, underlayPort string
}

// New returns a Mirror for zone.
func New(c Caller, zone string, log *slog.Logger) *Mirror {
	if log == nil {
		log = slog.Default()
	}
	return &Mirror{c: c, st: memory.New(), zone: zone, log: log.With("component", "mirror", "zone", zone), heartbeat: 10 * time.Second}
}

// Store is the local mirror; the agent reads and watches it.
func (m *Mirror) Store() store.Store { return m.st }

// Sync copies the server's records into the mirror in one transaction and
// returns the server revision they reflect. Unchanged records are not
// rewritten, so the mirror's watchers only see real changes.
func (m *Mirror) Sync(ctx context.Context) (int64, error) {
	out, err := m.c.Call(ctx, VersionPalisade, "DescribeState", nil)
	if err != nil {
		return 0, fmt.Errorf("DescribeState: %w", err)
	}
	rev, err := number(out["Revision"])
	if err != nil {
		return 0, fmt.Errorf("DescribeState revision: %w", err)
	}
	want := map[string][]byte{}
	recs, _ := out["Records"].([]any)
	for _, r := range recs {
		rec, _ := r.(map[string]any)
		key, _ := rec["Key"].(string)
		if key == "" {
			continue
		}
		b, err := json.Marshal(rec["Value"])
		if err != nil {
			return 0, fmt.Errorf("record %s: %w", key, err)
		}
		want[key] = b
	}
	_, err = m.st.Update(ctx, func(tx store.Txn) error {
		for _, p := range service.AgentPrefixes() {
			var stale []string
			if err := tx.List(p, func(k string, _ []byte) error {
				if _, ok := want[k]; !ok {
					stale = append(stale, k)
				}
				return nil
			}); err != nil {
				return err
			}
			for _, k := range stale {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
		}
		for k, v := range want {
			old, ok, err := tx.Get(k)
			if err != nil {
				return err
			}
			if ok && bytes.Equal(old, v) {
				continue
			}
			if err := tx.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("update mirror: %w", err)
	}
	m.applied = rev
	return rev, nil
}

// Run syncs, then long-polls the server for changes and syncs again, and
// heartbeats the zone, until ctx ends. Errors are logged and retried.
func (m *Mirror) Run(ctx context.Context) error {
	var rev int64
	lastBeat := time.Time{}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if time.Since(lastBeat) >= m.heartbeat {
			if err := m.Heartbeat(ctx); err != nil {
				m.log.Warn("heartbeat", "err", err)
			} else {
				lastBeat = time.Now()
			}
		}
		r, err := m.Sync(ctx)
		if err != nil {
			m.log.Warn("sync", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		rev = r
		wait := min(m.heartbeat, 25*time.Second)
		_, err = m.c.Call(ctx, VersionPalisade, "WaitState", map[string]string{
			"AfterRevision": strconv.FormatInt(rev, 10),
			"WaitSeconds":   strconv.Itoa(int(wait / time.Second)),
		})
		if err != nil && ctx.Err() == nil {
			m.log.Warn("wait for changes", "err", err)
			sleep(ctx, backoff)
		}
	}
	return nil
}

// SetUnderlay sets the underlay address and UDP port the heartbeats
// announce (before the first heartbeat; an empty port is the default).
func (m *Mirror) SetUnderlay(addr, port string) { m.underlayAddr, m.underlayPort = addr, port }

// Heartbeat registers the zone as served by this agent.
func (m *Mirror) Heartbeat(ctx context.Context) error {
	host, _ := os.Hostname()
	params := map[string]string{
		"ZoneId": m.zone, "Host": host, "AppliedRevision": strconv.FormatInt(m.applied, 10),
	}
	if m.underlayAddr != "" {
		params["UnderlayAddress"] = m.underlayAddr
		if m.underlayPort != "" {
			params["UnderlayPort"] = m.underlayPort
		}
	}
	_, err := m.c.Call(ctx, VersionPalisade, "RegisterZone", params)
	return err
}

// SetInstanceStatus reports an instance's status to the server.
func (m *Mirror) SetInstanceStatus(ctx context.Context, id, status string) error {
	_, err := m.c.Call(ctx, VersionPalisade, "ReportStatus", map[string]string{"Instance.1.Id": id, "Instance.1.Status": status})
	return err
}

// SetENIStatus reports an ENI's status to the server.
func (m *Mirror) SetENIStatus(ctx context.Context, id, status string) error {
	_, err := m.c.Call(ctx, VersionPalisade, "ReportStatus", map[string]string{"NetworkInterface.1.Id": id, "NetworkInterface.1.Status": status})
	return err
}

// SetEIPStatus reports an EIP's status to the server.
func (m *Mirror) SetEIPStatus(ctx context.Context, id, status string) error {
	_, err := m.c.Call(ctx, VersionPalisade, "ReportStatus", map[string]string{"Eip.1.Id": id, "Eip.1.Status": status})
	return err
}

// flowRecordsPerCall bounds one PalisadeReportFlowRecords call: the batch
// travels as a query parameter, which the server's request line limits.
const flowRecordsPerCall = 500

// ReportFlowRecords sends a flow-log batch to the server
// (PalisadeReportFlowRecords), in calls of at most flowRecordsPerCall
// records; the missed counts go with the first call. On an error the
// calls before it have been stored.
func (m *Mirror) ReportFlowRecords(ctx context.Context, b flowlog.Batch) error {
	recs := b.Records
	first := true
	for first || len(recs) > 0 {
		n := min(len(recs), flowRecordsPerCall)
		part := flowlog.Batch{Records: recs[:n]}
		if b.ID != "" {
			part.ID = fmt.Sprintf("%s/%d", b.ID, len(b.Records)-len(recs))
		}
		if first {
			part.Missed = b.Missed
		}
		if len(part.Records) == 0 && len(part.Missed) == 0 {
			return nil
		}
		js, err := json.Marshal(part)
		if err != nil {
			return fmt.Errorf("encode flow-log batch: %w", err)
		}
		if _, err := m.c.Call(ctx, VersionPalisade, "PalisadeReportFlowRecords", map[string]string{"Batch": string(js)}); err != nil {
			return fmt.Errorf("PalisadeReportFlowRecords: %w", err)
		}
		recs, first = recs[n:], false
	}
	return nil
}

// wafLogsPerCall and wafLogBytesPerCall bound one PalisadeReportWafLogs
// call (the records travel as a query parameter, which the server's
// request line limits; a record's URI may be 2 KiB long).
const (
	wafLogsPerCall     = 500
	wafLogBytesPerCall = 256 << 10
)

// ReportWafLogs sends WAF decisions to the server (PalisadeReportWafLogs),
// in calls of at most wafLogsPerCall records and about wafLogBytesPerCall
// bytes. accountID is not sent: the server takes each record's account
// from its protected object. On an error the calls before it have been
// stored. Its signature is that of the host WAF's log sink.
func (m *Mirror) ReportWafLogs(ctx context.Context, _ string, recs []model.WAFLog) error {
	var buf bytes.Buffer
	n := 0
	send := func() error {
		if n == 0 {
			return nil
		}
		buf.WriteByte(']')
		if _, err := m.c.Call(ctx, VersionPalisade, "PalisadeReportWafLogs", map[string]string{"Records": buf.String()}); err != nil {
			return fmt.Errorf("PalisadeReportWafLogs: %w", err)
		}
		buf.Reset()
		n = 0
		return nil
	}
	for i := range recs {
		js, err := json.Marshal(&recs[i])
		if err != nil {
			return fmt.Errorf("encode waf log: %w", err)
		}
		if n > 0 && (n >= wafLogsPerCall || buf.Len()+len(js)+2 > wafLogBytesPerCall) {
			if err := send(); err != nil {
				return err
			}
		}
		if n == 0 {
			buf.WriteByte('[')
		} else {
			buf.WriteByte(',')
		}
		buf.Write(js)
		n++
	}
	return send()
}

// ddosEventsPerCall bounds one PalisadeReportDdosEvents call (the server
// takes up to service.DDoSEventsPerReport; an event is about 300 bytes).
const ddosEventsPerCall = 200

// ReportDDoSEvents sends Anti-DDoS events to the server
// (PalisadeReportDdosEvents), in calls of at most ddosEventsPerCall
// events (agent.DDoSSink). The server sets each event's account and EIP.
// On an error the calls before it have been stored.
func (m *Mirror) ReportDDoSEvents(ctx context.Context, events []model.DDoSEvent) error {
	return sendChunks(ctx, m, "PalisadeReportDdosEvents", "Events", events)
}

// ReportFirewallHits sends the Internet-firewall hits this agent counted
// (PalisadeReportFirewallHits; agent.FirewallHitSink).
func (m *Mirror) ReportFirewallHits(ctx context.Context, hits []model.FirewallHits) error {
	return sendChunks(ctx, m, "PalisadeReportFirewallHits", "Hits", hits)
}

// ReportFirewallLogs sends the traffic logs of the Cloud Firewall's drop
// and log policies this agent recorded (PalisadeReportFirewallLogs;
// agent.FirewallLogSink). The server fills each record's account and
// firewall from its policy. On an error the calls before it have been
// stored.
func (m *Mirror) ReportFirewallLogs(ctx context.Context, recs []model.FirewallTrafficLog) error {
	return sendChunks(ctx, m, "PalisadeReportFirewallLogs", "Records", recs)
}

// lbHealthPerCall and lbHealthEntriesPerCall bound one
// PalisadeReportLoadBalancerHealth call: load balancers, and their
// (listener, server) entries (about 60 bytes each). A load balancer with
// more entries goes alone.
const (
	lbHealthPerCall        = 50
	lbHealthEntriesPerCall = 5000
)

// ReportLBHealth sends the health of load balancers' backends to the
// server (PalisadeReportLoadBalancerHealth), in calls of at most
// lbHealthPerCall load balancers and lbHealthEntriesPerCall entries. On
// an error the calls before it have been stored.
func (m *Mirror) ReportLBHealth(ctx context.Context, h []model.LBHealth) error {
	return sendChunksBy(ctx, m, "PalisadeReportLoadBalancerHealth", "Health", h, lbHealthPerCall, lbHealthEntriesPerCall, func(x model.LBHealth) int {
		n := 0
		for _, l := range x.Listeners {
			n += len(l.Servers)
		}
		return n
	})
}

// sendChunks calls an agent report action with items as a JSON array in
// param, ddosEventsPerCall at a time.
func sendChunks[T any](ctx context.Context, m *Mirror, action, param string, items []T) error {
	return sendChunksBy(ctx, m, action, param, items, ddosEventsPerCall, 0, nil)
}

// sendChunksBy is sendChunks with at most perCall items a call and, with
// weight, at most maxWeight of their weights (an item heavier alone goes
// alone).
func sendChunksBy[T any](ctx context.Context, m *Mirror, action, param string, items []T, perCall, maxWeight int, weight func(T) int) error {
	for len(items) > 0 {
		n := min(len(items), perCall)
		if weight != nil {
			w := weight(items[0])
			for i := 1; i < n; i++ {
				if w += weight(items[i]); w > maxWeight {
					n = i
					break
				}
			}
		}
		js, err := json.Marshal(items[:n])
		if err != nil {
			return fmt.Errorf("%s: encode: %w", action, err)
		}
		if _, err := m.c.Call(ctx, VersionPalisade, action, map[string]string{param: string(js)}); err != nil {
			return fmt.Errorf("%s: %w", action, err)
		}
		items = items[n:]
	}
	return nil
}

func number(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Int64()
	case float64:
		return int64(n), nil
	case string:
		return strconv.ParseInt(n, 10, 64)
	}
	return 0, fmt.Errorf("not a number: %v", v)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
