package agent_test

// Real-kernel tests: the agent reads records from a memory store, builds
// namespaces, veths and routes with the Linux applier, loads the security
// group program with nft and cuts conntrack flows; packets are then sent
// between instance namespaces. They need root, ip, nft, ping and conntrack.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

const zone = "local-a"

func needKernel(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"ip", "nft", "nsenter", "ping", "conntrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// statusRecorder is the StatusSink: it writes the status into the store
// record, as the control plane would, and remembers the last value.
type statusRecorder struct {
	st   store.Store
	mu   sync.Mutex
	inst map[string]string
	eni  map[string]string
}

func (r *statusRecorder) set(ctx context.Context, key string, m map[string]string, id, status string, v any) error {
	r.mu.Lock()
	m[id] = status
	r.mu.Unlock()
	_, err := r.st.Update(ctx, func(tx store.Txn) error {
		b, ok, err := tx.Get(key)
		if err != nil || !ok {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
		switch v := v.(type) {
		case *model.Instance:
			v.Status = status
		case *model.ENI:
			v.Status = status
		case *model.EIP:
			v.Status = status
		}
		b, err = json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.Put(key, b)
	})
	return err
}

func (r *statusRecorder) SetInstanceStatus(ctx context.Context, id, status string) error {
	return r.set(ctx, model.PrefixInstance+id, r.inst, id, status, &model.Instance{})
}

func (r *statusRecorder) SetENIStatus(ctx context.Context, id, status string) error {
	return r.set(ctx, model.PrefixENI+id, r.eni, id, status, &model.ENI{})
}

func (r *statusRecorder) SetEIPStatus(ctx context.Context, id, status string) error {
	return r.set(ctx, model.PrefixEIP+id, map[string]string{}, id, status, &model.EIP{})
}

func (r *statusRecorder) instance(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst[id]
}

func (r *statusRecorder) eniStatus(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eni[id]
}

// flakyFirewall fails every Load while fail is set.
type flakyFirewall struct {
	*agent.NlFirewall
	mu   sync.Mutex
	fail bool
}

func (f *flakyFirewall) Load(ctx context.Context, vpcID string, p *policy.Program) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if _, err := os.Stat(filepath.Join("/run/netns", vpcID)); err != nil {
		return f.NlFirewall.Load(ctx, vpcID, p) // namespace missing: as is
	}
	if fail {
		return errors.New("injected load failure")
	}
	return f.NlFirewall.Load(ctx, vpcID, p)
}

// env is one test's store, applier and agent. Every ID carries a random
// tag, because namespaces are global to the host.
type env struct {
	t      *testing.T
	ctx    context.Context
	tag    string
	st     store.Store
	ap     *linux.Applier
	fw     *agent.NlFirewall
	status *statusRecorder
	a      *agent.Agent
	// inst maps a short name to its instance, ENI and address.
	inst map[string]inst
}

type inst struct {
	id, eni, vpc, vsw string
	addr              netip.Addr
}

func randTag(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newEnv makes the environment; fw wraps the firewall when not nil.
func newEnv(t *testing.T, wrap func(*agent.NlFirewall) agent.Firewall) *env {
	t.Helper()
	needKernel(t)
	e := &env{t: t, ctx: context.Background(), tag: randTag(t), st: memory.New(), inst: map[string]inst{}}
	t.Cleanup(func() { e.st.Close() })
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	e.ap = linux.New(linux.Config{Tag: "agent-" + e.tag, Logger: log})
	// Registered first, so it runs last: after agent loops and servers stop.
	t.Cleanup(func() {
		if err := e.ap.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		ents, _ := os.ReadDir("/run/netns")
		for _, ent := range ents {
			if strings.Contains(ent.Name(), e.tag) {
				t.Errorf("namespace %s left after cleanup", ent.Name())
			}
		}
	})
	e.fw = &agent.NlFirewall{GuardPrefix: "pv"}
	var fw agent.Firewall = e.fw
	if wrap != nil {
		fw = wrap(e.fw)
	}
	e.status = &statusRecorder{st: e.st, inst: map[string]string{}, eni: map[string]string{}}
	e.a = agent.New(agent.Config{
		Store: e.st, Zone: zone, Topology: e.ap, Firewall: fw, Status: e.status,
		IfName: linux.VethName, Resync: time.Hour, Logger: log,
	})
	return e
}

func (e *env) put(key string, v any) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	if v == nil {
		b = nil
	}
	if _, err := e.st.Update(e.ctx, func(tx store.Txn) error { return tx.Put(key, b) }); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) del(keys ...string) {
	e.t.Helper()
	if _, err := e.st.Update(e.ctx, func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(key string, v any) {
	e.t.Helper()
	if err := e.st.View(e.ctx, func(tx store.ReadTxn) error {
		b, ok, err := tx.Get(key)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s not found", key)
		}
		return json.Unmarshal(b, v)
	}); err != nil {
		e.t.Fatal(err)
	}
}

// vpc writes a VPC with one vSwitch of cidr and returns their IDs.
func (e *env) vpc(short, cidr string) (vpcID, vswID string) {
	e.t.Helper()
	vpcID, vswID = "vpc-"+e.tag+short, "vsw-"+e.tag+short
	p := netip.MustParsePrefix(cidr)
	e.put(model.PrefixVPC+vpcID, model.VPC{ID: vpcID, CidrBlock: p, Status: "Available"})
	e.put(model.PrefixVSwitch+vswID, model.VSwitch{ID: vswID, VpcID: vpcID, ZoneID: zone, CidrBlock: p, Status: "Available"})
	return vpcID, vswID
}

func (e *env) groupID(short string) string { return "sg-" + e.tag + short }

// group writes (or rewrites) a basic group.
func (e *env) group(short, vpcID, inner string, rules ...model.Rule) string {
	e.t.Helper()
	id := e.groupID(short)
	for i := range rules {
		if rules[i].ID == "" {
			rules[i].ID = fmt.Sprintf("sgr-%s%s%d", e.tag, short, i)
		}
	}
	e.put(model.PrefixSecurityGroup+id, model.SecurityGroup{
		ID: id, VpcID: vpcID, Type: model.GroupTypeBasic, InnerAccessPolicy: inner, Rules: rules,
	})
	return id
}

// instance writes a Pending instance with one primary ENI in the groups.
func (e *env) instance(short, vpcID, vswID, addr string, groups ...string) inst {
	e.t.Helper()
	in := inst{id: "i-" + e.tag + short, eni: "eni-" + e.tag + short, vpc: vpcID, vsw: vswID, addr: netip.MustParseAddr(addr)}
	e.put(model.PrefixInstance+in.id, model.Instance{
		ID: in.id, ZoneID: zone, VpcID: vpcID, VSwitchID: vswID, PrimaryENIID: in.eni, Status: model.InstancePending,
	})
	mac := fmt.Sprintf("02:%s:%s:%s:00:%02x", e.tag[0:2], e.tag[2:4], e.tag[4:6], len(e.inst)+1)
	e.put(model.PrefixENI+in.eni, model.ENI{
		ID: in.eni, Type: model.ENITypePrimary, VpcID: vpcID, VSwitchID: vswID, ZoneID: zone,
		InstanceID: in.id, MAC: mac, PrimaryIP: in.addr, SecurityGroupIDs: groups, Status: model.ENIAttaching,
	})
	for _, g := range groups {
		e.put(model.PrefixMember+g+"/"+in.eni, nil)
	}
	e.inst[short] = in
	return in
}

// setGroups replaces the groups of an instance's ENI (record and member keys).
func (e *env) setGroups(short string, groups ...string) {
	e.t.Helper()
	in := e.inst[short]
	var eni model.ENI
	e.get(model.PrefixENI+in.eni, &eni)
	for _, g := range eni.SecurityGroupIDs {
		e.del(model.PrefixMember + g + "/" + in.eni)
	}
	eni.SecurityGroupIDs = groups
	e.put(model.PrefixENI+in.eni, eni)
	for _, g := range groups {
		e.put(model.PrefixMember+g+"/"+in.eni, nil)
	}
}

func (e *env) reconcile() {
	e.t.Helper()
	if err := e.a.Reconcile(e.ctx); err != nil {
		e.t.Fatalf("reconcile: %v", err)
	}
}

// ping sends one echo request from the instance; true when answered.
func (e *env) ping(from, dst string, extra ...string) bool {
	e.t.Helper()
	args := append([]string{"ping", "-n", "-q", "-c", "1", "-W", "1"}, extra...)
	var out bytes.Buffer
	code, err := e.ap.InstanceExec(e.ctx, e.inst[from].id, append(args, dst), nil, &out, &out)
	if err != nil {
		e.t.Fatalf("ping from %s: %v", from, err)
	}
	return code == 0
}

// pingEventually tolerates the first packets after a change (ARP).
func (e *env) pingEventually(from, dst string, extra ...string) bool {
	e.t.Helper()
	for range 3 {
		if e.ping(from, dst, extra...) {
			return true
		}
	}
	return false
}

func (e *env) addr(short string) string { return e.inst[short].addr.String() }

func (e *env) exec(short string, args ...string) {
	e.t.Helper()
	var out bytes.Buffer
	code, err := e.ap.InstanceExec(e.ctx, e.inst[short].id, args, nil, &out, &out)
	if err != nil || code != 0 {
		e.t.Fatalf("in %s: %v: exit %d, %v: %s", short, args, code, err, out.String())
	}
}

// listen starts a TCP line echo server in the instance on port.
func (e *env) listen(short string, port int) {
	e.t.Helper()
	srv, err := probe.Serve(e.inst[short].id, []int{port}, nil)
	if err != nil {
		e.t.Fatalf("listen in %s: %v", short, err)
	}
	e.t.Cleanup(srv.Close)
}

// dial opens a TCP connection from the instance (1 s timeout).
func (e *env) dial(from, dst string, port int) (net.Conn, error) {
	return probe.DialTCP(context.Background(), e.inst[from].id,
		netip.AddrPortFrom(netip.MustParseAddr(dst), uint16(port)), time.Second)
}

// echo sends one line on c and waits up to 1 s for it to come back.
func echo(c net.Conn, line string) error { return probe.Echo(c, line, time.Second) }

// tcp connects and exchanges one line: nil when the path is open.
func (e *env) tcp(from, dst string, port int) error {
	c, err := e.dial(from, dst, port)
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, "hello")
}

func (e *env) tcpEventually(from, dst string, port int) error {
	var err error
	for range 3 {
		if err = e.tcp(from, dst, port); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// wantDenied checks that a TCP connection times out: the SYN was dropped
// silently (a refused or reset connection means packets got through).
func (e *env) wantDenied(from, dst string, port int) {
	e.t.Helper()
	err := e.tcp(from, dst, port)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		e.t.Errorf("tcp %s -> %s:%d: got %v, want a timeout (silent drop)", from, dst, port, err)
	}
}

func (e *env) wantAllowed(from, dst string, port int) {
	e.t.Helper()
	if err := e.tcpEventually(from, dst, port); err != nil {
		e.t.Errorf("tcp %s -> %s:%d: %v", from, dst, port, err)
	}
}

// conntrackFlows lists the TCP conntrack entries to dport in the VPC namespace.
func conntrackFlows(t *testing.T, vpcID string, dport int) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", vpcID, "conntrack", "-L", "-p", "tcp", "--dport", strconv.Itoa(dport)).Output()
	if err != nil {
		t.Fatalf("conntrack -L in %s: %v", vpcID, err)
	}
	return strings.TrimSpace(string(out))
}

func nsExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

func tcpRule(port int, peer string, policyName string) model.Rule {
	if policyName == "" {
		policyName = model.PolicyAccept
	}
	return model.Rule{
		Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: port, To: port},
		PeerCidr: netip.MustParsePrefix(peer), Policy: policyName, Priority: 1,
	}
}

