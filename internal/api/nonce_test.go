package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
)

// fakeNonceStore is a NonceStore in memory that can be made to fail.
type fakeNonceStore struct {
	mu    sync.Mutex
	recs  map[string]time.Time
	fail  error
	saves int // successful SaveNonces calls
}

func newFakeNonceStore() *fakeNonceStore { return &fakeNonceStore{recs: map[string]time.Time{}} }

func (f *fakeNonceStore) SaveNonces(_ context.Context, add map[string]time.Time, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.pruneLocked(now)
	for k, exp := range add {
		if exp.After(now) {
			f.recs[k] = exp
		}
	}
	f.saves++
	return nil
}

func (f *fakeNonceStore) LoadNonces(_ context.Context, now time.Time, fn func(string, time.Time) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.pruneLocked(now)
	for _, k := range slices.Sorted(maps.Keys(f.recs)) {
		if err := fn(k, f.recs[k]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeNonceStore) pruneLocked(now time.Time) {
	maps.DeleteFunc(f.recs, func(_ string, exp time.Time) bool { return !exp.After(now) })
}

func (f *fakeNonceStore) snapshot() map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.recs)
}

func (f *fakeNonceStore) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// nonceHarness is a server on a fake nonce store and a fake clock whose
// writer never ticks on its own: the steps flush.
type nonceHarness struct {
	t     *testing.T
	clock *fakeClock
	st    *fakeNonceStore
	srv   *Server
}

func (h *nonceHarness) open() {
	h.t.Helper()
	h.srv = NewServer(ServerOptions{Router: NewRouter(), Now: h.clock.Now, Logger: quietLog,
		Nonces: h.st, NonceFlushInterval: time.Hour})
	if err := h.srv.Start(context.Background()); err != nil {
		h.t.Fatalf("start: %v", err)
	}
	h.t.Cleanup(func() { _ = h.srv.Close(context.Background()) })
}

// nonceKeyForTest is the cache key of nonce n of the test key.
func nonceKeyForTest(n string) string { return testKeyID + "\x00" + n }

// TestNoncePersister runs scripts of steps:
//
//	use N [CODE]   use nonce N now; want success or the error CODE
//	flush [fails]  one tick of the writer
//	advance D      move the clock
//	crash          drop the server without Close; a new one starts on the store
//	restart        Close the server; a new one starts on the store
//	fail, heal     make the store fail, or work again
//	stored N...    the store holds exactly these nonces, expiring ttl after use
func TestNoncePersister(t *testing.T) {
	const ttl = 2 * DefaultClockSkew
	tests := []struct {
		name  string
		steps []string
	}{
		{"flush writes new nonces with their expiry", []string{
			"use a", "use b", "stored", "flush", "stored a b", "use c", "flush", "stored a b c",
		}},
		{"flushed nonce refused after a crash", []string{
			"use a", "flush", "crash", "use a SignatureNonceUsed", "use b",
		}},
		{"clean restart flushes first", []string{
			"use a", "restart", "stored a", "use a SignatureNonceUsed",
			"advance 10m", "restart", "use a SignatureNonceUsed",
		}},
		{"a crash loses only what was not flushed", []string{
			"use a", "flush", "use b", "crash", "use a SignatureNonceUsed", "use b",
		}},
		{"expired nonces are pruned at flush", []string{
			"use a", "flush", "advance 20m", "use b", "flush", "stored a b",
			"advance 11m", "use c", "flush", "stored b c",
		}},
		{"an idle server still prunes", []string{
			"use a", "flush", "advance 31m", "flush", "stored",
		}},
		{"expired nonces are pruned at load and accepted again", []string{
			"use a", "flush", "advance 30m1s", "crash", "stored", "use a",
		}},
		{"a nonce is refused for its whole window across restarts", []string{
			"use a", "advance 29m59s", "restart", "use a SignatureNonceUsed",
			"advance 2s", "restart", "use a",
		}},
		{"a failed write is retried", []string{
			"fail", "use a", "flush fails", "stored", "use b", "heal", "flush", "stored a b",
			"crash", "use a SignatureNonceUsed", "use b SignatureNonceUsed",
		}},
		{"a failed batch forgets nonces once they expire", []string{
			"fail", "use a", "flush fails", "advance 20m", "use b", "flush fails",
			"advance 11m", "heal", "flush", "stored b",
		}},
		{"Close flushes what a failed write put back", []string{
			"fail", "use a", "flush fails", "heal", "restart", "stored a", "use a SignatureNonceUsed",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := &nonceHarness{t: t, clock: &fakeClock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}, st: newFakeNonceStore()}
			h.open()
			usedAt := map[string]time.Time{}
			for i, step := range tc.steps {
				f := strings.Fields(step)
				where := func() string { return fmt.Sprintf("step %d %q", i, step) }
				switch f[0] {
				case "use":
					err := h.srv.nonces.use(nonceKeyForTest(f[1]), h.clock.Now())
					want := ""
					if len(f) > 2 {
						want = f[2]
					}
					if want == "" && err != nil {
						t.Fatalf("%s: %v", where(), err)
					}
					if want != "" && !errs.HasCode(err, want) {
						t.Fatalf("%s: got %v, want %s", where(), err, want)
					}
					if err == nil {
						usedAt[f[1]] = h.clock.Now()
					}
				case "flush":
					err := h.srv.persist.flush(context.Background(), h.srv.nonces.takePending())
					if wantFail := len(f) > 1; wantFail != (err != nil) {
						t.Fatalf("%s: err = %v", where(), err)
					}
				case "advance":
					d, err := time.ParseDuration(f[1])
					if err != nil {
						t.Fatal(err)
					}
					h.clock.Add(d)
				case "crash":
					h.open() // the old server is left as a crash leaves it
				case "restart":
					if err := h.srv.Close(context.Background()); err != nil {
						t.Fatalf("%s: close: %v", where(), err)
					}
					h.open()
				case "fail":
					h.st.setFail(errors.New("disk full"))
				case "heal":
					h.st.setFail(nil)
				case "stored":
					want := map[string]time.Time{}
					for _, n := range f[1:] {
						want[nonceKeyForTest(n)] = usedAt[n].Add(ttl)
					}
					if got := h.st.snapshot(); !maps.EqualFunc(got, want, time.Time.Equal) {
						t.Fatalf("%s: store holds %v, want %v", where(), got, want)
					}
				default:
					t.Fatalf("bad step %q", step)
				}
			}
		})
	}
}

