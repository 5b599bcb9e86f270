// Package bolt is the embedded, durable store.Store on bbolt.
//
// Layout: bucket "kv" holds the keys; bucket "meta" holds the revision under
// "rev" as 8 big-endian bytes, written in the same transaction as the data,
// so revision and data can never disagree after a crash.
//
// Durability: every Update returns only after bbolt committed and fsynced
// (NoSync stays false). Group commit: when another Update is already in
// flight, the call goes through db.Batch so concurrent Updates share one
// commit and one fsync; a lone Update commits at once rather than waiting
// for the batch timer.
package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
	bbolt "go.etcd.io/bbolt"
)

var (
	bucketKV   = []byte("kv")
	bucketMeta = []byte("meta")
	keyRev     = []byte("rev")
)

// Options tunes the bolt store. A nil *Options selects the defaults.
type Options struct {
	// History is how many events are kept for resuming watchers;
	// <= 0 selects store.DefaultHistory.
	History int
	// MaxBatchDelay is how long a batch waits for more Updates before it
	// commits; 0 selects DefaultMaxBatchDelay.
	MaxBatchDelay time.Duration
	// LockTimeout bounds waiting for another process's file lock; 0
	// selects DefaultLockTimeout.
	LockTimeout time.Duration
}

const (
	// DefaultMaxBatchDelay is short because Updates only batch when others
	// are already in flight: by then the fsync in progress is what they
	// wait for anyway, and a long delay would only add latency.
	DefaultMaxBatchDelay = 2 * time.Millisecond
	// DefaultLockTimeout keeps a second server on the same data directory
	// from hanging forever.
	DefaultLockTimeout = 5 * time.Second
)

// Store is the bbolt backend.
type Store struct {
	db       *bbolt.DB
	hub      *store.Hub
	rev      atomic.Int64 // latest committed revision
	inflight atomic.Int64 // Updates between entry and return

	// closeMu makes Close wait for Updates and Views in progress: they
	// hold the read side, Close takes the write side.
	closeMu sync.RWMutex
	closed  bool
}

// Open opens or creates the database file at path (mode 0600).
func Open(path string, opts *Options) (store.Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxBatchDelay <= 0 {
		o.MaxBatchDelay = DefaultMaxBatchDelay
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.LockTimeout})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.MaxBatchDelay = o.MaxBatchDelay
	var rev int64
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketKV); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		rev, err = readRev(meta)
		return err
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	s := &Store{db: db, hub: store.NewHub(rev, o.History)}
	s.rev.Store(rev)
	return s, nil
}

func readRev(meta *bbolt.Bucket) (int64, error) {
	b := meta.Get(keyRev)
	if b == nil {
		return 0, nil
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("corrupt revision: %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(tx store.ReadTxn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.db.View(func(btx *bbolt.Tx) error {
		t, err := newTxn(btx, nil)
		if err != nil {
			return err
		}
		return fn(t)
	})
}

// Update implements store.Store. The revision increments once per Update
// that changed at least one key, not once per key: an Update is the unit
// that watchers and resuming agents reason about.
func (s *Store) Update(ctx context.Context, fn func(tx store.Txn) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	var rev int64
	apply := func(btx *bbolt.Tx) error {
		// Batch may run this more than once (when another call in the
		// batch fails the shared transaction); start from scratch each
		// time so no write of a discarded attempt leaks into the retry.
		rev = 0
		t, err := newTxn(btx, memory.NewWriteSet())
		if err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return &userError{err}
		}
		r, events, err := t.commit()
		if err != nil {
			return err
		}
		rev = r
		if len(events) > 0 {
			// Runs only if this transaction commits (and after fsync),
			// so watchers never see a write that could be lost.
			btx.OnCommit(func() { s.committed(r, events) })
		}
		return nil
	}
	var err error
	if s.inflight.Add(1) == 1 {
		err = s.db.Update(apply)
	} else {
		err = s.db.Batch(apply)
	}
	s.inflight.Add(-1)
	if err != nil {
		var ue *userError
		if errors.As(err, &ue) {
			return 0, ue.err
		}
		return 0, fmt.Errorf("store update: %w", err)
	}
	return rev, nil
}

