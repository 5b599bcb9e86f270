package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/waf"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// hostWAF runs the WAF inside `palisade up` and `palisade agent` for the
// protected objects whose instance has an EIP on this host (agent.WAF):
// each object listens transparently on EIP:port inside its VPC namespace,
// where the kernel steers the port's new connections (see
// linux.ListenTransparent), and forwards clean requests to the instance
// from the client's own address and port (linux.DialTransparent), on one
// upstream connection per client connection, so that the instance and its
// security groups see the client as on the direct path. A change that
// denies a connected client closes its connection (closeDenied).
type hostWAF struct {
	rt  *waf.Runtime
	log *slog.Logger

	mu      sync.Mutex
	hash    string            // of the configuration applied last without error
	account map[string]string // object ID -> account, for the log sink
	// admitted holds the client ranges each object's live connections
	// were last checked against (Apply only).
	admitted map[string][]policy.SourceRange
}

// newHostWAF returns the WAF of a host. put, when set, stores decision
// records of an account (PutWafLogs on the server itself,
// PalisadeReportWafLogs from a remote agent); without it decisions are not
// kept. metrics, when set, counts the decisions.
func newHostWAF(log *slog.Logger, put func(ctx context.Context, accountID string, recs []model.WAFLog) error, metrics *waf.Metrics) (*hostWAF, *wafLogBatcher) {
	h := &hostWAF{log: log.With("component", "waf"), account: map[string]string{}, admitted: map[string][]policy.SourceRange{}}
	var sink waf.Sink
	var batch *wafLogBatcher
	if put != nil {
		batch = &wafLogBatcher{put: put, account: h.accountOf, log: h.log}
		sink = batch
	}
	h.rt = waf.NewRuntime(sink, h.log)
	h.rt.Metrics = metrics
	h.rt.Listen = listenSteered
	h.rt.Transport = func(oc wafrule.ObjectConfig) http.RoundTripper {
		vpcID, _, _ := strings.Cut(oc.Listen, "/")
		// Each client connection gets its own upstream connection, from
		// the client's address and port, kept while the client's is:
		// the instance and its security groups see the client's
		// connection as on the direct path (a flow they cut hangs as the
		// client's own would), and no other client's request ever
		// travels on it.
		return waf.PerClientConnection(func() *http.Transport {
			t := waf.NewTransport()
			// Idle as long as the client's connection is (the server's
			// IdleTimeout ends both): closing it earlier would leave the
			// client's port in TIME_WAIT here and the next request would
			// come from another port.
			t.IdleConnTimeout = 0
			t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) {
				from, ok := waf.ClientAddr(ctx)
				if !ok {
					return nil, errors.New("waf: no client address to connect from")
				}
				ctx, cancel := context.WithTimeout(ctx, waf.UpstreamDialTimeout)
				defer cancel()
				c, err := linux.DialTransparent(ctx, vpcID, from, addr)
				if err != nil {
					h.log.Debug("waf upstream connection failed", "object", oc.ID, "err", err)
				}
				return c, err
			}
			return t
		})
	}
	return h, batch
}

// listenSteered opens the transparent listener of an object whose Listen
// is "<vpc>/<eip>:<port>" (agent.WAFObject), with "@<netns inode>" added by
// Apply.
func listenSteered(oc wafrule.ObjectConfig) (net.Listener, error) {
	vpcID, ap, ok := strings.Cut(oc.Listen, "/")
	ap, _, _ = strings.Cut(ap, "@")
	if !ok {
		return nil, fmt.Errorf("steered listener %q: want <vpc>/<eip>:<port>", oc.Listen)
	}
	addr, err := netip.ParseAddrPort(ap)
	if err != nil {
		return nil, fmt.Errorf("steered listener %q: %w", oc.Listen, err)
	}
	return linux.ListenTransparent(vpcID, addr)
}

// storeWAFLogs stores decision records through the service (palisade
// up). The records of an object deleted meanwhile go with it.
func storeWAFLogs(svc *service.Service) func(ctx context.Context, accountID string, recs []model.WAFLog) error {
	return func(ctx context.Context, accountID string, recs []model.WAFLog) error {
		_, err := svc.PutWafLogs(ctx, accountID, recs)
		if e, ok := errors.AsType[*errs.Error](err); ok && strings.HasSuffix(e.Code, ".NotFound") {
			return nil
		}
		return err
	}
}

func (h *hostWAF) accountOf(objectID string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.account[objectID]
}

