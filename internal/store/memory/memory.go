// Package memory is an in-memory store.Store: nothing persists. It serves
// tests and is the baseline the bolt backend is benchmarked against.
package memory

import (
	"context"
	"errors"
	"sync"

	"github.com/palisade-project/palisade/internal/store"
)

// Options tunes a memory store. The zero value is usable.
type Options struct {
	// History is how many events are kept for resuming watchers;
	// <= 0 selects store.DefaultHistory.
	History int
}

// Store keeps the data in a map plus a sorted key index. Readers share an
// RWMutex read lock, so a View is a consistent snapshot for its duration;
// Updates are serialised by the write lock, so fn runs exactly once.
type Store struct {
	mu     sync.RWMutex
	kv     map[string][]byte // values are never mutated in place
	index  keyIndex
	rev    int64
	closed bool
	hub    *store.Hub
}

// New returns an empty memory store with default options.
func New() store.Store { return NewWithOptions(Options{}) }

// NewWithOptions returns an empty memory store.
func NewWithOptions(opts Options) store.Store {
	return &Store{kv: map[string][]byte{}, hub: store.NewHub(0, opts.History)}
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.ReadTxn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(&txn{s: s})
}

// Update implements store.Store. The revision increments once per Update
// that changed at least one key (not once per key), matching bolt.
func (s *Store) Update(ctx context.Context, fn func(tx store.Txn) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	t := &txn{s: s, ws: NewWriteSet()}
	if err := fn(t); err != nil {
		return 0, err
	}
	rev := s.rev + 1
	var events []store.Event
	_ = t.ws.Each(func(key string, value []byte, deleted bool) error {
		if deleted {
			if _, ok := s.kv[key]; !ok {
				return nil // deleting an absent key changes nothing
			}
			delete(s.kv, key)
			s.index.remove(key)
			events = append(events, store.Event{Type: store.EventDelete, Key: key, Revision: rev})
			return nil
		}
		if _, ok := s.kv[key]; !ok {
			s.index.insert(key)
		}
		s.kv[key] = value
		events = append(events, store.Event{Type: store.EventPut, Key: key, Value: value, Revision: rev})
		return nil
	})
	if len(events) == 0 {
		return s.rev, nil
	}
	s.rev = rev
	// Publishing under the write lock keeps revisions in order.
	s.hub.Publish(rev, events)
	return rev, nil
}

// Revision implements store.Store.
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) (<-chan store.Event, error) {
	return s.hub.Watch(ctx, prefix, afterRev)
}

// Close ends all watchers; later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.hub.Close()
	return nil
}

// Len is the number of keys (for tests and benchmarks).
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.len()
}

// txn is both the read and the write transaction; ws is nil in a View.
type txn struct {
	s  *Store
	ws *WriteSet
}

func (t *txn) Get(key string) ([]byte, bool, error) {
	if t.ws != nil {
		if v, deleted, ok := t.ws.Lookup(key); ok {
			if deleted {
				return nil, false, nil
			}
			return clone(v), true, nil
		}
	}
	v, ok := t.s.kv[key]
	if !ok {
		return nil, false, nil
	}
	// A copy, so a caller that modifies the result cannot corrupt the store.
	return clone(v), true, nil
}

func (t *txn) List(prefix string, fn func(key string, value []byte) error) error {
	base := func(emit func(string, []byte) error) error {
		var err error
		t.s.index.ascend(prefix, func(k string) bool {
			err = emit(k, t.s.kv[k])
			return err == nil
		})
		return err
	}
	if t.ws == nil {
		return base(fn)
	}
	return t.ws.Merge(prefix, base, fn)
}

func (t *txn) Revision() int64 { return t.s.rev }

func (t *txn) Put(key string, value []byte) error {
	if key == "" {
		// bbolt cannot store an empty key; refuse it here too so that
		// both backends behave alike.
		return errors.New("store: empty key")
	}
	t.ws.Put(key, value)
	return nil
}

func (t *txn) Delete(key string) error {
	t.ws.Delete(key)
	return nil
}

func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }
