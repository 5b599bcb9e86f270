package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/bolt"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// backends are compared in the same run so the ratio is meaningful.
func backends() []struct {
	name string
	open func(b *testing.B) store.Store
} {
	return []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"bolt", func(b *testing.B) store.Store {
			s, err := bolt.Open(filepath.Join(b.TempDir(), "db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
		{"memory", func(b *testing.B) store.Store {
			s := memory.New()
			b.Cleanup(func() { _ = s.Close() })
			return s
		}},
	}
}

// BenchmarkUpdateParallel16 measures durable single-put Updates from 16
// concurrent clients, the shape of the AuthorizeSecurityGroup target; for
// bolt, group commit is what makes this fast.
func BenchmarkUpdateParallel16(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			var seq atomic.Int64
			value := make([]byte, 200)
			// SetParallelism multiplies GOMAXPROCS; round up to >= 16.
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((16 + procs - 1) / procs)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					key := fmt.Sprintf("bench/%09d", seq.Add(1))
					if _, err := s.Update(ctx, func(tx store.Txn) error {
						return tx.Put(key, value)
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGet measures a point read in a View over 10,000 keys.
func BenchmarkGet(b *testing.B) {
	const n = 10000
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			value := make([]byte, 200)
			if _, err := s.Update(context.Background(), func(tx store.Txn) error {
				for i := range n {
					if err := tx.Put(fmt.Sprintf("k/%06d", i), value); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ { // b.Loop excludes the setup above
				key := fmt.Sprintf("k/%06d", i%n)
				if err := s.View(ctx, func(tx store.ReadTxn) error {
					_, ok, err := tx.Get(key)
					if err == nil && !ok {
						err = fmt.Errorf("%s missing", key)
					}
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
