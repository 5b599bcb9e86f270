// Package store is Palisade's source of truth: a transactional key-value
// store with a global revision and a watch API.
//
// Every committed Update increments the revision by one and produces one
// event per changed key, all carrying that revision. An Update that returns
// without error is durable. Watchers see events in revision order.
// Implementations: bbolt (embedded default) and an in-memory store (tests,
// benchmark baseline). An etcd backend can implement the same interface.
package store

import (
	"context"
	"errors"
)

// ErrCompacted is returned by Watch when the requested start revision is
// older than the retained history; the caller must re-list and watch again.
var ErrCompacted = errors.New("store: requested revision has been compacted")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("store: closed")

// ReadTxn is a consistent read-only view.
type ReadTxn interface {
	// Get returns the value at key; ok is false when absent.
	Get(key string) (value []byte, ok bool, err error)
	// List calls fn for every key with the prefix, in key order. The value
	// is only valid during the call. Returning an error stops the walk.
	List(prefix string, fn func(key string, value []byte) error) error
	// Revision is the revision this view reflects.
	Revision() int64
}

// Txn is a read-write transaction.
type Txn interface {
	ReadTxn
	Put(key string, value []byte) error
	Delete(key string) error
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "PUT"
	case EventDelete:
		return "DELETE"
	}
	return "UNKNOWN"
}

// Event is one change of one key.
type Event struct {
	Type     EventType
	Key      string
	Value    []byte // nil for deletes
	Revision int64
}

// Store is implemented by every backend.
type Store interface {
	// View runs fn in a consistent read-only snapshot.
	View(ctx context.Context, fn func(tx ReadTxn) error) error
	// Update runs fn atomically; fn may be called more than once (batched
	// commits retry) and must not have side effects outside tx. When it
	// returns nil the change is durable; it returns the new revision (the
	// current one if fn changed nothing).
	Update(ctx context.Context, fn func(tx Txn) error) (revision int64, err error)
	// Revision returns the latest committed revision.
	Revision() int64
	// Watch streams events for keys with the prefix whose revision is
	// greater than afterRev. The channel closes when ctx ends or the
	// store closes; a watcher too slow to keep up is closed as well (it
	// must re-list). ErrCompacted when afterRev is older than the history.
	Watch(ctx context.Context, prefix string, afterRev int64) (<-chan Event, error)
	Close() error
}
