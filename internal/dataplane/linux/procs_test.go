package linux

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSetInstancesStopped: powering an instance off kills every process in
// its namespace and marks it (InstanceStopped); powering it on takes the
// mark off; a running instance's processes, a namespace that does not
// exist and a namespace of another Applier are left alone.
func TestSetInstancesStopped(t *testing.T) {
	needRoot(t)
	w := newWorld(t)
	a := newApplier(t, w.tag)
	apply(t, a, w.host)
	other := New(Config{Tag: w.tag + "other"}) // owns none of them

	type proc struct {
		cmd  *exec.Cmd
		done chan error
	}
	var procs []*proc
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	start := func(ns string) *proc {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", ns, "sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, done: make(chan error, 1)}
		go func() { p.done <- cmd.Wait() }()
		procs = append(procs, p)
		return p
	}
	running := func(p *proc) bool {
		select {
		case err := <-p.done:
			p.done <- err
			return false
		case <-time.After(200 * time.Millisecond):
			return true
		}
	}
	stopped := func(id string) bool {
		t.Helper()
		s, err := InstanceStopped(id)
		if err != nil {
			t.Fatalf("InstanceStopped(%s): %v", id, err)
		}
		return s
	}
	i1, i2 := w.inst("a1"), w.inst("a2")
	p1, p2 := start(i1), start(i2)
	time.Sleep(100 * time.Millisecond) // let ip exec sleep in the namespace

	steps := []struct {
		name      string
		applier   *Applier
		set       map[string]bool
		wantErr   bool
		killed    []string // instances with killed processes
		marked    []string // instances marked stopped afterwards
		p1Running bool
		p2Running bool
		restartP1 bool // start a new process in a1 before the step
		notMarked []string
	}{
		{name: "another applier's namespaces are not touched", applier: other, set: map[string]bool{i1: true, i2: true},
			notMarked: []string{i1, i2}, p1Running: true, p2Running: true},
		{name: "stop a1", applier: a, set: map[string]bool{i1: true, i2: false, "i-" + w.tag + "gone": true},
			killed: []string{i1}, marked: []string{i1}, notMarked: []string{i2}, p2Running: true},
		{name: "stopped again: what entered since is killed", applier: a, set: map[string]bool{i1: true}, restartP1: true,
			killed: []string{i1}, marked: []string{i1}, p2Running: true},
		{name: "start a1", applier: a, set: map[string]bool{i1: false}, restartP1: true,
			notMarked: []string{i1, i2}, p1Running: true, p2Running: true},
		{name: "not an instance name", applier: a, set: map[string]bool{w.vpcA: true}, wantErr: true,
			notMarked: []string{i1}, p1Running: true, p2Running: true},
	}
	for _, st := range steps {
		if st.restartP1 {
			p1 = start(i1)
			time.Sleep(100 * time.Millisecond)
		}
		killed, err := st.applier.SetInstancesStopped(context.Background(), st.set)
		if (err != nil) != st.wantErr {
			t.Errorf("%s: error %v, want error %v", st.name, err, st.wantErr)
		}
		var got []string
		for id, pids := range killed {
			if len(pids) > 0 {
				got = append(got, id)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, st.killed) {
			t.Errorf("%s: killed in %v, want %v", st.name, got, st.killed)
		}
		for _, id := range st.marked {
			if !stopped(id) {
				t.Errorf("%s: %s not marked stopped", st.name, id)
			}
		}
		for _, id := range st.notMarked {
			if stopped(id) {
				t.Errorf("%s: %s marked stopped", st.name, id)
			}
		}
		if r := running(p1); r != st.p1Running {
			t.Errorf("%s: process in a1 running %v, want %v", st.name, r, st.p1Running)
		}
		if r := running(p2); r != st.p2Running {
			t.Errorf("%s: process in a2 running %v, want %v", st.name, r, st.p2Running)
		}
	}
	// Not instances, or not there: never stopped.
	for _, id := range []string{"i-" + w.tag + "gone", w.vpcA, "../etc", filepath.Join("i-x", "..", "vpc")} {
		if stopped(id) {
			t.Errorf("InstanceStopped(%q) = true", id)
		}
	}
}
