// Package kernel_test drives Palisade end to end: the official SDK talks to
// a control plane with its local agent, and real packets between real
// namespaces answer whether the security groups hold. Needs root.
package kernel_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// requireKernel fails (not skips) when the test cannot touch the kernel:
// scripts/test.sh runs as root and installs the tools.
func requireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("kernel tests need root (network namespaces, nftables); run scripts/test.sh as root")
	}
	for _, tool := range []string{"ip", "nft", "nsenter", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("kernel tests need %s (scripts/test.sh installs it): %v", tool, err)
		}
	}
}

func randTag(t testing.TB) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// A probe kind: ICMP echo, or TCP/UDP to a port.
type kind struct {
	proto string
	port  int
}

func (k kind) String() string {
	if k.proto == "icmp" {
		return "icmp"
	}
	return fmt.Sprintf("%s/%d", k.proto, k.port)
}

var (
	icmp     = kind{"icmp", 0}
	ssh      = kind{"tcp", 22}
	http     = kind{"tcp", 80}
	appPort  = kind{"tcp", 8080}
	postgres = kind{"tcp", 5432}
	dns      = kind{"udp", 53}
)

func allKinds() []kind { return []kind{icmp, ssh, http, appPort, postgres, dns} }

// cell is one probe: from an instance to an address.
type cell struct {
	from, to string // instance names; to may name an address only (cross-VPC)
	k        kind
}

// world is the SDK-built test network.
type world struct {
	t    testing.TB
	env  *apitest.Env
	ecs  *ecs.Client
	vpc  *vpc.Client
	ids  map[string]string     // instance name -> ID
	addr map[string]netip.Addr // instance name -> primary IP
	sgs  map[string]string     // group name -> ID
	rule map[string]string     // rule name -> SecurityGroupRuleId
}

// newWorld is an empty world driven through env's admin account.
func newWorld(t testing.TB, env *apitest.Env) *world {
	return newWorldAs(t, env, env.Admin)
}

// newWorldAs is an empty world driven through the account of c.
func newWorldAs(t testing.TB, env *apitest.Env, c apitest.Creds) *world {
	return &world{t: t, env: env, ecs: env.ECS(t, c), vpc: env.VPC(t, c),
		ids: map[string]string{}, addr: map[string]netip.Addr{}, sgs: map[string]string{}, rule: map[string]string{}}
}