// TestNonceRefusedUnlessPersisting: with a nonce store, requests are
// refused before Start (any could be a replay of a nonce not loaded yet)
// and after Close (its nonce would not be recorded).
func TestNonceRefusedUnlessPersisting(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)}
	st := newFakeNonceStore()
	s := NewServer(ServerOptions{Router: NewRouter(), Now: clock.Now, Logger: quietLog, Nonces: st})
	if err := s.nonces.use("k\x00a", clock.Now()); !errs.HasCode(err, "ServiceUnavailable") {
		t.Fatalf("before Start: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := s.nonces.use("k\x00a", clock.Now()); err != nil {
		t.Fatalf("after Start: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.nonces.use("k\x00b", clock.Now()); !errs.HasCode(err, "ServiceUnavailable") {
		t.Fatalf("after Close: %v", err)
	}
	if _, ok := st.snapshot()["k\x00a"]; !ok {
		t.Error("Close did not write the nonce")
	}

	// A store that cannot load keeps the server from starting.
	st.setFail(errors.New("corrupt"))
	s = NewServer(ServerOptions{Router: NewRouter(), Now: clock.Now, Logger: quietLog, Nonces: st})
	if err := s.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded on a failing store")
	}
	if err := s.nonces.use("k\x00c", clock.Now()); !errs.HasCode(err, "ServiceUnavailable") {
		t.Fatalf("after a failed Start: %v", err)
	}
	_ = s.Close(context.Background())

	// Without a nonce store nothing changes: no Start needed.
	s = NewServer(ServerOptions{Router: NewRouter(), Now: clock.Now, Logger: quietLog})
	if err := s.nonces.use("k\x00a", clock.Now()); err != nil {
		t.Fatalf("memory only: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.nonces.use("k\x00b", clock.Now()); err != nil {
		t.Fatalf("memory only, after Close: %v", err)
	}
}

// TestNonceWriterTicks: the writer writes used nonces within a few
// flush intervals, without Close (what bounds the loss of a crash), in
// one write per interval whatever the number of requests.
func TestNonceWriterTicks(t *testing.T) {
	st := newFakeNonceStore()
	s := NewServer(ServerOptions{Router: NewRouter(), Logger: quietLog, Nonces: st, NonceFlushInterval: 20 * time.Millisecond})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	for i := range 500 {
		if err := s.nonces.use(nonceKeyForTest(string(rune('a'+i%26))+strings.Repeat("x", i/26)), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(st.snapshot()) < 500 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the store holds %d of 500 nonces", len(st.snapshot()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.mu.Lock()
	saves := st.saves
	st.mu.Unlock()
	if saves > 50 { // 1 or 2 unless the machine stalls for seconds
		t.Errorf("%d writes for 500 nonces, want them batched", saves)
	}
}

// BenchmarkNonceUse: the cost that persistence adds to a request is
// queueing the nonce (the write happens on the writer's goroutine).
func BenchmarkNonceUse(b *testing.B) {
	for _, persisting := range []bool{false, true} {
		b.Run(fmt.Sprintf("persisting=%v", persisting), func(b *testing.B) {
			n := newNonceCache(2 * DefaultClockSkew)
			if persisting {
				n.state = noncePersisting
			}
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = fmt.Sprintf("%s\x00%032x", testKeyID, i)
			}
			t0 := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := n.use(keys[i], t0); err != nil {
					b.Fatal(err)
				}
				if persisting && i%1000 == 999 {
					n.takePending() // one flush per 1000 requests
				}
			}
		})
	}
}