// allowAll is an ingress rule accepting everything from 0.0.0.0/0.
func allowAll() model.Rule {
	return model.Rule{
		Direction: model.Ingress, Protocol: model.ProtoALL, Ports: model.PortRange{From: -1, To: -1},
		PeerCidr: netip.MustParsePrefix("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1,
	}
}

// a. Intra-group access of a basic group, then InnerAccessPolicy Drop.
func TestKernelIntraGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	g := e.group("a", vpc, model.InnerAccept)
	a := e.instance("a", vpc, vsw, "10.10.1.10", g)
	b := e.instance("b", vpc, vsw, "10.10.1.11", g)
	e.reconcile()

	for _, in := range []inst{a, b} {
		if s := e.status.instance(in.id); s != model.InstanceRunning {
			t.Errorf("instance %s status %q, want Running", in.id, s)
		}
		if s := e.status.eniStatus(in.eni); s != model.ENIInUse {
			t.Errorf("eni %s status %q, want InUse", in.eni, s)
		}
	}
	if !e.pingEventually("a", e.addr("b")) {
		t.Error("ping a -> b failed")
	}
	if !e.pingEventually("b", e.addr("a")) {
		t.Error("ping b -> a failed")
	}
	e.listen("a", 8080)
	e.listen("b", 8080)
	e.wantAllowed("a", e.addr("b"), 8080)
	e.wantAllowed("b", e.addr("a"), 8080)

	e.group("a", vpc, model.InnerDrop)
	e.reconcile()
	if e.ping("a", e.addr("b")) {
		t.Error("ping a -> b passed with InnerAccessPolicy Drop")
	}
	if e.ping("b", e.addr("a")) {
		t.Error("ping b -> a passed with InnerAccessPolicy Drop")
	}
	e.wantDenied("a", e.addr("b"), 8080)
}

// b. Default inbound deny, a CIDR accept rule on one port, and a drop
// rule at the same priority beating it.
func TestKernelRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	ga := e.group("a", vpc, model.InnerAccept)
	gb := e.group("b", vpc, model.InnerAccept)
	e.instance("a", vpc, vsw, "10.10.1.10", ga)
	e.instance("b", vpc, vsw, "10.10.1.11", gb)
	e.reconcile()
	e.listen("b", 8080)
	e.listen("b", 8081)

	if e.ping("a", e.addr("b")) {
		t.Error("ping a -> b passed: basic group denies inbound by default")
	}
	e.wantDenied("a", e.addr("b"), 8080)

	accept := tcpRule(8080, e.addr("a")+"/32", model.PolicyAccept)
	e.group("b", vpc, model.InnerAccept, accept)
	e.reconcile()
	e.wantAllowed("a", e.addr("b"), 8080)
	e.wantDenied("a", e.addr("b"), 8081)
	if e.ping("a", e.addr("b")) {
		t.Error("ping a -> b passed with only a TCP rule")
	}
	// Egress of a basic group is open, ingress of a's group is not.
	e.listen("a", 8080)
	e.wantDenied("b", e.addr("a"), 8080)

	drop := tcpRule(8080, e.addr("a")+"/32", model.PolicyDrop)
	e.group("b", vpc, model.InnerAccept, accept, drop)
	e.reconcile()
	e.wantDenied("a", e.addr("b"), 8080)
}

// c. A SourceGroupId rule follows membership of the referenced group.
func TestKernelGroupReference(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	ga := e.group("a", vpc, model.InnerAccept)
	gx := e.group("x", vpc, model.InnerAccept)
	gb := e.group("b", vpc, model.InnerAccept, model.Rule{
		Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 8080},
		PeerGroupID: ga, Policy: model.PolicyAccept, Priority: 1,
	})
	e.instance("a", vpc, vsw, "10.10.1.10", ga, gx)
	e.instance("b", vpc, vsw, "10.10.1.11", gb)
	// c is in gx only: not covered by the rule.
	e.instance("c", vpc, vsw, "10.10.1.12", gx)
	e.reconcile()
	e.listen("b", 8080)

	e.wantAllowed("a", e.addr("b"), 8080)
	e.wantDenied("c", e.addr("b"), 8080)
	held, err := e.dial("a", e.addr("b"), 8080)
	if err != nil {
		t.Fatalf("dial a -> b: %v", err)
	}
	defer held.Close()
	if err := echo(held, "before"); err != nil {
		t.Fatalf("held flow: %v", err)
	}

	// a leaves ga (still in gx, so it keeps a group and its egress).
	e.setGroups("a", gx)
	e.reconcile()
	e.wantDenied("a", e.addr("b"), 8080)
	if err := echo(held, "after"); err == nil {
		t.Error("established flow a -> b survived a's leaving the referenced group")
	}
	// c joins ga: now allowed.
	e.setGroups("c", gx, ga)
	e.reconcile()
	e.wantAllowed("c", e.addr("b"), 8080)
}

