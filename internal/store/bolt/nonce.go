package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/palisade-project/palisade/internal/store"
	bbolt "go.etcd.io/bbolt"
)

// bucketNonce holds the API server's used signature nonces
// (store.NonceStore), apart from "kv": writing them changes no revision
// and sends no watch event. A key is the expiry (8 bytes, big-endian Unix
// nanoseconds) followed by the caller's key, the value is empty: keys
// sort by expiry, so pruning reads only the expired ones.
var bucketNonce = []byte("nonce")

var _ store.NonceStore = (*Store)(nil)

// SaveNonces implements store.NonceStore: one bbolt transaction, one
// fsync. With nothing to add and nothing expired it writes nothing.
func (s *Store) SaveNonces(ctx context.Context, add map[string]time.Time, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if len(add) == 0 {
		var expired bool
		err := s.db.View(func(btx *bbolt.Tx) error {
			if b := btx.Bucket(bucketNonce); b != nil {
				k, _ := b.Cursor().First()
				expired = k != nil && nonceExpired(k, now)
			}
			return nil
		})
		if err != nil || !expired {
			return err
		}
	}
	err := s.db.Update(func(btx *bbolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucketNonce)
		if err != nil {
			return err
		}
		if err := pruneNonces(b, now); err != nil {
			return err
		}
		for key, exp := range add {
			if !exp.After(now) || exp.UnixNano() <= 0 {
				continue // expired, or not representable in the key
			}
			if err := b.Put(nonceKey(key, exp), []byte{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save nonces: %w", err)
	}
	return nil
}

// LoadNonces implements store.NonceStore.
func (s *Store) LoadNonces(ctx context.Context, now time.Time, fn func(key string, expires time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	err := s.db.Update(func(btx *bbolt.Tx) error {
		b, err := btx.CreateBucketIfNotExists(bucketNonce)
		if err != nil {
			return err
		}
		if err := pruneNonces(b, now); err != nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error {
			exp := int64(binary.BigEndian.Uint64(k)) // pruneNonces removed keys shorter than 8 bytes
			return fn(string(k[8:]), time.Unix(0, exp))
		})
	})
	if err != nil {
		return fmt.Errorf("load nonces: %w", err)
	}
	return nil
}

func nonceKey(key string, exp time.Time) []byte {
	k := make([]byte, 8, 8+len(key))
	binary.BigEndian.PutUint64(k, uint64(exp.UnixNano()))
	return append(k, key...)
}

// nonceExpired reports whether the stored key k expires at or before now
// (a malformed key counts as expired, so that it is pruned).
func nonceExpired(k []byte, now time.Time) bool {
	if len(k) < 8 {
		return true
	}
	return int64(binary.BigEndian.Uint64(k)) <= now.UnixNano()
}

// pruneNonces deletes the nonces that expire at or before now: the first
// keys of the bucket. They are collected before deleting, as deleting
// under a moving bbolt cursor may skip keys.
func pruneNonces(b *bbolt.Bucket, now time.Time) error {
	var expired [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && nonceExpired(k, now); k, _ = c.Next() {
		expired = append(expired, clone(k))
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