func (s *Store) committed(rev int64, events []store.Event) {
	for {
		cur := s.rev.Load()
		if rev <= cur || s.rev.CompareAndSwap(cur, rev) {
			break
		}
	}
	s.hub.Publish(rev, events)
}

// Revision implements store.Store.
func (s *Store) Revision() int64 { return s.rev.Load() }

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64) (<-chan store.Event, error) {
	return s.hub.Watch(ctx, prefix, afterRev)
}

// Close waits for Views and Updates in progress, ends the watchers and
// closes the file. Nothing acknowledged is pending: every Update fsynced
// before it returned.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	s.hub.Close()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// userError marks an error returned by the caller's fn so that Update
// passes it through unwrapped (callers match coded errors with errors.As
// and expect their own message, not a store prefix).
type userError struct{ err error }

func (e *userError) Error() string { return e.err.Error() }
func (e *userError) Unwrap() error { return e.err }

// txn adapts a bbolt transaction; ws buffers writes (nil in a View).
type txn struct {
	btx  *bbolt.Tx
	kv   *bbolt.Bucket
	meta *bbolt.Bucket
	rev  int64
	ws   *memory.WriteSet
}

func newTxn(btx *bbolt.Tx, ws *memory.WriteSet) (*txn, error) {
	kv, meta := btx.Bucket(bucketKV), btx.Bucket(bucketMeta)
	if kv == nil || meta == nil {
		return nil, errors.New("store buckets missing")
	}
	rev, err := readRev(meta)
	if err != nil {
		return nil, err
	}
	return &txn{btx: btx, kv: kv, meta: meta, rev: rev, ws: ws}, nil
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
	v := t.kv.Get([]byte(key))
	if v == nil {
		return nil, false, nil
	}
	// bbolt's slice points into the read-only mmap and dies with the
	// transaction; hand out a copy that the caller may keep and modify.
	return clone(v), true, nil
}

func (t *txn) List(prefix string, fn func(key string, value []byte) error) error {
	base := func(emit func(string, []byte) error) error {
		p := []byte(prefix)
		c := t.kv.Cursor()
		for k, v := c.Seek(p); k != nil && hasPrefix(k, p); k, v = c.Next() {
			if err := emit(string(k), v); err != nil {
				return err
			}
		}
		return nil
	}
	if t.ws == nil {
		return base(fn)
	}
	return t.ws.Merge(prefix, base, fn)
}

func (t *txn) Revision() int64 { return t.rev }

func (t *txn) Put(key string, value []byte) error {
	if key == "" {
		return errors.New("store: empty key")
	}
	t.ws.Put(key, value)
	return nil
}

func (t *txn) Delete(key string) error {
	t.ws.Delete(key)
	return nil
}

// commit applies the buffered writes to the bbolt transaction and returns
// the new revision and its events; with nothing changed, the current
// revision and no events.
func (t *txn) commit() (int64, []store.Event, error) {
	rev := t.rev + 1
	var events []store.Event
	err := t.ws.Each(func(key string, value []byte, deleted bool) error {
		k := []byte(key)
		if deleted {
			if t.kv.Get(k) == nil {
				return nil // deleting an absent key changes nothing
			}
			events = append(events, store.Event{Type: store.EventDelete, Key: key, Revision: rev})
			return t.kv.Delete(k)
		}
		events = append(events, store.Event{Type: store.EventPut, Key: key, Value: value, Revision: rev})
		return t.kv.Put(k, value)
	})
	if err != nil {
		return 0, nil, fmt.Errorf("apply writes: %w", err)
	}
	if len(events) == 0 {
		return t.rev, nil, nil
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(rev))
	if err := t.meta.Put(keyRev, b[:]); err != nil {
		return 0, nil, fmt.Errorf("write revision: %w", err)
	}
	t.rev = rev
	return rev, events, nil
}

func hasPrefix(k, p []byte) bool {
	return len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

func clone(b []byte) []byte { return append(make([]byte, 0, len(b)), b...) }
