package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/bolt"
)

type nonceRec struct {
	key string
	exp time.Time
}

func (r nonceRec) String() string {
	return fmt.Sprintf("%q@%s", r.key, r.exp.UTC().Format(time.TimeOnly))
}

func loadNonces(t *testing.T, ns store.NonceStore, now time.Time) []nonceRec {
	t.Helper()
	var out []nonceRec
	err := ns.LoadNonces(context.Background(), now, func(key string, exp time.Time) error {
		out = append(out, nonceRec{key, exp})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNonces: nonces survive a reopen, come back in expiry order, and
// those older than their window are deleted at every save and at load;
// none of it touches the revision or the watchers.
func TestNonces(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, ok := s.(store.NonceStore)
	if !ok {
		t.Fatal("the bolt store is not a store.NonceStore")
	}
	if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put("sg/x", []byte("{}")) }); err != nil {
		t.Fatal(err)
	}
	rev := s.Revision()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.Watch(wctx, "", rev)
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	ttl := 30 * time.Minute
	if err := ns.SaveNonces(ctx, map[string]time.Time{
		"AK1\x00n1": t0.Add(ttl),
		"AK1\x00n2": t0.Add(time.Minute), // used long ago: expires first
		"AK2\x00n1": t0.Add(ttl + time.Second),
		"AK2\x00n0": t0, // already expired: not recorded
	}, t0); err != nil {
		t.Fatal(err)
	}
	want := []nonceRec{{"AK1\x00n2", t0.Add(time.Minute)}, {"AK1\x00n1", t0.Add(ttl)}, {"AK2\x00n1", t0.Add(ttl + time.Second)}}
	if got := loadNonces(t, ns, t0); !equalRecs(got, want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}

	// A save prunes what expired, even with nothing to add.
	if err := ns.SaveNonces(ctx, nil, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := loadNonces(t, ns, t0); !equalRecs(got, want[1:]) {
		t.Fatalf("after pruning at t0+2m, loaded (at t0) %v, want %v", got, want[1:])
	}
	if err := ns.SaveNonces(ctx, map[string]time.Time{"AK3\x00n": t0.Add(time.Hour)}, t0.Add(ttl)); err != nil {
		t.Fatal(err)
	}
	want = []nonceRec{{"AK2\x00n1", t0.Add(ttl + time.Second)}, {"AK3\x00n", t0.Add(time.Hour)}}
	if got := loadNonces(t, ns, t0); !equalRecs(got, want) {
		t.Fatalf("after pruning at t0+30m, loaded (at t0) %v, want %v", got, want)
	}

	if r := s.Revision(); r != rev {
		t.Errorf("nonces moved the revision from %d to %d", rev, r)
	}
	select {
	case ev := <-events:
		t.Errorf("nonces sent a watch event: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
	if err := s.View(ctx, func(tx store.ReadTxn) error {
		return tx.List("", func(k string, _ []byte) error {
			if k != "sg/x" {
				t.Errorf("nonce visible as key %q", k)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}

	// They survive a reopen; loading prunes the expired ones.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ns.SaveNonces(ctx, map[string]time.Time{"x": t0.Add(ttl)}, t0); !errors.Is(err, store.ErrClosed) {
		t.Errorf("save after close: %v", err)
	}
	s, err = bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns = s.(store.NonceStore)
	if got := loadNonces(t, ns, t0.Add(ttl+30*time.Second)); !equalRecs(got, want[1:]) {
		t.Fatalf("after reopen at t0+30m30s, loaded %v, want %v", got, want[1:])
	}
	if got := loadNonces(t, ns, t0); !equalRecs(got, want[1:]) {
		t.Fatalf("load did not prune: loaded (at t0) %v, want %v", got, want[1:])
	}
	if r := s.Revision(); r != rev {
		t.Errorf("after reopen the revision is %d, want %d", r, rev)
	}
}

func equalRecs(a, b []nonceRec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].key != b[i].key || !a[i].exp.Equal(b[i].exp) {
			return false
		}
	}
	return true
}
