package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
)

// Replay protection. A signature nonce is accepted once per access key:
// the server remembers it for twice the clock skew (a request is accepted
// while its timestamp is within the skew, so it can be replayed up to
// 2*skew after its first use). The in-memory nonceCache decides; with
// ServerOptions.Nonces a noncePersister also writes the new nonces to the
// store in batches, every NonceFlushInterval, in one transaction with
// their expiry, and Start loads the unexpired ones before serving, so that
// a restart does not reopen the window.
//
// What a crash loses: the nonces accepted in the last NonceFlushInterval
// (200 ms by default) plus the duration of the write in progress; requests
// of that span can be replayed after the restart, within their timestamp
// window. A clean shutdown (Close after the HTTP server stopped) loses
// none. While the store fails, new nonces stay queued in memory (retried
// at every flush, dropped when they expire) and the failure is logged.

// DefaultNonceFlushInterval is how often new nonces are written when
// ServerOptions.NonceFlushInterval is 0: one store transaction (one fsync)
// per interval, whatever the request rate.
const DefaultNonceFlushInterval = 200 * time.Millisecond

// noncePruneInterval is how often an idle server (no new nonce) still
// asks the store to delete the expired ones.
const noncePruneInterval = time.Minute

// NonceStore keeps used signature nonces across restarts
// (ServerOptions.Nonces). Its method set is store.NonceStore's, so that a
// store backend implements it without this package importing the store.
//
// A key is opaque (access key ID, NUL, nonce); expires is when the nonce
// may be forgotten.
type NonceStore interface {
	// SaveNonces records add durably and deletes every recorded nonce
	// that expires at or before now, in one transaction.
	SaveNonces(ctx context.Context, add map[string]time.Time, now time.Time) error
	// LoadNonces deletes the nonces that expire at or before now and
	// calls fn for each of the others.
	LoadNonces(ctx context.Context, now time.Time, fn func(key string, expires time.Time) error) error
}

// Start loads the nonces that ServerOptions.Nonces holds and starts
// writing new ones to it every NonceFlushInterval. Call it once, before
// serving: until it returns nil, requests are refused (503
// ServiceUnavailable), as any of them could be a replay. Without Nonces it
// does nothing.
func (s *Server) Start(ctx context.Context) error {
	if s.persist == nil {
		return nil
	}
	return s.persist.start(ctx)
}

// Close writes the nonces not yet written and stops the writer. From then
// on requests are refused (503 ServiceUnavailable), so that no request is
// accepted whose nonce would not be recorded: call it after the HTTP
// server stopped serving (http.Server.Shutdown). Without Nonces it does
// nothing. It is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	if s.persist == nil {
		return nil
	}
	return s.persist.close(ctx)
}

// nonceState says what the cache does with a nonce besides remembering it.
type nonceState int

const (
	nonceMemory     nonceState = iota // no persistence: remember only
	nonceLoading                      // persistence configured, not loaded yet: refuse
	noncePersisting                   // remember and queue for the persister
	nonceClosed                       // persistence closed: refuse
)

func errNonceUnavailable() *errs.Error {
	return errs.New(http.StatusServiceUnavailable, "ServiceUnavailable",
		"The request has failed due to a temporary failure of the server: it is starting or stopping. Retry with a new SignatureNonce.")
}

// nonceCache remembers used nonces for ttl. Entries are kept in insertion
// order, so expiring is advancing head: memory is bounded by the request
// rate times ttl.
type nonceCache struct {
	ttl   time.Duration
	mu    sync.Mutex
	seen  map[string]time.Time
	order []nonceEntry
	head  int // order[:head] have expired
	state nonceState
	// pending are the nonces used since the persister last took them
	// (noncePersisting only); bounded like order, as the persister drops
	// expired ones when it puts a failed batch back.
	pending []nonceEntry
}

type nonceEntry struct {
	key string
	at  time.Time
}

func newNonceCache(ttl time.Duration) *nonceCache {
	return &nonceCache{ttl: ttl, seen: map[string]time.Time{}}
}

// use records key at now, or fails with SignatureNonceUsed if it was
// recorded within ttl (ServiceUnavailable while persistence is loading or
// closed).
func (n *nonceCache) use(key string, now time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.state == nonceLoading || n.state == nonceClosed {
		return errNonceUnavailable()
	}
	n.expireLocked(now)
	if _, ok := n.seen[key]; ok {
		return errs.InvalidParam("SignatureNonceUsed",
			"The request signature nonce has been used. Use a new SignatureNonce for every request.")
	}
	n.seen[key] = now
	e := nonceEntry{key, now}
	n.order = append(n.order, e)
	if n.state == noncePersisting {
		n.pending = append(n.pending, e)
	}
	return nil
}

// expireLocked drops entries older than ttl; must be called with mu held.
func (n *nonceCache) expireLocked(now time.Time) {
	for n.head < len(n.order) && now.Sub(n.order[n.head].at) > n.ttl {
		delete(n.seen, n.order[n.head].key)
		n.order[n.head] = nonceEntry{}
		n.head++
	}
	// Compact once the expired prefix dominates, so the copy is amortised.
	if n.head > 64 && n.head*2 > len(n.order) {
		n.order = append([]nonceEntry(nil), n.order[n.head:]...)
		n.head = 0
	}
}

