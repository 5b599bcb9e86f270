package agent

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// powerTopology is a Topology that records SetInstancesStopped calls.
type powerTopology struct {
	calls []map[string]bool
	err   error
}

func (p *powerTopology) Apply(context.Context, dataplane.Host) (dataplane.Status, error) {
	return dataplane.Status{}, nil
}

func (p *powerTopology) SetInstancesStopped(_ context.Context, m map[string]bool) (map[string][]int, error) {
	p.calls = append(p.calls, maps.Clone(m))
	return nil, p.err
}

// TestSyncPower: every Stopped local instance is powered off at every
// reconciliation; a running one is named only on the first one (to clear
// marks of an earlier run), after it was stopped, or after a failure.
func TestSyncPower(t *testing.T) {
	topo := &powerTopology{}
	a := New(Config{Topology: topo})
	inst := func(status ...string) *Desired {
		d := &Desired{}
		for i, s := range status {
			d.Instances = append(d.Instances, model.Instance{ID: []string{"i-a", "i-b", "i-c"}[i], Status: s})
		}
		return d
	}
	const run, stop, pend = model.InstanceRunning, model.InstanceStopped, model.InstancePending
	steps := []struct {
		name string
		d    *Desired
		err  error
		want map[string]bool // nil: no call
	}{
		{"first: all", inst(run, stop, pend), nil, map[string]bool{"i-a": false, "i-b": true, "i-c": false}},
		{"then only the stopped", inst(run, stop, run), nil, map[string]bool{"i-b": true}},
		{"started: named once", inst(run, pend, run), nil, map[string]bool{"i-b": false}},
		{"nothing stopped: no call", inst(run, run, run), nil, nil},
		{"stop two", inst(stop, run, stop), nil, map[string]bool{"i-a": true, "i-c": true}},
		{"failure", inst(stop, run, run), errors.New("boom"), map[string]bool{"i-a": true, "i-c": false}},
		{"after a failure: all", inst(stop, run, run), nil, map[string]bool{"i-a": true, "i-b": false, "i-c": false}},
		{"settled", inst(stop, run, run), nil, map[string]bool{"i-a": true}},
	}
	for _, st := range steps {
		topo.calls, topo.err = nil, st.err
		err := a.syncPower(context.Background(), st.d)
		if (err != nil) != (st.err != nil) {
			t.Errorf("%s: error %v, want %v", st.name, err, st.err)
		}
		switch {
		case st.want == nil && len(topo.calls) != 0:
			t.Errorf("%s: called with %v, want no call", st.name, topo.calls)
		case st.want != nil && (len(topo.calls) != 1 || !maps.Equal(topo.calls[0], st.want)):
			t.Errorf("%s: called with %v, want %v", st.name, topo.calls, st.want)
		}
	}
}