// Apply implements agent.WAF: it runs exactly objs, and does nothing when
// they are what it applied last.
func (h *hostWAF) Apply(_ context.Context, objs []agent.WAFObject) error {
	cfgs := make([]wafrule.ObjectConfig, len(objs))
	account := make(map[string]string, len(objs))
	for i, o := range objs {
		cfgs[i] = o.Config
		// A listener stays in the namespace it was made in: when the VPC
		// namespace is made anew (deleted by hand, recreated by the
		// agent), the new inode restarts the object's listener there.
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join("/run/netns", o.VPCID), &st); err == nil {
			cfgs[i].Listen += "@" + strconv.FormatUint(st.Ino, 10)
		}
		account[o.Config.ID] = o.AccountID
	}
	b, jerr := json.Marshal(cfgs)
	if jerr != nil {
		return fmt.Errorf("encode waf config: %w", jerr)
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	h.mu.Lock()
	h.account = account
	same := hash == h.hash
	h.mu.Unlock()
	var err error
	if !same {
		if err = h.rt.Apply(cfgs); err == nil { // else retried at the next reconciliation
			h.mu.Lock()
			h.hash = hash
			h.mu.Unlock()
		}
	}
	h.closeDenied(objs)
	return err
}

// closeDenied closes the client connections that the objects' upstream
// filters no longer admit, when those changed.
func (h *hostWAF) closeDenied(objs []agent.WAFObject) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, o := range objs {
		id := o.Config.ID
		seen[id] = true
		a := o.Clients
		if a == nil {
			delete(h.admitted, id)
			continue
		}
		if a.Eval == nil {
			if last, ok := h.admitted[id]; ok && slices.Equal(last, a.Ranges) {
				continue
			}
			h.admitted[id] = a.Ranges
		} else {
			delete(h.admitted, id) // evaluated on every apply
		}
		if n := h.rt.CloseClients(id, a.Admits); n > 0 {
			h.log.Info("waf closed client connections its instance's filters now deny", "object", id, "connections", n)
		}
	}
	for id := range h.admitted {
		if !seen[id] {
			delete(h.admitted, id)
		}
	}
}

// Close stops every listener (requests in flight finish first).
func (h *hostWAF) Close() { h.rt.Close() }

// wafLogBatcher collects decisions and stores them per account every
// second; beyond wafLogQueueMax waiting records new ones are dropped (and
// counted in a warning).
type wafLogBatcher struct {
	put     func(ctx context.Context, accountID string, recs []model.WAFLog) error
	account func(objectID string) string
	log     *slog.Logger

	mu      sync.Mutex
	queue   []model.WAFLog
	dropped int
}

const wafLogQueueMax = 20000

// Log implements waf.Sink.
func (b *wafLogBatcher) Log(r waf.Record) {
	acct := b.account(r.Object)
	if acct == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) >= wafLogQueueMax {
		b.dropped++
		return
	}
	b.queue = append(b.queue, model.WAFLog{Time: r.Time, AccountID: acct, ProtectionID: r.Object, ClientIP: r.ClientIP,
		Method: r.Method, Host: r.Host, URI: r.URI, Status: r.Status, Module: r.Module, RuleIDs: r.RuleIDs,
		Action: r.Action, Score: r.Score})
}

// wafLogLastFlush bounds the flush after the batcher stops (a remote
// agent's server may be unreachable then).
const wafLogLastFlush = 10 * time.Second

// run flushes every second until ctx ends, then once more.
func (b *wafLogBatcher) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wafLogLastFlush)
			b.flush(fctx)
			cancel()
			return
		case <-t.C:
			b.flush(ctx)
		}
	}
}

func (b *wafLogBatcher) flush(ctx context.Context) {
	b.mu.Lock()
	q, dropped := b.queue, b.dropped
	b.queue, b.dropped = nil, 0
	b.mu.Unlock()
	if dropped > 0 {
		b.log.Warn("waf log queue full, records dropped", "dropped", dropped)
	}
	// Per object: the records of an object deleted meanwhile are refused
	// without taking the others along.
	byObj := map[string][]model.WAFLog{}
	for _, r := range q {
		byObj[r.ProtectionID] = append(byObj[r.ProtectionID], r)
	}
	for obj, recs := range byObj {
		for len(recs) > 0 {
			n := min(len(recs), 1000)
			if err := b.put(ctx, recs[0].AccountID, recs[:n]); err != nil {
				b.log.Warn("storing waf logs failed", "object", obj, "records", n, "err", err)
			}
			recs = recs[n:]
		}
	}
}
