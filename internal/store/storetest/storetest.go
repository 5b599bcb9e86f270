// Package storetest is the conformance suite every store.Store backend
// must pass, so that services behave the same on any backend.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/store"
)

// History is the watch history, in events, that stores handed to Run must
// be configured with, so the suite can push events out of it.
const History = 64

// waitTimeout bounds every wait for a watch event; generous for slow CI.
const waitTimeout = 10 * time.Second

// NewFunc returns a fresh, empty store with a watch history of History
// events. The suite closes it; the factory may also register cleanup.
type NewFunc func(t *testing.T) store.Store

// Run runs the whole suite against the backend.
func Run(t *testing.T, newStore NewFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"ListPrefixOrder", testListPrefixOrder},
		{"ListInsideUpdate", testListInsideUpdate},
		{"AtomicOnError", testAtomicOnError},
		{"RevisionMonotonic", testRevisionMonotonic},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"WatchOrdering", testWatchOrdering},
		{"WatchResume", testWatchResume},
		{"WatchPrefix", testWatchPrefix},
		{"WatchCancel", testWatchCancel},
		{"WatchCloseStore", testWatchCloseStore},
		{"Compacted", testCompacted},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

func put(t *testing.T, s store.Store, kv ...string) int64 {
	t.Helper()
	rev, err := s.Update(context.Background(), func(tx store.Txn) error {
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Put(kv[i], []byte(kv[i+1])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put %v: %v", kv, err)
	}
	return rev
}

func del(t *testing.T, s store.Store, keys ...string) int64 {
	t.Helper()
	rev, err := s.Update(context.Background(), func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("delete %v: %v", keys, err)
	}
	return rev
}

func get(t *testing.T, s store.Store, key string) (string, bool) {
	t.Helper()
	var v []byte
	var ok bool
	err := s.View(context.Background(), func(tx store.ReadTxn) error {
		var err error
		v, ok, err = tx.Get(key)
		return err
	})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(v), ok
}

type kv struct{ k, v string }

func list(t *testing.T, s store.Store, prefix string) []kv {
	t.Helper()
	var out []kv
	err := s.View(context.Background(), func(tx store.ReadTxn) error {
		return tx.List(prefix, func(k string, v []byte) error {
			out = append(out, kv{k, string(v)})
			return nil
		})
	})
	if err != nil {
		t.Fatalf("list %s: %v", prefix, err)
	}
	return out
}

func testGetPutDelete(t *testing.T, s store.Store) {
	if _, ok := get(t, s, "a"); ok {
		t.Fatal("fresh store has key a")
	}
	put(t, s, "a", "1")
	if v, ok := get(t, s, "a"); !ok || v != "1" {
		t.Fatalf("get a = %q,%v; want 1,true", v, ok)
	}
	put(t, s, "a", "2")
	if v, _ := get(t, s, "a"); v != "2" {
		t.Fatalf("overwrite: get a = %q; want 2", v)
	}

	// The store must copy the value: the caller reuses its buffer.
	buf := []byte("orig")
	if _, err := s.Update(context.Background(), func(tx store.Txn) error {
		return tx.Put("b", buf)
	}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXX")
	if v, _ := get(t, s, "b"); v != "orig" {
		t.Fatalf("value aliased caller buffer: %q", v)
	}

	// Read-your-writes inside one Update.
	if _, err := s.Update(context.Background(), func(tx store.Txn) error {
		if err := tx.Put("c", []byte("3")); err != nil {
			return err
		}
		if v, ok, err := tx.Get("c"); err != nil || !ok || string(v) != "3" {
			return fmt.Errorf("in-txn get c = %q,%v,%v", v, ok, err)
		}
		if err := tx.Delete("a"); err != nil {
			return err
		}
		if _, ok, err := tx.Get("a"); err != nil || ok {
			return fmt.Errorf("in-txn get deleted a: ok=%v err=%v", ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, ok := get(t, s, "a"); ok {
		t.Fatal("a still present after delete")
	}
	if v, ok := get(t, s, "c"); !ok || v != "3" {
		t.Fatalf("get c = %q,%v", v, ok)
	}
}

func testListPrefixOrder(t *testing.T, s store.Store) {
	var want []kv
	keys := []string{}
	for i := range 50 {
		keys = append(keys, fmt.Sprintf("p/%03d", i))
	}
	shuffled := slices.Clone(keys)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, k := range shuffled {
		put(t, s, k, "v"+k)
	}
	for _, k := range keys {
		want = append(want, kv{k, "v" + k})
	}
	// Neighbours that must not match the prefix.
	put(t, s, "p", "x", "o/1", "x", "q/1", "x", "p0", "x")

	if got := list(t, s, "p/"); !slices.Equal(got, want) {
		t.Fatalf("list p/ =\n%v\nwant\n%v", got, want)
	}
	if got := list(t, s, "p/01"); !slices.Equal(got, want[10:20]) {
		t.Fatalf("list p/01 = %v", got)
	}
	if got := list(t, s, "zz"); len(got) != 0 {
		t.Fatalf("list zz = %v; want empty", got)
	}
	all := list(t, s, "")
	if len(all) != len(keys)+4 || !slices.IsSortedFunc(all, func(a, b kv) int { return compare(a.k, b.k) }) {
		t.Fatalf("list all not sorted or wrong size: %v", all)
	}

	// Stopping the walk returns the callback's error.
	stop := errors.New("stop")
	n := 0
	err := s.View(context.Background(), func(tx store.ReadTxn) error {
		return tx.List("p/", func(string, []byte) error {
			n++
			if n == 3 {
				return stop
			}
			return nil
		})
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("stopped walk: err=%v n=%d", err, n)
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testListInsideUpdate(t *testing.T, s store.Store) {
	put(t, s, "l/b", "old", "l/d", "old", "l/f", "old")
	var got []kv
	_, err := s.Update(context.Background(), func(tx store.Txn) error {
		got = nil // fn may run more than once
		for _, op := range []error{
			tx.Put("l/a", []byte("new")),
			tx.Put("l/d", []byte("new")),
			tx.Delete("l/f"),
			tx.Put("l/g", []byte("new")),
		} {
			if op != nil {
				return op
			}
		}
		// Writing during a walk must be allowed and must not disturb it.
		return tx.List("l/", func(k string, v []byte) error {
			got = append(got, kv{k, string(v)})
			return tx.Put("other/"+k, v)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"l/a", "new"}, {"l/b", "old"}, {"l/d", "new"}, {"l/g", "new"}}
	if !slices.Equal(got, want) {
		t.Fatalf("in-txn list = %v; want %v", got, want)
	}
	if got := list(t, s, "l/"); !slices.Equal(got, want) {
		t.Fatalf("committed list = %v; want %v", got, want)
	}
	if got := list(t, s, "other/"); len(got) != 4 {
		t.Fatalf("puts during walk: %v", got)
	}
}

func testAtomicOnError(t *testing.T, s store.Store) {
	rev0 := put(t, s, "keep", "1")
	boom := errors.New("boom")
	_, err := s.Update(context.Background(), func(tx store.Txn) error {
		if err := tx.Put("x", []byte("1")); err != nil {
			return err
		}
		if err := tx.Delete("keep"); err != nil {
			return err
		}
		if err := tx.Put("y", []byte("2")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v; want boom", err)
	}
	for _, k := range []string{"x", "y"} {
		if _, ok := get(t, s, k); ok {
			t.Fatalf("%s written by a failed Update", k)
		}
	}
	if _, ok := get(t, s, "keep"); !ok {
		t.Fatal("keep deleted by a failed Update")
	}
	if r := s.Revision(); r != rev0 {
		t.Fatalf("revision after failed Update = %d; want %d", r, rev0)
	}
}

func testRevisionMonotonic(t *testing.T, s store.Store) {
	rev := s.Revision()
	for i := range 5 {
		got := put(t, s, "r/"+strconv.Itoa(i), "v", "r/x", strconv.Itoa(i))
		if got != rev+1 {
			t.Fatalf("update %d: revision %d; want %d (one per Update, not per key)", i, got, rev+1)
		}
		rev = got
	}
	if r := s.Revision(); r != rev {
		t.Fatalf("Revision() = %d; want %d", r, rev)
	}
	// An Update that changes nothing keeps the revision.
	got, err := s.Update(context.Background(), func(tx store.Txn) error {
		_, _, err := tx.Get("r/0")
		return err
	})
	if err != nil || got != rev {
		t.Fatalf("no-op update = %d,%v; want %d", got, err, rev)
	}
	if got := del(t, s, "absent"); got != rev {
		t.Fatalf("deleting an absent key = revision %d; want %d", got, rev)
	}
	if got := del(t, s, "r/0"); got != rev+1 {
		t.Fatalf("delete = revision %d; want %d", got, rev+1)
	}
	if err := s.View(context.Background(), func(tx store.ReadTxn) error {
		if tx.Revision() != rev+1 {
			return fmt.Errorf("view revision %d; want %d", tx.Revision(), rev+1)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	const workers, each = 16, 10
	rev0 := s.Revision()
	revs := make(chan int64, workers*each)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				// Read-modify-write of a shared counter: lost updates
				// would show as a wrong final count.
				rev, err := s.Update(context.Background(), func(tx store.Txn) error {
					v, _, err := tx.Get("counter")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					if err := tx.Put("counter", []byte(strconv.Itoa(n+1))); err != nil {
						return err
					}
					return tx.Put(fmt.Sprintf("w/%02d/%02d", w, i), []byte("x"))
				})
				if err != nil {
					errs <- err
					return
				}
				revs <- rev
			}
		})
	}
	wg.Wait()
	close(revs)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for r := range revs {
		if seen[r] {
			t.Fatalf("revision %d returned twice", r)
		}
		seen[r] = true
	}
	if v, _ := get(t, s, "counter"); v != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %s; want %d", v, workers*each)
	}
	if n := len(list(t, s, "w/")); n != workers*each {
		t.Fatalf("%d keys; want %d", n, workers*each)
	}
	if r := s.Revision(); r != rev0+workers*each {
		t.Fatalf("revision = %d; want %d", r, rev0+workers*each)
	}
}

// recv reads n events or fails.
func recv(t *testing.T, ch <-chan store.Event, n int) []store.Event {
	t.Helper()
	var out []store.Event
	timeout := time.After(waitTimeout)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events", len(out), n)
		}
	}
	return out
}

// quiet asserts nothing more arrives for a short while.
func quiet(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %+v", ev)
		}
	case <-time.After(50 * time.Millisecond):
	}
}

func watch(t *testing.T, s store.Store, prefix string, after int64) <-chan store.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := s.Watch(ctx, prefix, after)
	if err != nil {
		t.Fatalf("watch %q after %d: %v", prefix, after, err)
	}
	return ch
}

type evKey struct {
	typ store.EventType
	key string
	val string
	rev int64
}

func keys(evs []store.Event) []evKey {
	out := make([]evKey, len(evs))
	for i, e := range evs {
		out[i] = evKey{e.Type, e.Key, string(e.Value), e.Revision}
	}
	return out
}

func testWatchOrdering(t *testing.T, s store.Store) {
	ch := watch(t, s, "", s.Revision())
	r1 := put(t, s, "b", "1", "a", "1")
	r2 := del(t, s, "a")
	r3 := put(t, s, "c", "3")
	got := keys(recv(t, ch, 4))
	want := []evKey{
		{store.EventPut, "a", "1", r1}, {store.EventPut, "b", "1", r1},
		{store.EventDelete, "a", "", r2},
		{store.EventPut, "c", "3", r3},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n%v\nwant\n%v", got, want)
	}
	quiet(t, ch)

	// Concurrent writers: a watcher still sees non-decreasing revisions
	// and every one of them.
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := s.Update(context.Background(), func(tx store.Txn) error {
				return tx.Put("k/"+strconv.Itoa(i), []byte("v"))
			}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	evs := recv(t, ch, n)
	for i := 1; i < len(evs); i++ {
		if evs[i].Revision != evs[i-1].Revision+1 {
			t.Fatalf("event %d revision %d after %d", i, evs[i].Revision, evs[i-1].Revision)
		}
	}
}

func testWatchResume(t *testing.T, s store.Store) {
	var revs []int64
	for i := range 5 {
		revs = append(revs, put(t, s, "k", strconv.Itoa(i)))
	}
	ch := watch(t, s, "", revs[1])
	got := recv(t, ch, 3)
	for i, ev := range got {
		if ev.Revision != revs[i+2] || string(ev.Value) != strconv.Itoa(i+2) {
			t.Fatalf("replayed event %d = %+v; want revision %d", i, ev, revs[i+2])
		}
	}
	// Then live events follow without a gap.
	r := put(t, s, "k", "live")
	if ev := recv(t, ch, 1)[0]; ev.Revision != r || string(ev.Value) != "live" {
		t.Fatalf("live event %+v; want revision %d", ev, r)
	}
	quiet(t, ch)

	// Resuming from the current revision replays nothing.
	quiet(t, watch(t, s, "", s.Revision()))
}

func testWatchPrefix(t *testing.T, s store.Store) {
	put(t, s, "sg/1", "old")
	ch := watch(t, s, "sg/", 0)
	put(t, s, "vpc/1", "x", "sg0", "x", "sg/2", "new")
	del(t, s, "vpc/1")
	del(t, s, "sg/1")
	got := keys(recv(t, ch, 3))
	want := []string{"sg/1", "sg/2", "sg/1"}
	for i, g := range got {
		if g.key != want[i] {
			t.Fatalf("prefix watch got %v; want keys %v", got, want)
		}
	}
	if got[2].typ != store.EventDelete || got[2].val != "" {
		t.Fatalf("delete event %+v", got[2])
	}
	quiet(t, ch)
}

func closedWithin(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch channel not closed")
		}
	}
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Watch(ctx, "", s.Revision())
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a", "1")
	cancel()
	closedWithin(t, ch)
	// Writes after cancel must not block on the dead watcher.
	for i := range 10 {
		put(t, s, "a", strconv.Itoa(i))
	}
	if _, err := s.Watch(ctx, "", 0); err == nil {
		t.Fatal("watch with a cancelled context succeeded")
	}
}

func testWatchCloseStore(t *testing.T, s store.Store) {
	ch := watch(t, s, "", s.Revision())
	put(t, s, "a", "1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, ch)
}

func testCompacted(t *testing.T, s store.Store) {
	put(t, s, "first", "1")
	// One Update with more events than the history pushes revision 1 out.
	kvs := make([]string, 0, 2*(History+1))
	for i := range History + 1 {
		kvs = append(kvs, fmt.Sprintf("big/%03d", i), "x")
	}
	big := put(t, s, kvs...)
	ctx := context.Background()
	if _, err := s.Watch(ctx, "", 0); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from 0 after overflow: %v; want ErrCompacted", err)
	}
	if _, err := s.Watch(ctx, "", big-1); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from %d (partly evicted revision): %v; want ErrCompacted", big-1, err)
	}
	// Many small Updates age out older revisions one by one.
	var last int64
	for i := range History + 1 {
		last = put(t, s, "small", strconv.Itoa(i))
	}
	if _, err := s.Watch(ctx, "", big); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch from %d after %d more events: %v; want ErrCompacted", big, History+1, err)
	}
	ch := watch(t, s, "", last-3)
	if got := recv(t, ch, 3); got[0].Revision != last-2 || got[2].Revision != last {
		t.Fatalf("resume inside history: %v", keys(got))
	}
}

func testClosed(t *testing.T, s store.Store) {
	put(t, s, "a", "1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Update(ctx, func(tx store.Txn) error { return tx.Put("b", nil) }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Update after Close: %v; want ErrClosed", err)
	}
	if err := s.View(ctx, func(store.ReadTxn) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("View after Close: %v; want ErrClosed", err)
	}
	if _, err := s.Watch(ctx, "", 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Watch after Close: %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