// d. Revoking a rule cuts the flows it admitted and only those.
func TestKernelCutEstablished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	ga := e.group("a", vpc, model.InnerAccept)
	r1 := tcpRule(8080, "10.10.1.10/32", "")
	r2 := tcpRule(9090, "10.10.1.0/24", "")
	gb := e.group("b", vpc, model.InnerAccept, r1, r2)
	e.instance("a", vpc, vsw, "10.10.1.10", ga)
	e.instance("b", vpc, vsw, "10.10.1.11", gb)
	e.reconcile()
	e.listen("b", 8080)
	e.listen("b", 9090)

	var conns []net.Conn
	for _, port := range []int{8080, 9090} {
		var c net.Conn
		var err error
		for range 3 {
			if c, err = e.dial("a", e.addr("b"), port); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("dial %d: %v", port, err)
		}
		defer c.Close()
		if err := echo(c, "one"); err != nil {
			t.Fatalf("flow to %d: %v", port, err)
		}
		conns = append(conns, c)
	}
	if conntrackFlows(t, vpc, 8080) == "" || conntrackFlows(t, vpc, 9090) == "" {
		t.Fatal("no conntrack entries for the established flows")
	}

	// Revoke r1; an unchanged reload alone would leave the flow alive.
	e.group("b", vpc, model.InnerAccept, r2)
	e.reconcile()
	if got := conntrackFlows(t, vpc, 8080); got != "" {
		t.Errorf("conntrack entry of the revoked flow still there: %s", got)
	}
	if conntrackFlows(t, vpc, 9090) == "" {
		t.Error("conntrack entry of the still allowed flow was removed")
	}
	if err := echo(conns[0], "two"); err == nil {
		t.Error("data still flows on the revoked flow (8080)")
	}
	if err := echo(conns[1], "two"); err != nil {
		t.Errorf("still allowed flow (9090) broken: %v", err)
	}
	e.wantDenied("a", e.addr("b"), 8080)
	// A further reconciliation leaves the allowed flow alone.
	e.reconcile()
	if err := echo(conns[1], "three"); err != nil {
		t.Errorf("still allowed flow (9090) broken by a resync: %v", err)
	}
}

// e. No path between VPCs, even with allow-all groups.
func TestKernelVPCIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc1, vsw1 := e.vpc("a", "10.10.1.0/24")
	vpc2, vsw2 := e.vpc("b", "10.20.1.0/24")
	g1 := e.group("a", vpc1, model.InnerAccept, allowAll())
	g2 := e.group("b", vpc2, model.InnerAccept, allowAll())
	e.instance("a", vpc1, vsw1, "10.10.1.10", g1)
	e.instance("c", vpc2, vsw2, "10.20.1.10", g2)
	e.instance("d", vpc2, vsw2, "10.20.1.11", g2)
	// Overlapping address space: e in VPC 2 has a's address in its own vSwitch.
	vpc3, vsw3 := e.vpc("c", "10.10.1.0/24")
	g3 := e.group("c", vpc3, model.InnerAccept, allowAll())
	e.instance("e", vpc3, vsw3, "10.10.1.11", g3)
	e.reconcile()
	e.listen("c", 8080)

	if !e.pingEventually("d", e.addr("c")) {
		t.Error("ping d -> c inside VPC 2 failed")
	}
	if e.ping("a", e.addr("c")) {
		t.Error("ping from VPC 1 reached VPC 2")
	}
	if e.ping("c", e.addr("a")) {
		t.Error("ping from VPC 2 reached VPC 1")
	}
	if err := e.tcp("a", e.addr("c"), 8080); err == nil {
		t.Error("tcp from VPC 1 reached VPC 2")
	}
	// 10.10.1.11 does not exist in VPC 1: the overlapping ENI of VPC 3 is
	// not reachable from a.
	if e.ping("a", e.addr("e")) {
		t.Error("ping from VPC 1 reached an overlapping address of VPC 3")
	}
}

