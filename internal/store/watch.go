package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultHistory is how many events a Hub retains for resuming watchers
// when the backend is not told otherwise. It bounds memory while letting an
// agent that was briefly disconnected resume instead of re-listing.
const DefaultHistory = 10000

// DefaultWatchBuffer is how many undelivered events a single watcher may
// have queued before it is considered too slow and closed.
const DefaultWatchBuffer = 10000

// Hub fans committed events out to watchers and keeps a bounded history so
// watchers can resume from a revision. It is shared by the backends so that
// watch semantics are identical everywhere.
//
// Backends call Publish once per committed revision that changed something.
// Publish may be called out of revision order (bbolt runs commit handlers
// after releasing its writer lock, so two commits can race to publish);
// the hub holds early revisions back until the gap is filled, which is safe
// because committed revisions are contiguous.
type Hub struct {
	mu        sync.Mutex
	rev       int64             // last revision delivered to watchers
	compacted int64             // events with Revision <= compacted are gone
	pending   map[int64][]Event // published out of order, waiting for rev+1
	ring      []Event           // history, oldest first from head
	head, n   int
	watchers  map[*watcher]struct{}
	buffer    int
	closed    bool
	wg        sync.WaitGroup
}

// NewHub returns a hub whose history starts after rev: watchers may resume
// from rev or later, never earlier (those events were not retained).
// history <= 0 selects DefaultHistory.
func NewHub(rev int64, history int) *Hub {
	if history <= 0 {
		history = DefaultHistory
	}
	return &Hub{
		rev:       rev,
		compacted: rev,
		pending:   map[int64][]Event{},
		ring:      make([]Event, history),
		watchers:  map[*watcher]struct{}{},
		// A resuming watcher starts with up to a full history queued, so
		// the slow-watcher limit must not be below it.
		buffer: max(history, DefaultWatchBuffer),
	}
}

// Revision is the last revision delivered to watchers.
func (h *Hub) Revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Publish records the events of one committed revision. The events must
// all carry rev and must not be modified afterwards (watchers share them).
func (h *Hub) Publish(rev int64, events []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || rev <= h.rev {
		return
	}
	h.pending[rev] = events
	for {
		evs, ok := h.pending[h.rev+1]
		if !ok {
			return
		}
		delete(h.pending, h.rev+1)
		h.rev++
		for _, ev := range evs {
			h.record(ev)
			h.fanOut(ev)
		}
	}
}

// record appends ev to the history ring, evicting the oldest event.
func (h *Hub) record(ev Event) {
	if h.n == len(h.ring) {
		old := h.ring[h.head]
		// Dropping one event of a revision makes that whole revision
		// unresumable, hence compacted moves to the evicted revision.
		h.compacted = old.Revision
		h.ring[h.head] = ev
		h.head = (h.head + 1) % len(h.ring)
		return
	}
	h.ring[(h.head+h.n)%len(h.ring)] = ev
	h.n++
}

func (h *Hub) fanOut(ev Event) {
	for w := range h.watchers {
		if strings.HasPrefix(ev.Key, w.prefix) && !w.push(ev, h.buffer) {
			// Too slow: close it rather than block the writer or grow
			// without bound. The watcher re-lists and watches again.
			delete(h.watchers, w)
			w.stop()
		}
	}
}

// Watch streams events for keys with prefix and revision > afterRev,
// starting with the retained history. See Store.Watch.
func (h *Hub) Watch(ctx context.Context, prefix string, afterRev int64) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if afterRev < h.compacted {
		return nil, ErrCompacted
	}
	w := &watcher{
		prefix: prefix,
		out:    make(chan Event),
		wake:   make(chan struct{}, 1),
		kill:   make(chan struct{}),
	}
	for i := 0; i < h.n; i++ {
		ev := h.ring[(h.head+i)%len(h.ring)]
		if ev.Revision > afterRev && strings.HasPrefix(ev.Key, prefix) {
			w.queue = append(w.queue, ev)
		}
	}
	w.undelivered.Store(int64(len(w.queue)))
	h.watchers[w] = struct{}{}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		w.run(ctx)
		h.remove(w)
	}()
	return w.out, nil
}

func (h *Hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, w)
}

// Close ends every watcher and waits for their goroutines to exit.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	for w := range h.watchers {
		w.stop()
	}
	h.watchers = map[*watcher]struct{}{}
	h.mu.Unlock()
	h.wg.Wait()
}

// watcher decouples the publisher from a consumer: the hub appends to
// queue without blocking and a goroutine feeds out at the consumer's pace.
type watcher struct {
	prefix string
	out    chan Event
	wake   chan struct{} // capacity 1: "queue is not empty"
	kill   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	queue []Event
	// undelivered counts queued events plus those taken by run but not
	// yet sent, so the slow-watcher limit sees the whole backlog.
	undelivered atomic.Int64
}

// push queues ev; false means the watcher has more than limit undelivered
// events.
func (w *watcher) push(ev Event, limit int) bool {
	if w.undelivered.Load() >= int64(limit) {
		return false
	}
	w.undelivered.Add(1)
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true
}

func (w *watcher) stop() { w.once.Do(func() { close(w.kill) }) }

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, ev := range batch {
			select {
			case w.out <- ev:
				w.undelivered.Add(-1)
			case <-ctx.Done():
				return
			case <-w.kill:
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		case <-w.kill:
			return
		}
	}
}
