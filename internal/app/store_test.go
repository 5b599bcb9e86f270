package app

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/palisade-project/palisade/internal/store"
)

// The bolt backend must persist across reopen; memory must not be shared.
func TestOpenStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFile)
	ctx := context.Background()
	for _, tc := range []struct {
		backend string
		persist bool
	}{{BackendBolt, true}, {BackendMemory, false}} {
		t.Run(tc.backend, func(t *testing.T) {
			st, err := openStore(tc.backend, path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put("k", []byte("v")) }); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st, err = openStore(tc.backend, path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			var ok bool
			if err := st.View(ctx, func(tx store.ReadTxn) error {
				_, ok, err = tx.Get("k")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if ok != tc.persist {
				t.Fatalf("key after reopen: %v; want %v", ok, tc.persist)
			}
		})
	}
	if _, err := openStore("etcd?", path); err == nil {
		t.Fatal("unknown backend accepted")
	}
}
