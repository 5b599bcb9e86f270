package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/cli"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
)

// TestStopInstanceKillsProcessesKernel: a stopped instance runs nothing.
// With a real agent (apitest.WithAgent), processes started in an
// instance's namespace (directly, as children, and detached with setsid)
// are killed once StopInstance (official SDK) is enforced; the namespace
// stays; `palisade instance exec` refuses the stopped instance; a process
// put in by hand later is killed at the agent's next reconciliation.
// StartInstance brings the instance back to Running, exec works again and
// what runs in it then survives the agent's reconciliations.
func TestStopInstanceKillsProcessesKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "nft", "sleep", "sh", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent("t"+hex.EncodeToString(b)))
	c := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.77.0.0/16", "10.77.1.0/24")
	id := runInstance(t, c, n.vsw, n.sg, "10.77.1.5")
	waitInstanceStatus(t, c, id, "Running")

	// Every process this test starts is killed and reaped at the end,
	// whatever happens (the kernel cleanup of apitest then deletes the
	// namespace, killing anything left in it).
	var started []*exec.Cmd
	done := map[*exec.Cmd]chan error{}
	t.Cleanup(func() {
		for _, cmd := range started {
			_ = cmd.Process.Kill()
			<-done[cmd]
		}
	})
	inNS := func(args ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", id}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %v: %v", args, err)
		}
		ch := make(chan error, 1)
		go func() { ch <- cmd.Wait() }()
		started, done[cmd] = append(started, cmd), ch
		return cmd
	}
	execCLI := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := cli.Execute(context.Background(), cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }},
			append([]string{"instance", "exec", id, "--"}, args...))
		return code, errOut.String()
	}
	waitGone := func(what string, cmds ...*exec.Cmd) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(pidsInNetns(t, id)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: processes still in the namespace of %s after 10 s: %v", what, id, pidsInNetns(t, id))
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, cmd := range cmds {
			select {
			case err := <-done[cmd]:
				done[cmd] <- err // for the cleanup
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
					t.Errorf("%s: %v ended with %v, not killed", what, cmd.Args, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: %v still running", what, cmd.Args)
			}
		}
	}

	// Running: exec works, and processes run (one detached from its parent).
	if code, errOut := execCLI("true"); code != 0 {
		t.Fatalf("instance exec on a running instance: exit %d: %s", code, errOut)
	}
	direct := inNS("sleep", "1000")
	spawner := inNS("sh", "-c", "setsid sleep 1001 </dev/null >/dev/null 2>&1 & sleep 1002")
	waitPids(t, id, 3)

	stop := ecs.CreateStopInstanceRequest()
	stop.InstanceId = id
	if _, err := c.StopInstance(stop); err != nil {
		t.Fatal(err)
	}
	waitGone("after StopInstance", direct, spawner)
	if st := describeInstance(t, c, id).Status; st != "Stopped" {
		t.Errorf("status %s, want Stopped", st)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", id)); err != nil {
		t.Errorf("the namespace of a stopped instance went away: %v", err)
	}
	if stopped, err := linux.InstanceStopped(id); err != nil || !stopped {
		t.Errorf("InstanceStopped = %v, %v; want true", stopped, err)
	}
	if code, errOut := execCLI("true"); code != 1 || !strings.Contains(errOut, "is Stopped") {
		t.Errorf("instance exec on a stopped instance: exit %d, stderr %q; want 1 and a clear error", code, errOut)
	}
	// Put in by hand (not through palisade): killed at the next
	// reconciliation (apitest's agent resyncs every second).
	sneaked := inNS("sleep", "1003")
	waitGone("a process started in a stopped instance", sneaked)

	// Stopping it again is refused, starting works.
	if _, err := c.StopInstance(stop); err == nil {
		t.Error("StopInstance on a stopped instance succeeded")
	} else if status, code := apitest.ServerErr(t, err); status != 403 || code != "IncorrectInstanceStatus" {
		t.Errorf("StopInstance on a stopped instance: %d %s", status, code)
	}
	start := ecs.CreateStartInstanceRequest()
	start.InstanceId = id
	if _, err := c.StartInstance(start); err != nil {
		t.Fatal(err)
	}
	waitInstanceStatus(t, c, id, "Running")
	deadline := time.Now().Add(10 * time.Second)
	for {
		stopped, err := linux.InstanceStopped(id)
		if err != nil {
			t.Fatal(err)
		}
		if !stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stopped mark is still on after StartInstance")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, errOut := execCLI("true"); code != 0 {
		t.Fatalf("instance exec after StartInstance: exit %d: %s", code, errOut)
	}
	again := inNS("sleep", "1004")
	waitPids(t, id, 1)
	time.Sleep(2500 * time.Millisecond) // at least two reconciliations
	select {
	case err := <-done[again]:
		done[again] <- err
		t.Errorf("a process of a running instance ended: %v", err)
	default:
	}
}

func waitInstanceStatus(t *testing.T, c *ecs.Client, id, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := describeInstance(t, c, id).Status
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s is %s after 15 s, want %s", id, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidsInNetns lists the live processes in the named network namespace.
func pidsInNetns(t *testing.T, name string) []int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", name), &want); err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// waitPids waits until at least n processes run in the namespace.
func waitPids(t *testing.T, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(pidsInNetns(t, name)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d processes in %s, want %d", len(pidsInNetns(t, name)), name, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