// size reports the number of remembered nonces.
func (n *nonceCache) size() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.seen)
}

// restore adds loaded entries (a key twice keeps its latest use), drops
// the expired ones and starts queueing new nonces for the persister. It
// returns the number of remembered nonces.
func (n *nonceCache) restore(loaded []nonceEntry, now time.Time) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	latest := make(map[string]time.Time, len(loaded)+len(n.seen))
	for _, e := range slices.Concat(n.order[n.head:], loaded) {
		if at, ok := latest[e.key]; !ok || e.at.After(at) {
			latest[e.key] = e.at
		}
	}
	order := make([]nonceEntry, 0, len(latest))
	for k, at := range latest {
		order = append(order, nonceEntry{k, at})
	}
	// expireLocked needs insertion order to be time order.
	slices.SortFunc(order, func(a, b nonceEntry) int { return a.at.Compare(b.at) })
	n.seen, n.order, n.head = make(map[string]time.Time, len(order)), order, 0
	for _, e := range order {
		n.seen[e.key] = e.at
	}
	n.expireLocked(now)
	if n.state == nonceLoading {
		n.state = noncePersisting
	}
	return len(n.seen)
}

// takePending returns the nonces queued for the persister and empties the
// queue.
func (n *nonceCache) takePending() []nonceEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.pending
	n.pending = nil
	return p
}

// requeue puts back a batch the store refused, before the nonces queued
// since, without those expired at now (they need no record any more).
func (n *nonceCache) requeue(batch []nonceEntry, now time.Time) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := slices.DeleteFunc(batch, func(e nonceEntry) bool { return now.Sub(e.at) > n.ttl })
	n.pending = append(keep, n.pending...)
}

// close refuses nonces from now on and returns those still queued.
func (n *nonceCache) close() []nonceEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.state = nonceClosed
	p := n.pending
	n.pending = nil
	return p
}

// noncePersister writes the cache's new nonces to a NonceStore.
type noncePersister struct {
	store    NonceStore
	cache    *nonceCache
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
	stop     chan struct{} // closed by close: the writer returns
	done     chan struct{} // closed by the writer when it returned

	mu      sync.Mutex // guards started and closed
	started bool       // start loaded the nonces and runs the writer
	closed  bool

	// Owned by the writer, then by close once the writer returned.
	lastSave time.Time
	failing  bool
}

// start loads the stored nonces into the cache and starts the writer.
func (p *noncePersister) start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("api: nonce store: start after close")
	}
	if p.started {
		return errors.New("api: nonce store: started twice")
	}
	now := p.now()
	var loaded []nonceEntry
	err := p.store.LoadNonces(ctx, now, func(key string, expires time.Time) error {
		loaded = append(loaded, nonceEntry{key, expires.Add(-p.cache.ttl)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("api: load used signature nonces: %w", err)
	}
	count := p.cache.restore(loaded, now)
	p.lastSave = now // LoadNonces pruned
	p.started = true
	go p.run()
	p.log.Info("api: used signature nonces restored", "count", count, "flush_interval", p.interval)
	return nil
}

// run is the writer: it flushes every interval until stop is closed.
func (p *noncePersister) run() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			_ = p.flush(context.Background(), p.cache.takePending())
		}
	}
}

// close stops the writer, then writes what is still queued.
func (p *noncePersister) close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	batch := p.cache.close()
	if !p.started {
		return nil
	}
	close(p.stop)
	<-p.done
	// The writer may have put a failed batch back after cache.close.
	batch = append(batch, p.cache.takePending()...)
	if len(batch) == 0 {
		return nil
	}
	if err := p.flush(ctx, batch); err != nil {
		return fmt.Errorf("api: save used signature nonces at shutdown (%d are lost): %w", len(batch), err)
	}
	return nil
}

// flush writes batch with its expiries and prunes the expired nonces; an
// empty batch writes nothing unless the last write is noncePruneInterval
// old. A batch the store refuses goes back to the queue.
func (p *noncePersister) flush(ctx context.Context, batch []nonceEntry) error {
	now := p.now()
	if len(batch) == 0 && now.Sub(p.lastSave) < noncePruneInterval {
		return nil
	}
	add := make(map[string]time.Time, len(batch))
	for _, e := range batch {
		add[e.key] = e.at.Add(p.cache.ttl)
	}
	if err := p.store.SaveNonces(ctx, add, now); err != nil {
		if !p.failing {
			p.log.Error("api: saving used signature nonces failed: they stay in memory and are retried at every flush; until then a restart forgets them",
				"pending", len(batch), "err", err)
		}
		p.failing = true
		p.cache.requeue(batch, now)
		return err
	}
	if p.failing {
		p.log.Info("api: saving used signature nonces works again", "saved", len(batch))
		p.failing = false
	}
	p.lastSave = now
	return nil
}
