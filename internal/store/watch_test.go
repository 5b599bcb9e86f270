package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/store"
)

func ev(rev int64, key string) store.Event {
	return store.Event{Type: store.EventPut, Key: key, Value: []byte("v"), Revision: rev}
}

func next(t *testing.T, ch <-chan store.Event) (store.Event, bool) {
	t.Helper()
	select {
	case e, ok := <-ch:
		return e, ok
	case <-time.After(5 * time.Second):
		t.Fatal("timed out")
	}
	return store.Event{}, false
}

// bbolt runs commit handlers after releasing its lock, so publishes can
// arrive out of order; watchers must still see revision order.
func TestHubOutOfOrderPublish(t *testing.T) {
	h := store.NewHub(10, 100)
	t.Cleanup(h.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := h.Watch(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(13, []store.Event{ev(13, "c")})
	h.Publish(12, []store.Event{ev(12, "b")})
	if h.Revision() != 10 {
		t.Fatalf("revision %d before the gap is filled; want 10", h.Revision())
	}
	h.Publish(11, []store.Event{ev(11, "a")})
	h.Publish(11, []store.Event{ev(11, "dup")}) // stale: ignored
	for _, want := range []int64{11, 12, 13} {
		if e, ok := next(t, ch); !ok || e.Revision != want {
			t.Fatalf("got %+v,%v; want revision %d", e, ok, want)
		}
	}
	if h.Revision() != 13 {
		t.Fatalf("revision %d; want 13", h.Revision())
	}
}

func TestHubStartsAtRevision(t *testing.T) {
	h := store.NewHub(5, 10)
	t.Cleanup(h.Close)
	ctx := context.Background()
	if _, err := h.Watch(ctx, "", 4); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("watch before the opening revision: %v; want ErrCompacted", err)
	}
	if _, err := h.Watch(ctx, "", 5); err != nil {
		t.Fatalf("watch from the opening revision: %v", err)
	}
}

// A watcher that never reads must be closed, not block the publisher.
func TestHubSlowWatcherClosed(t *testing.T) {
	h := store.NewHub(0, 10)
	t.Cleanup(h.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	slow, err := h.Watch(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range int64(store.DefaultWatchBuffer + 10) {
			h.Publish(i+1, []store.Event{ev(i+1, fmt.Sprint(i))})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publisher blocked by a slow watcher")
	}
	// Drain: the channel must end (possibly after some buffered events).
	n := 0
	for {
		_, ok := next(t, slow)
		if !ok {
			break
		}
		n++
	}
	if n >= store.DefaultWatchBuffer+10 {
		t.Fatalf("slow watcher got all %d events; want it closed early", n)
	}
}

func TestHubCloseEndsWatchers(t *testing.T) {
	h := store.NewHub(0, 10)
	ch, err := h.Watch(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, ok := next(t, ch); ok {
		t.Fatal("event after Close")
	}
	if _, err := h.Watch(context.Background(), "", 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("watch after close: %v", err)
	}
}
