package kernel_test

// A store-level rig: a memory store written with model records, the Linux
// applier and an agent (run by hand with Reconcile or in the background),
// one VPC with two vSwitches and a few instances. It gives the
// differential, restart and drift tests direct control of the agent,
// which apitest's control plane keeps to itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

const rigZone = "local-a"

// node is one instance with its primary ENI.
type node struct {
	name, inst, eni, vsw string
	addr                 netip.Addr
}

type rig struct {
	t      *testing.T
	ctx    context.Context
	tag    string // applier tag (marker); IDs carry it too
	st     store.Store
	log    *slog.Logger
	ap     *linux.Applier
	fw     *agent.NlFirewall
	a      *agent.Agent
	vpc    string
	vswCID map[string]netip.Prefix // vSwitch ID -> CIDR
	nodes  []node
	resync time.Duration
	// flowSetSize bounds the flow-log counting sets (withFlowAgent; 0:
	// the default).
	flowSetSize int
}

// newRig makes the store and the agent (not running). idp is a short
// prefix that keeps IDs of several rigs of one test apart.
func newRig(t *testing.T, idp string, resync time.Duration) *rig {
	t.Helper()
	requireKernel(t)
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Fatalf("kernel tests need conntrack (scripts/test.sh installs it): %v", err)
	}
	tag := randTag(t) + idp
	r := &rig{t: t, ctx: context.Background(), tag: tag, st: memory.New(), vswCID: map[string]netip.Prefix{}, resync: resync}
	r.log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() { r.st.Close() })
	r.ap = linux.New(linux.Config{Tag: "k-" + tag, Logger: r.log})
	// Registered first, so it runs last: after agent loops and servers stop.
	t.Cleanup(func() {
		if err := r.ap.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		ents, _ := os.ReadDir("/run/netns")
		for _, ent := range ents {
			if strings.Contains(ent.Name(), tag) {
				t.Errorf("namespace %s left after cleanup", ent.Name())
			}
		}
	})
	r.newAgent()
	r.vpc = "vpc-" + tag
	r.put(model.PrefixVPC+r.vpc, model.VPC{ID: r.vpc, CidrBlock: netip.MustParsePrefix("10.77.0.0/16"), Status: "Available"})
	return r
}

// newAgent replaces the agent with a new one with a new applier of the same
// tag and a new firewall: what a restarted process has.
func (r *rig) newAgent() {
	if r.a != nil {
		r.a.Close() // what the old process's exit would release
	}
	r.ap = linux.New(linux.Config{Tag: "k-" + r.tag, Logger: r.log})
	r.fw = &agent.NlFirewall{GuardPrefix: linux.VethPrefix}
	r.a = agent.New(agent.Config{
		Store: r.st, Zone: rigZone, Topology: r.ap, Firewall: r.fw,
		IfName: linux.VethName, Resync: r.resync, Logger: r.log,
	})
}

func (r *rig) put(key string, v any) {
	r.t.Helper()
	r.update(func(tx store.Txn) error { return putJSON(tx, key, v) })
}

func putJSON(tx store.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(key, b)
}

func (r *rig) update(fn func(tx store.Txn) error) {
	r.t.Helper()
	if _, err := r.st.Update(r.ctx, fn); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) vswitch(short, cidr string) string {
	id := "vsw-" + r.tag + short
	p := netip.MustParsePrefix(cidr)
	r.vswCID[id] = p
	r.put(model.PrefixVSwitch+id, model.VSwitch{ID: id, VpcID: r.vpc, ZoneID: rigZone, CidrBlock: p, Status: "Available"})
	return id
}

func (r *rig) groupID(short string) string { return "sg-" + r.tag + short }

// eniRecord is the ENI of n in the given groups.
func (r *rig) eniRecord(i int, groups []string) model.ENI {
	n := r.nodes[i]
	mac := fmt.Sprintf("02:%s:%s:%s:00:%02x", r.tag[1:3], r.tag[3:5], r.tag[5:7], i+1)
	return model.ENI{
		ID: n.eni, Type: model.ENITypePrimary, VpcID: r.vpc, VSwitchID: n.vsw, ZoneID: rigZone,
		InstanceID: n.inst, MAC: mac, PrimaryIP: n.addr, SecurityGroupIDs: groups, Status: model.ENIInUse,
	}
}