// f. A packet whose source is not the ENI's address is dropped.
func TestKernelAntiSpoofing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	g := e.group("a", vpc, model.InnerAccept, allowAll())
	e.instance("a", vpc, vsw, "10.10.1.10", g)
	e.instance("b", vpc, vsw, "10.10.1.11", g)
	e.instance("c", vpc, vsw, "10.10.1.12", g)
	e.reconcile()
	if !e.pingEventually("a", e.addr("b")) {
		t.Fatal("ping a -> b failed")
	}
	// An unused address, and c's address.
	for _, spoofed := range []string{"10.10.1.99", e.addr("c")} {
		e.exec("a", "ip", "addr", "add", spoofed+"/32", "dev", "eth0")
		if e.ping("a", e.addr("b"), "-I", spoofed) {
			t.Errorf("ping a -> b with spoofed source %s passed", spoofed)
		}
	}
	if !e.ping("a", e.addr("b"), "-I", e.addr("a")) {
		t.Error("ping a -> b with its own address failed")
	}
}

// g. An ENI interface the program does not know passes nothing, and a VPC
// whose program cannot be loaded gets no ENIs.
func TestKernelFailClosed(t *testing.T) {
	t.Parallel()
	t.Run("interface unknown to the program", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, nil)
		vpc, vsw := e.vpc("a", "10.10.1.0/24")
		g := e.group("a", vpc, model.InnerAccept, allowAll())
		a := e.instance("a", vpc, vsw, "10.10.1.10", g)
		e.instance("b", vpc, vsw, "10.10.1.11", g)
		e.instance("c", vpc, vsw, "10.10.1.12", g)
		e.reconcile()
		if !e.pingEventually("a", e.addr("b")) {
			t.Fatal("ping a -> b failed")
		}
		// Load a program that knows a and c but not b, as when b's veth
		// appears before its chain.
		var d *agent.Desired
		if err := e.st.View(e.ctx, func(tx store.ReadTxn) error {
			var err error
			d, err = agent.Build(tx, zone, linux.VethName)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		c := e.inst["c"]
		p := policy.Compile(d.World, map[string]string{a.eni: linux.VethName(a.eni), c.eni: linux.VethName(c.eni)})
		if err := e.fw.Load(e.ctx, vpc, p); err != nil {
			t.Fatal(err)
		}
		if e.ping("a", e.addr("b")) {
			t.Error("ping a -> b passed to an interface the program does not know")
		}
		if e.ping("b", e.addr("a")) {
			t.Error("ping b -> a passed from an interface the program does not know")
		}
		if !e.pingEventually("a", e.addr("c")) {
			t.Error("ping a -> c failed although both are in the program")
		}
		e.reconcile() // repairs the table
		if !e.pingEventually("a", e.addr("b")) {
			t.Error("ping a -> b failed after reconciliation")
		}
	})
	t.Run("program load fails", func(t *testing.T) {
		t.Parallel()
		var ff *flakyFirewall
		e := newEnv(t, func(fw *agent.NlFirewall) agent.Firewall {
			ff = &flakyFirewall{NlFirewall: fw, fail: true}
			return ff
		})
		vpc, vsw := e.vpc("a", "10.10.1.0/24")
		g := e.group("a", vpc, model.InnerAccept, allowAll())
		a := e.instance("a", vpc, vsw, "10.10.1.10", g)
		e.instance("b", vpc, vsw, "10.10.1.11", g)
		if err := e.a.Reconcile(e.ctx); err == nil {
			t.Fatal("reconcile succeeded with a failing firewall")
		}
		var ir model.Instance
		e.get(model.PrefixInstance+a.id, &ir)
		if ir.Status != model.InstancePending {
			t.Errorf("instance status %q with no security groups loaded, want Pending", ir.Status)
		}
		var er model.ENI
		e.get(model.PrefixENI+a.eni, &er)
		if er.Status != model.ENIAttaching {
			t.Errorf("eni status %q, want Attaching", er.Status)
		}
		if nsExists(a.id) && e.ping("a", e.addr("b")) {
			t.Error("ping a -> b passed with no security-group program loaded")
		}
		if out, err := exec.Command("ip", "-n", vpc, "-o", "link", "show").CombinedOutput(); err == nil &&
			strings.Contains(string(out), linux.VethName(a.eni)) {
			t.Errorf("veth of a exists in %s with no security-group program loaded", vpc)
		}

		ff.mu.Lock()
		ff.fail = false
		ff.mu.Unlock()
		e.reconcile()
		if !e.pingEventually("a", e.addr("b")) {
			t.Error("ping a -> b failed once the program loaded")
		}
		if s := e.status.instance(a.id); s != model.InstanceRunning {
			t.Errorf("instance status %q, want Running", s)
		}

		// A later failure keeps the ENIs behind the program loaded before.
		ff.mu.Lock()
		ff.fail = true
		ff.mu.Unlock()
		e.group("a", vpc, model.InnerDrop)
		if err := e.a.Reconcile(e.ctx); err == nil {
			t.Fatal("reconcile succeeded with a failing firewall")
		}
		if !e.pingEventually("a", e.addr("b")) {
			t.Error("ping a -> b failed: a failed reload tore the ENIs down")
		}
	})
}

