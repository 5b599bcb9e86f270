package store

import (
	"context"
	"time"
)

// NonceStore is implemented by backends that keep the API server's used
// signature nonces, so that a signed request cannot be replayed after a
// restart (the API server remembers each nonce for its timestamp window).
//
// Nonces live outside the revisioned keyspace: saving them creates no
// revision and no watch event (agents would reconcile on every flush, and
// a burst of nonces would evict the watch history), and no key of View or
// Update can collide with them. The bolt backend implements it; the memory
// backend does not (nothing of it persists).
//
// A key is opaque (the API server uses access key ID, NUL, nonce); expires
// is when the nonce may be forgotten.
type NonceStore interface {
	// SaveNonces records add durably and deletes every recorded nonce
	// that expires at or before now, in one transaction. Nonces of add
	// that have already expired are not recorded.
	SaveNonces(ctx context.Context, add map[string]time.Time, now time.Time) error
	// LoadNonces deletes the nonces that expire at or before now and calls
	// fn for each of the others, in expiry order. A key saved twice may be
	// reported twice (with each expiry).
	LoadNonces(ctx context.Context, now time.Time, fn func(key string, expires time.Time) error) error
}
