package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// applyCounter is a Topology and Firewall that count the agent's
// reconciliations (one Apply each) and change nothing.
type applyCounter struct{ n atomic.Int64 }

func (c *applyCounter) Apply(context.Context, dataplane.Host) (dataplane.Status, error) {
	c.n.Add(1)
	return dataplane.Status{}, nil
}
func (c *applyCounter) Load(context.Context, string, *policy.Program) error { return nil }
func (c *applyCounter) CutDenied(context.Context, string, policy.World) (int, error) {
	return 0, nil
}

// TestWatchPrefixes: with WatchPrefixes, a write outside them (the
// server's own records, such as the hits this agent reports) starts no
// reconciliation, and one inside still does at once.
func TestWatchPrefixes(t *testing.T) {
	st := memory.New()
	c := &applyCounter{}
	a := New(Config{Store: st, Topology: c, Firewall: c, Resync: time.Hour,
		WatchPrefixes: []string{model.PrefixVPC, model.PrefixFirewallPolicy}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	put := func(key string) {
		t.Helper()
		if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put(key, []byte(`{}`)) }); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); c.n.Load() < want && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if got := c.n.Load(); got != want {
			t.Fatalf("%d reconciliations, want %d", got, want)
		}
	}
	wait(1) // the first, at start
	for range 20 {
		put(model.PrefixFirewallHits + "acl-1")
		put(model.PrefixFirewallTrafficLog + "1/x")
	}
	time.Sleep(200 * time.Millisecond)
	wait(1)
	put(model.PrefixFirewallPolicy + "acl-1")
	wait(2)
}