func (w *world) mustVPC(cidr string) string {
	req := vpc.CreateCreateVpcRequest()
	req.CidrBlock = cidr
	resp, err := w.vpc.CreateVpc(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.VpcId
}

func (w *world) mustVSwitch(vpcID, cidr string) string {
	req := vpc.CreateCreateVSwitchRequest()
	req.VpcId, req.CidrBlock, req.ZoneId = vpcID, cidr, "local-a"
	resp, err := w.vpc.CreateVSwitch(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.VSwitchId
}

func (w *world) mustGroup(name, vpcID, typ, inner string) {
	req := ecs.CreateCreateSecurityGroupRequest()
	req.VpcId, req.SecurityGroupName, req.SecurityGroupType = vpcID, name, typ
	resp, err := w.ecs.CreateSecurityGroup(req)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sgs[name] = resp.SecurityGroupId
	if inner != "" {
		w.setInner(name, inner)
	}
}

func (w *world) setInner(group, policy string) {
	req := ecs.CreateModifySecurityGroupPolicyRequest()
	req.SecurityGroupId, req.InnerAccessPolicy = w.sgs[group], policy
	if _, err := w.ecs.ModifySecurityGroupPolicy(req); err != nil {
		w.t.Fatal(err)
	}
}

// ruleSpec is one rule to authorize; name lets a later step find its ID.
type ruleSpec struct {
	name, dir, proto, ports, peer, peerGroup, policy string
	sports                                           string // SourcePortRange (ingress)
	priority                                         int
}

func (w *world) authorize(group string, r ruleSpec) {
	w.t.Helper()
	prio := requests.NewInteger(r.priority)
	if r.dir == "egress" {
		req := ecs.CreateAuthorizeSecurityGroupEgressRequest()
		req.SecurityGroupId = w.sgs[group]
		p := ecs.AuthorizeSecurityGroupEgressPermissions{IpProtocol: r.proto, PortRange: r.ports, DestCidrIp: r.peer,
			Policy: r.policy, Priority: string(prio), Description: r.name}
		if r.peerGroup != "" {
			p.DestGroupId = w.sgs[r.peerGroup]
		}
		req.Permissions = &[]ecs.AuthorizeSecurityGroupEgressPermissions{p}
		if _, err := w.ecs.AuthorizeSecurityGroupEgress(req); err != nil {
			w.t.Fatal(err)
		}
	} else {
		req := ecs.CreateAuthorizeSecurityGroupRequest()
		req.SecurityGroupId = w.sgs[group]
		p := ecs.AuthorizeSecurityGroupPermissions{IpProtocol: r.proto, PortRange: r.ports, SourceCidrIp: r.peer,
			SourcePortRange: r.sports, Policy: r.policy, Priority: string(prio), Description: r.name}
		if r.peerGroup != "" {
			p.SourceGroupId = w.sgs[r.peerGroup]
		}
		req.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{p}
		if _, err := w.ecs.AuthorizeSecurityGroup(req); err != nil {
			w.t.Fatal(err)
		}
	}
	if r.name == "" {
		return
	}
	attr := ecs.CreateDescribeSecurityGroupAttributeRequest()
	attr.SecurityGroupId = w.sgs[group]
	resp, err := w.ecs.DescribeSecurityGroupAttribute(attr)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range resp.Permissions.Permission {
		if p.Description == r.name {
			w.rule[r.name] = p.SecurityGroupRuleId
		}
	}
}

func (w *world) run(name, vswID, ip string, groups ...string) {
	req := ecs.CreateRunInstancesRequest()
	req.ImageId, req.InstanceType, req.VSwitchId, req.PrivateIpAddress, req.InstanceName = "palisade", "ecs.t6", vswID, ip, name
	var ids []string
	for _, g := range groups {
		ids = append(ids, w.sgs[g])
	}
	req.SecurityGroupIds = &ids
	resp, err := w.ecs.RunInstances(req)
	if err != nil {
		w.t.Fatalf("RunInstances %s: %v", name, err)
	}
	w.ids[name] = resp.InstanceIdSets.InstanceIdSet[0]
	w.addr[name] = netip.MustParseAddr(ip)
}

// waitRunning waits until every instance is Running: the agent put it in
// the kernel with its security groups.
func (w *world) waitRunning() {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req := ecs.CreateDescribeInstancesRequest()
		req.PageSize = requests.NewInteger(100)
		resp, err := w.ecs.DescribeInstances(req)
		if err != nil {
			w.t.Fatal(err)
		}
		pending := 0
		for _, i := range resp.Instances.Instance {
			if i.Status != "Running" {
				pending++
			}
		}
		if pending == 0 && resp.TotalCount == len(w.ids) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%d instances not Running after 20 s", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settle waits until the agent has applied the store as it is now.
func (w *world) settle() {
	w.t.Helper()
	w.env.Settle(w.t)
}

// probe runs one probe and reports whether it passed. A failure must be a
// silent drop (timeout), never a refusal.
func (w *world) probe(c cell, dst netip.Addr) (bool, error) {
	ctx := context.Background()
	ns := w.ids[c.from]
	const timeout = 1500 * time.Millisecond
	var err error
	switch c.k.proto {
	case "icmp":
		err = probe.ICMP(ctx, ns, dst, time.Second)
		return err == nil, nil
	case "tcp":
		err = probe.TCP(ctx, ns, netip.AddrPortFrom(dst, uint16(c.k.port)), timeout)
	case "udp":
		err = probe.UDP(ctx, ns, netip.AddrPortFrom(dst, uint16(c.k.port)), timeout)
	}
	if err == nil {
		return true, nil
	}
	// An address that does not exist in the sender's VPC may also answer
	// "no route to host" from the VPC's gateway; only a filtered packet
	// must vanish silently.
	if strings.HasPrefix(c.to, "vpc1:") {
		return false, nil
	}
	if !probe.IsTimeout(err) {
		return false, fmt.Errorf("%v: not a silent drop: %w", c, err)
	}
	return false, nil
}

// check probes every cell and compares with the allowed set.
func (w *world) check(step string, cells []cell, dsts map[string]netip.Addr, allowed map[cell]bool) {
	w.t.Helper()
	type result struct {
		c   cell
		ok  bool
		err error
	}
	results := make([]result, len(cells))
	sem := make(chan struct{}, 24)
	var wg sync.WaitGroup
	for i, c := range cells {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := w.probe(c, dsts[c.to])
			results[i] = result{c, ok, err}
		})
	}
	wg.Wait()
	var diffs []string
	for _, r := range results {
		if r.err != nil {
			diffs = append(diffs, r.err.Error())
		} else if r.ok != allowed[r.c] {
			diffs = append(diffs, fmt.Sprintf("%s -> %s %v: got %v, want %v", r.c.from, r.c.to, r.c.k, r.ok, allowed[r.c]))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		w.t.Errorf("%s: %d of %d probes differ from the expected matrix:\n  %s", step, len(diffs), len(cells), strings.Join(diffs, "\n  "))
	} else {
		w.t.Logf("%s: %d probes as expected (%d allowed)", step, len(cells), countTrue(allowed))
	}
}

func countTrue(m map[cell]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// TestWorldMatrix builds two VPCs with the same CIDR, two vSwitches each,
// seven instances and four groups (basic and advanced, a group reference,
// drop rules) through the SDK, probes every pair on ICMP, TCP and UDP, and
// compares with a hand-written matrix; then it changes one thing at a time
// (a rule, a priority, a membership, InnerAccessPolicy, a group removed from
// an ENI) and probes the whole matrix again after each.
func TestWorldMatrix(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := newWorld(t, env)

	v1, v2 := w.mustVPC("10.0.0.0/16"), w.mustVPC("10.0.0.0/16") // overlapping on purpose
	v1a, v1b := w.mustVSwitch(v1, "10.0.1.0/24"), w.mustVSwitch(v1, "10.0.2.0/24")
	v2a, v2b := w.mustVSwitch(v2, "10.0.1.0/24"), w.mustVSwitch(v2, "10.0.2.0/24")

	w.mustGroup("web", v1, "normal", "Accept")
	w.mustGroup("app", v1, "normal", "Drop")
	w.mustGroup("db", v1, "enterprise", "")
	w.mustGroup("open", v2, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("web", ruleSpec{proto: "icmp", ports: "-1/-1", peer: "10.0.0.0/16", policy: "accept", priority: 1})
	w.authorize("web", ruleSpec{proto: "tcp", ports: "22/22", peer: "10.0.0.0/16", policy: "accept", priority: 2})
	w.authorize("web", ruleSpec{proto: "tcp", ports: "22/22", peer: "10.0.2.12/32", policy: "drop", priority: 2})
	w.authorize("app", ruleSpec{proto: "tcp", ports: "8080/8080", peerGroup: "web", policy: "accept", priority: 1})
	w.authorize("app", ruleSpec{proto: "udp", ports: "53/53", peer: "10.0.0.0/16", policy: "accept", priority: 10})
	w.authorize("app", ruleSpec{name: "dns-drop", proto: "udp", ports: "53/53", peer: "10.0.2.11/32", policy: "drop", priority: 5})
	w.authorize("db", ruleSpec{proto: "tcp", ports: "5432/5432", peer: "10.0.2.0/24", policy: "accept", priority: 1})
	w.authorize("db", ruleSpec{dir: "egress", proto: "tcp", ports: "1/65535", peer: "10.0.0.0/16", policy: "accept", priority: 1})
	w.authorize("open", ruleSpec{proto: "all", ports: "-1/-1", peer: "0.0.0.0/0", policy: "accept", priority: 1})

	w.run("w1", v1a, "10.0.1.11", "web")
	w.run("w2", v1b, "10.0.2.11", "web")
	w.run("a1", v1a, "10.0.1.12", "app")
	w.run("a2", v1b, "10.0.2.12", "app")
	w.run("d1", v1b, "10.0.2.13", "db")
	w.run("o1", v2a, "10.0.1.11", "open") // same address as w1, other VPC
	w.run("o2", v2b, "10.0.2.11", "open") // same address as w2, other VPC
	w.waitRunning()
	w.settle()

	for name, id := range w.ids {
		srv, err := probe.Serve(id, []int{22, 80, 8080, 5432}, []int{53})
		if err != nil {
			t.Fatalf("serve in %s: %v", name, err)
		}
		t.Cleanup(srv.Close)
	}

	// Cells: every ordered pair inside each VPC, and from VPC 2 to the
	// addresses that exist only in VPC 1 (they must not be reachable).
	dsts := map[string]netip.Addr{}
	for n, a := range w.addr {
		dsts[n] = a
	}
	vpc1 := []string{"w1", "w2", "a1", "a2", "d1"}
	vpc2 := []string{"o1", "o2"}
	var cells []cell
	pairs := func(group []string) {
		for _, from := range group {
			for _, to := range group {
				if from != to {
					for _, k := range allKinds() {
						cells = append(cells, cell{from, to, k})
					}
				}
			}
		}
	}
	pairs(vpc1)
	pairs(vpc2)
	for _, from := range vpc2 {
		for _, to := range []string{"a1", "a2", "d1"} {
			for _, k := range allKinds() {
				cells = append(cells, cell{from, "vpc1:" + to, k})
			}
			dsts["vpc1:"+to] = w.addr[to]
		}
	}

	allowed := map[cell]bool{}
	allow := func(from, to string, ks ...kind) {
		for _, k := range ks {
			allowed[cell{from, to, k}] = true
		}
	}
	deny := func(from, to string, ks ...kind) {
		for _, k := range ks {
			delete(allowed, cell{from, to, k})
		}
	}
	// Web members reach each other on everything (InnerAccessPolicy Accept).
	allow("w1", "w2", allKinds()...)
	allow("w2", "w1", allKinds()...)
	for _, web := range []string{"w1", "w2"} {
		allow("a1", web, icmp, ssh, http) // 22 from 10.0.0.0/16
		allow("a2", web, icmp, http)      // 22 dropped for 10.0.2.12 at equal priority
		allow("d1", web, ssh, http)       // advanced egress allows TCP only
	}
	// App (InnerAccessPolicy Drop): 8080 from the web group; UDP 53 from the
	// VPC except w2 (drop at priority 5 before accept at 10).
	allow("a1", "a2", dns)
	allow("a2", "a1", dns)
	allow("w1", "a1", appPort, dns)
	allow("w1", "a2", appPort, dns)
	allow("w2", "a1", appPort)
	allow("w2", "a2", appPort)
	// DB (advanced): 5432 from 10.0.2.0/24 only.
	allow("w2", "d1", postgres)
	allow("a2", "d1", postgres)
	// VPC 2: open to all.
	allow("o1", "o2", allKinds()...)
	allow("o2", "o1", allKinds()...)
	w.check("initial", cells, dsts, allowed)

	// 1. A new rule: app accepts 5432 from 10.0.1.0/24.
	w.authorize("app", ruleSpec{proto: "tcp", ports: "5432/5432", peer: "10.0.1.0/24", policy: "accept", priority: 1})
	w.settle()
	allow("w1", "a1", postgres)
	allow("w1", "a2", postgres)
	allow("a1", "a2", postgres)
	w.check("after a new rule", cells, dsts, allowed)

	// 2. A priority: the UDP 53 drop moves behind the accept (5 -> 20).
	mod := ecs.CreateModifySecurityGroupRuleRequest()
	mod.SecurityGroupId, mod.SecurityGroupRuleId, mod.Priority = w.sgs["app"], w.rule["dns-drop"], "20"
	if _, err := w.ecs.ModifySecurityGroupRule(mod); err != nil {
		t.Fatal(err)
	}
	w.settle()
	allow("w2", "a1", dns)
	allow("w2", "a2", dns)
	w.check("after a priority change", cells, dsts, allowed)

	// 3. A membership: a2 joins web.
	join := ecs.CreateJoinSecurityGroupRequest()
	join.SecurityGroupId, join.InstanceId = w.sgs["web"], w.ids["a2"]
	if _, err := w.ecs.JoinSecurityGroup(join); err != nil {
		t.Fatal(err)
	}
	w.settle()
	allow("a2", "w1", allKinds()...) // intra-group Accept precedes the drop rule
	allow("a2", "w2", allKinds()...)
	allow("w1", "a2", allKinds()...)
	allow("w2", "a2", allKinds()...)
	allow("a2", "a1", appPort)         // a2 is in web now
	allow("d1", "a2", ssh, http)       // web's rules are pooled on a2
	allow("a1", "a2", icmp, ssh, http) // ditto
	w.check("after a2 joins web", cells, dsts, allowed)

	// The connection that must die and the one that must survive: w1 -> a2
	// on 80 (allowed by web's rule only) and on 8080 (app's rule), opened
	// now, across steps 4 and 5.
	ctx := context.Background()
	dying, err := probe.DialTCP(ctx, w.ids["w1"], netip.AddrPortFrom(w.addr["a2"], 80), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dying.Close()
	surviving, err := probe.DialTCP(ctx, w.ids["w1"], netip.AddrPortFrom(w.addr["a2"], 8080), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer surviving.Close()

	// 4. InnerAccessPolicy: web becomes Drop; members keep what rules allow.
	w.setInner("web", "Drop")
	w.settle()
	deny("w1", "w2", appPort, postgres, dns)
	deny("w2", "w1", appPort, postgres, dns)
	deny("a2", "w1", ssh, appPort, postgres, dns)
	deny("a2", "w2", ssh, appPort, postgres, dns)
	deny("w2", "a2", postgres) // 5432 is for 10.0.1.0/24
	w.check("after web InnerAccessPolicy Drop", cells, dsts, allowed)
	// Both are still allowed: web's TCP 80 rule and app's 8080 rule apply.
	if err := probe.Echo(dying, "step4", time.Second); err != nil {
		t.Errorf("w1 -> a2:80 died after InnerAccessPolicy Drop, though web's rule still allows it: %v", err)
	}
	if err := probe.Echo(surviving, "step4", time.Second); err != nil {
		t.Errorf("w1 -> a2:8080 died after InnerAccessPolicy Drop: %v", err)
	}

	// 5. A group removed from an ENI: a2 leaves web.
	leave := ecs.CreateLeaveSecurityGroupRequest()
	leave.SecurityGroupId, leave.InstanceId = w.sgs["web"], w.ids["a2"]
	if _, err := w.ecs.LeaveSecurityGroup(leave); err != nil {
		t.Fatal(err)
	}
	w.settle()
	deny("w1", "a2", icmp, ssh, http)
	deny("w2", "a2", icmp, ssh, http)
	deny("a1", "a2", icmp, ssh, http)
	deny("d1", "a2", ssh, http)
	deny("a2", "a1", appPort)
	w.check("after a2 leaves web", cells, dsts, allowed)
	if err := probe.Echo(dying, "step5", time.Second); err == nil {
		t.Error("w1 -> a2:80 still passes after a2 left web: the established flow was not cut")
	} else if !probe.IsTimeout(err) {
		t.Errorf("w1 -> a2:80 was cut with a reset, not silently: %v", err)
	}
	if err := probe.Echo(surviving, "step5", time.Second); err != nil {
		t.Errorf("w1 -> a2:8080, still allowed by app's rule, was cut: %v", err)
	}
}