// h. Deleting an instance removes its namespace; the agent runs in the
// background and follows the store.
func TestKernelDeleteInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	waitApplied := func(rev int64) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case got := <-e.a.Applied():
				if got >= rev {
					return
				}
			case <-deadline:
				t.Fatalf("revision %d not applied in time", rev)
			}
		}
	}

	vpc, vsw := e.vpc("a", "10.10.1.0/24")
	g := e.group("a", vpc, model.InnerAccept)
	a := e.instance("a", vpc, vsw, "10.10.1.10", g)
	b := e.instance("b", vpc, vsw, "10.10.1.11", g)
	waitApplied(e.st.Revision())
	if !nsExists(a.id) || !nsExists(b.id) || !nsExists(vpc) {
		t.Fatal("namespaces not created")
	}
	if !e.pingEventually("a", e.addr("b")) {
		t.Error("ping a -> b failed")
	}

	e.del(model.PrefixInstance+b.id, model.PrefixENI+b.eni, model.PrefixMember+g+"/"+b.eni)
	waitApplied(e.st.Revision())
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), b.id) {
		t.Errorf("namespace %s still listed after its instance was deleted:\n%s", b.id, out)
	}
	if !nsExists(a.id) || !nsExists(vpc) {
		t.Error("namespaces of the remaining instance or the VPC were removed")
	}
	links, err := exec.Command("ip", "-n", vpc, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link in %s: %v %s", vpc, err, links)
	}
	if strings.Contains(string(links), linux.VethName(b.eni)) {
		t.Errorf("veth of the deleted ENI still in %s", vpc)
	}
	if e.ping("a", e.addr("b")) {
		t.Error("ping to the deleted instance's address answered")
	}

	// The last instance goes: the VPC namespace goes with it.
	e.del(model.PrefixInstance+a.id, model.PrefixENI+a.eni, model.PrefixMember+g+"/"+a.eni)
	waitApplied(e.st.Revision())
	if nsExists(a.id) || nsExists(vpc) {
		t.Error("namespaces left after every instance was deleted")
	}
}