// instance adds a node in the groups.
func (r *rig) instance(short, vsw, addr string, groups ...string) node {
	r.t.Helper()
	n := node{name: short, inst: "i-" + r.tag + short, eni: "eni-" + r.tag + short, vsw: vsw, addr: netip.MustParseAddr(addr)}
	r.nodes = append(r.nodes, n)
	r.put(model.PrefixInstance+n.inst, model.Instance{
		ID: n.inst, ZoneID: rigZone, VpcID: r.vpc, VSwitchID: vsw, PrimaryENIID: n.eni, Status: model.InstanceRunning,
	})
	r.put(model.PrefixENI+n.eni, r.eniRecord(len(r.nodes)-1, groups))
	return n
}

func (r *rig) reconcile() {
	r.t.Helper()
	if err := r.a.Reconcile(r.ctx); err != nil {
		r.t.Fatalf("reconcile: %v", err)
	}
}

// run runs the current agent in the background; the returned stop cancels
// it and waits for it to return.
func (r *rig) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	a := r.a
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("agent run: %v", err)
			}
		})
	}
	r.t.Cleanup(stop)
	return stop
}

// waitApplied waits until the running agent applied the store as it is now.
func (r *rig) waitApplied() {
	r.t.Helper()
	want := r.st.Revision()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-r.a.Applied():
			if got >= want {
				return
			}
		case <-deadline:
			r.t.Fatalf("revision %d not applied within 10 s", want)
		}
	}
}

func (r *rig) serve(n node, tcp, udp []int) {
	r.t.Helper()
	srv, err := probe.Serve(n.inst, tcp, udp)
	if err != nil {
		r.t.Fatalf("serve in %s: %v", n.name, err)
	}
	r.t.Cleanup(srv.Close)
}

// vpcExec runs a command in the VPC namespace.
func (r *rig) vpcExec(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + r.vpc}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v in %s: %w: %s", args, r.vpc, err, out)
	}
	return string(out), nil
}

func (r *rig) flushConntrack() {
	r.t.Helper()
	if _, err := r.vpcExec("conntrack", "-F"); err != nil {
		r.t.Fatal(err)
	}
}

// The probes of these tests: source-port-aware TCP and UDP, sub-second ICMP.
func tcpProbe(ns string, sport uint16, dst netip.AddrPort, timeout time.Duration) error {
	return probe.TCPFrom(context.Background(), ns, sport, dst, timeout)
}

func udpProbe(ns string, sport uint16, dst netip.AddrPort, timeout time.Duration) error {
	return probe.UDPFrom(context.Background(), ns, sport, dst, timeout)
}

func icmpProbe(ns string, dst netip.Addr, timeout time.Duration) error {
	return probe.Ping(ns, dst, timeout)
}

// probeResult is one probe's outcome: ok when it was answered; err for a
// failure other than a timeout (a timeout is a silent drop: neither).
type probeResult struct {
	ok  bool
	err error
}

// confirmTimeout is the wait of a probe sent again by confirmDrop.
const confirmTimeout = 2 * time.Second

// confirmDrop sends p again, alone and with a long timeout, when it timed
// out (res) although the oracle says it passes: under load (go test runs
// packages in parallel) an answer can take longer than a batch's short
// timeout. A real drop times out again. A delivery is never sent again: it
// cannot be an artefact of load.
func (r *rig) confirmDrop(t *testing.T, p diffProbe, res probeResult, pass bool) probeResult {
	if res.ok || res.err != nil || !pass {
		return res
	}
	again := r.sendProbes([]diffProbe{p}, confirmTimeout)[0]
	if again.ok {
		t.Logf("%v: answered only when sent again with a %v timeout", p, confirmTimeout)
	}
	return again
}

// sendProbes sends every probe (ICMP echo, or TCP/UDP from its source
// port to its destination port) from its node to its target node at once
// and returns the outcomes in probe order.
func (r *rig) sendProbes(probes []diffProbe, timeout time.Duration) []probeResult {
	results := make([]probeResult, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			from, to := r.nodes[p.from], r.nodes[p.to]
			var err error
			switch p.proto {
			case policy.IPProtoICMP:
				err = icmpProbe(from.inst, to.addr, timeout)
			case policy.IPProtoTCP:
				err = tcpProbe(from.inst, p.sport, netip.AddrPortFrom(to.addr, p.dport), timeout)
			default:
				err = udpProbe(from.inst, p.sport, netip.AddrPortFrom(to.addr, p.dport), timeout)
			}
			switch {
			case err == nil:
				results[i] = probeResult{ok: true}
			case probe.IsTimeout(err):
			default:
				results[i] = probeResult{err: err}
			}
		})
	}
	wg.Wait()
	return results
}
