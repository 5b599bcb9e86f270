package kernel_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/service"
)

// otherHost is a second host on this machine: a process holding a network
// namespace of its own (the host's "root" namespace, joined to this one
// by a veth pair: the underlay) and a mount namespace with its own
// /run/netns and /run/palisade, so that its agent names its namespaces
// (vpc-…, i-…) and takes the kernel lock without seeing this host's.
type otherHost struct {
	pid  int
	addr netip.Addr // its underlay address
}

// netns is the path of a namespace the other host's agent named.
func (h *otherHost) netns(name string) string {
	return fmt.Sprintf("/proc/%d/root/run/netns/%s", h.pid, name)
}

// run runs a command on the other host (its mount and network namespaces).
func (h *otherHost) run(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"-t", strconv.Itoa(h.pid), "-m", "-n", "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// startOtherHost makes the other host and the link between it and this
// one: this host gets the first address of a random 198.19.N.0/30 (api,
// where the server listens), the other host the second; with underlay6
// they also get fd19:0:N::1 and ::2, and the underlay is IPv6. local is
// this host's underlay address, h.addr the other's. Everything goes in
// t.Cleanup: killing the holder ends both namespaces, the other end of
// the veth with them.
func startOtherHost(t *testing.T, tag string, underlay6 bool) (h *otherHost, api, local netip.Addr) {
	t.Helper()
	n := 1 + rand.IntN(250)
	api = netip.MustParseAddr(fmt.Sprintf("198.19.%d.1", n))
	remote4 := netip.MustParseAddr(fmt.Sprintf("198.19.%d.2", n))
	local6 := netip.MustParseAddr(fmt.Sprintf("fd19:0:%x::1", n))
	remote6 := netip.MustParseAddr(fmt.Sprintf("fd19:0:%x::2", n))
	ours, theirs := "pu"+tag+"a", "pu"+tag+"b"
	for _, d := range []string{"/run/netns", "/run/palisade"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	holder := exec.Command("unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c",
		"mount -t tmpfs palisade-otherhost /run/netns && mount -t tmpfs palisade-otherhost /run/palisade && ip link set lo up && exec sleep 3600")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var holderOut bytes.Buffer
	holder.Stdout, holder.Stderr = &holderOut, &holderOut
	if err := holder.Start(); err != nil {
		t.Fatalf("start the other host: %v", err)
	}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
		_ = exec.Command("ip", "link", "del", ours).Run()
	})
	h = &otherHost{pid: holder.Process.Pid, addr: remote4}
	local = api
	if underlay6 {
		h.addr, local = remote6, local6
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", h.pid))
		if err == nil && strings.Count(string(mi), "palisade-otherhost") == 2 {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", h.pid)); strings.TrimSpace(string(b)) == "sleep" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other host did not come up: %v %s", err, holderOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range [][]string{
		{"ip", "link", "add", ours, "type", "veth", "peer", "name", theirs},
		{"ip", "link", "set", theirs, "netns", strconv.Itoa(h.pid)},
		{"ip", "addr", "add", api.String() + "/30", "dev", ours},
		{"ip", "addr", "add", local6.String() + "/64", "dev", ours, "nodad"},
		{"ip", "link", "set", ours, "up"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	for _, c := range [][]string{
		{"ip", "addr", "add", remote4.String() + "/30", "dev", theirs},
		{"ip", "addr", "add", remote6.String() + "/64", "dev", theirs, "nodad"},
		{"ip", "link", "set", theirs, "up"},
	} {
		if out, err := h.run(c...); err != nil {
			t.Fatalf("other host: %v: %v: %s", c, err, out)
		}
	}
	return h, api, local
}

// newGroup creates a security group of vpcID through the SDK, with the
// inner access policy Drop when innerDrop (members reach each other only
// through rules), and authorizes perms in it.
func newGroup(t *testing.T, e *ecs.Client, vpcID string, innerDrop bool, perms ...ecs.AuthorizeSecurityGroupPermissions) string {
	t.Helper()
	cs := ecs.CreateCreateSecurityGroupRequest()
	cs.VpcId = vpcID
	g, err := e.CreateSecurityGroup(cs)
	if err != nil {
		t.Fatal(err)
	}
	if innerDrop {
		pol := ecs.CreateModifySecurityGroupPolicyRequest()
		pol.SecurityGroupId, pol.InnerAccessPolicy = g.SecurityGroupId, "Drop"
		if _, err := e.ModifySecurityGroupPolicy(pol); err != nil {
			t.Fatal(err)
		}
	}
	if len(perms) > 0 {
		authorizeGroup(t, e, g.SecurityGroupId, perms...)
	}
	return g.SecurityGroupId
}

// authorizeGroup authorizes perms in group sg through the SDK.
func authorizeGroup(t *testing.T, e *ecs.Client, sg string, perms ...ecs.AuthorizeSecurityGroupPermissions) {
	t.Helper()
	r := ecs.CreateAuthorizeSecurityGroupRequest()
	r.SecurityGroupId, r.Permissions = sg, &perms
	if _, err := e.AuthorizeSecurityGroup(r); err != nil {
		t.Fatal(err)
	}
}

// buildPalisade builds the palisade command once per test binary.
var buildPalisade = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "palisade-kernel-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "palisade")
	if out, err := exec.Command("go", "build", "-o", path, "../../cmd/palisade").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return path, nil
})

// TestVPCAcrossHosts runs a VPC over two hosts: this one (palisade up's
// agent, zone local-a) and another (palisade agent, zone local-b, in its
// own namespaces: see otherHost), joined by the underlay. Instances of the
// two zones reach each other through the VXLAN between the hosts' VPC
// namespaces, where the security groups allow, each host judging its own
// ENIs: the receiver's ingress groups on the receiver's host, the sender's
// egress groups on the sender's. Large packets cross (the underlay
// fragments the tunnel), and deleting the remote instance takes its
// routes away. The underlay between the hosts is IPv4, then IPv6.
func TestVPCAcrossHosts(t *testing.T) {
	for _, underlay6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "underlay=ipv4", true: "underlay=ipv6"}[underlay6], func(t *testing.T) {
			testVPCAcrossHosts(t, underlay6)
		})
	}
}

func testVPCAcrossHosts(t *testing.T, underlay6 bool) {
	requireKernel(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("the multi-host test needs unshare (util-linux): %v", err)
	}
	bin, err := buildPalisade()
	if err != nil {
		t.Fatal(err)
	}
	tag := randTag(t)
	other, apiAddr, local := startOtherHost(t, tag, underlay6)
	env := apitest.Start(t, apitest.WithAgent(tag), apitest.WithListen(apiAddr.String()+":0"),
		apitest.WithUnderlay(service.UnderlayRequest{Addr: local.String()}))
	key, err := env.Common(t, env.Admin, api.VersionPalisade, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if err != nil {
		t.Fatal(err)
	}

	agentOut := &apitest.SyncBuffer{}
	dataDir := t.TempDir()
	// startAgent runs the other host's agent; the stop it returns ends it
	// as systemd would (SIGTERM, then SIGKILL after 10 s).
	startAgent := func() (stop func()) {
		agent := exec.Command("nsenter", "-t", strconv.Itoa(other.pid), "-m", "-n", "--", bin, "agent",
			"--server", "http://"+env.Endpoint, "--region", apitest.Region, "--zone", "local-b",
			"--underlay-addr", other.addr.String(), "--data-dir", dataDir)
		agent.Env = append(os.Environ(), "ALIBABA_CLOUD_ACCESS_KEY_ID="+key["AccessKeyId"].(string), "ALIBABA_CLOUD_ACCESS_KEY_SECRET="+key["AccessKeySecret"].(string))
		agent.Stdout, agent.Stderr = agentOut, agentOut
		agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		stop = func() {
			once.Do(func() {
				_ = agent.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = agent.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					_ = agent.Process.Kill()
					<-done
				}
			})
		}
		t.Cleanup(stop)
		return stop
	}
	stopAgent := startAgent()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the other host's agent:\n%s", agentOut.String())
		}
	})

	e, v := env.ECS(t, env.Admin), env.VPC(t, env.Admin)
	deadline := time.Now().Add(15 * time.Second)
	for {
		z, err := e.DescribeZones(ecs.CreateDescribeZonesRequest())
		if err != nil {
			t.Fatal(err)
		}
		if len(z.Zones.Zone) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone local-b not registered: %+v\n%s", z.Zones, agentOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock, cv.EnableIpv6 = "10.61.0.0/16", requests.NewBoolean(true)
	vr, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	vsw, vsw6 := map[string]string{}, map[string]netip.Prefix{}
	for i, zone := range []string{"local-a", "local-b"} {
		cw := vpc.CreateCreateVSwitchRequest()
		cw.VpcId, cw.CidrBlock, cw.ZoneId, cw.Ipv6CidrBlock = vr.VpcId, fmt.Sprintf("10.61.%d.0/24", i+1), zone, requests.NewInteger(i)
		wr, err := v.CreateVSwitch(cw)
		if err != nil {
			t.Fatal(err)
		}
		vsw[zone] = wr.VSwitchId
		d := vpc.CreateDescribeVSwitchesRequest()
		d.VSwitchId = wr.VSwitchId
		dr, err := v.DescribeVSwitches(d)
		if err != nil || len(dr.VSwitches.VSwitch) != 1 {
			t.Fatalf("DescribeVSwitches %s: %v", wr.VSwitchId, err)
		}
		if vsw6[zone], err = netip.ParsePrefix(dr.VSwitches.VSwitch[0].Ipv6CidrBlock); err != nil {
			t.Fatalf("vSwitch %s has no IPv6 block: %v", wr.VSwitchId, err)
		}
	}
	sgID := newGroup(t, e, vr.VpcId, true)
	authorize := func(perm ecs.AuthorizeSecurityGroupPermissions) {
		t.Helper()
		authorizeGroup(t, e, sgID, perm)
	}
	// To port 8080 from zone a's vSwitch only (both families); ICMP from
	// the VPC.
	authorize(ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.61.1.0/24"})
	authorize(ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", Ipv6SourceCidrIp: vsw6["local-a"].String()})
	authorize(ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "icmp", PortRange: "-1/-1", SourceCidrIp: "10.61.0.0/16"})

	ids, addrs6 := map[string]string{}, map[string]netip.Addr{}
	addrs := map[string]netip.Addr{"local-a": netip.MustParseAddr("10.61.1.10"), "local-b": netip.MustParseAddr("10.61.2.10")}
	for zone, ip := range addrs {
		r := ecs.CreateRunInstancesRequest()
		r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId, r.PrivateIpAddress = "img", "t", vsw[zone], sgID, ip.String()
		r.Ipv6AddressCount = requests.NewInteger(1)
		rr, err := e.RunInstances(r)
		if err != nil {
			t.Fatal(err)
		}
		ids[zone] = rr.InstanceIdSets.InstanceIdSet[0]
		d := ecs.CreateDescribeNetworkInterfacesRequest()
		d.InstanceId = ids[zone]
		dr, err := e.DescribeNetworkInterfaces(d)
		if err != nil || len(dr.NetworkInterfaceSets.NetworkInterfaceSet) != 1 || len(dr.NetworkInterfaceSets.NetworkInterfaceSet[0].Ipv6Sets.Ipv6Set) != 1 {
			t.Fatalf("DescribeNetworkInterfaces of %s: %v %+v", ids[zone], err, dr)
		}
		addrs6[zone] = netip.MustParseAddr(dr.NetworkInterfaceSets.NetworkInterfaceSet[0].Ipv6Sets.Ipv6Set[0].Ipv6Address)
	}
	waitStatus(t, e, ids["local-a"], "Running")
	waitStatus(t, e, ids["local-b"], "Running")
	nsA, nsB := ids["local-a"], other.netns(ids["local-b"])

	for _, s := range []struct{ ns string }{{nsA}, {nsB}} {
		srv, err := probe.Serve(s.ns, []int{8080}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
	}
	eventually := func(what string, fn func() error) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := fn()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				out, _ := other.run("ip", "netns", "exec", vr.VpcId, "ip", "-d", "link", "show", "povl")
				dbg, _ := other.run("sh", "-c", "ip netns exec "+vr.VpcId+" nft list ruleset; ip netns exec "+vr.VpcId+" ip rule; ip netns exec "+vr.VpcId+" ip route; ip netns exec "+vr.VpcId+" ip neigh")
				dbgA, _ := exec.Command("sh", "-c", "ip netns exec "+vr.VpcId+" nft list table inet palisade_overlay; ip netns exec "+vr.VpcId+" ip rule; ip netns exec "+vr.VpcId+" ip route; ip netns exec "+vr.VpcId+" ip neigh").CombinedOutput()
				t.Logf("the other host's VPC namespace (tables, rules, routes, neighbours):\n%s\nthis host's (overlay table, rules, routes, neighbours):\n%s", dbg, dbgA)
				t.Fatalf("%s: %v\nthe other host's VPC namespace: %s\nits agent:\n%s", what, err, out, agentOut.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	denied := func(what string, err error) {
		t.Helper()
		if !probe.IsTimeout(err) {
			t.Fatalf("%s: %v, want a silent drop", what, err)
		}
	}
	toB, toA := netip.AddrPortFrom(addrs["local-b"], 8080), netip.AddrPortFrom(addrs["local-a"], 8080)

	eventually("zone a to zone b, TCP 8080 across hosts", func() error { return probe.TCP(context.Background(), nsA, toB, 500*time.Millisecond) })
	eventually("zone a pings zone b", func() error { return probe.Ping(nsA, addrs["local-b"], 500*time.Millisecond) })
	eventually("zone b pings zone a", func() error { return probe.Ping(nsB, addrs["local-a"], 500*time.Millisecond) })
	// The receiver's host judges its ingress: a admits 8080 from zone a only.
	denied("zone b to zone a, TCP 8080 (a's ingress)", probe.TCP(context.Background(), nsB, toA, time.Second))
	// IPv6 crosses the same way, with its own rules.
	toB6, toA6 := netip.AddrPortFrom(addrs6["local-b"], 8080), netip.AddrPortFrom(addrs6["local-a"], 8080)
	eventually("zone a to zone b, TCP 8080 over IPv6 across hosts", func() error { return probe.TCP(context.Background(), nsA, toB6, 500*time.Millisecond) })
	denied("zone b to zone a, TCP 8080 over IPv6 (a's ingress)", probe.TCP(context.Background(), nsB, toA6, time.Second))
	// The analyzer agrees: the hosts are joined (a hosts step that
	// allows), and the policy decides as the kernel did.
	for _, c := range []struct {
		from, to  string
		reachable bool
	}{{ids["local-a"], ids["local-b"], true}, {ids["local-b"], ids["local-a"], false}} {
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": c.from, "To": c.to, "Protocol": "tcp", "Port": "8080"})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		if out["Reachable"] != c.reachable || !strings.Contains(string(b), "zone local-a's host and zone local-b's are joined by the underlay") &&
			!strings.Contains(string(b), "zone local-b's host and zone local-a's are joined by the underlay") {
			t.Errorf("AnalyzeReachability %s -> %s: want reachable %v (as the kernel) across joined hosts:\n%s", c.from, c.to, c.reachable, b)
		}
	}

	// The other host's agent restarted under continuous probing: while it
	// is down its kernel keeps enforcing the last state, and the new agent
	// converges without breaking an allowed connection or opening a
	// denied path for a moment.
	held, err := probe.DialTCP(context.Background(), nsA, toB, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	var probeErrs []string
	var probeMu sync.Mutex
	failed := func(format string, args ...any) {
		probeMu.Lock()
		probeErrs = append(probeErrs, fmt.Sprintf(format, args...))
		probeMu.Unlock()
	}
	stopProbing := make(chan struct{})
	var probing sync.WaitGroup
	rounds := 0
	probing.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stopProbing:
				rounds = n
				return
			default:
			}
			if err := probe.Echo(held, fmt.Sprint("line ", n), time.Second); err != nil {
				failed("round %d: the held connection a -> b: %v", n, err)
			}
			if err := probe.TCP(context.Background(), nsA, toB, time.Second); err != nil {
				failed("round %d: a new connection a -> b: %v", n, err)
			}
			if err := probe.TCP(context.Background(), nsB, toA, 150*time.Millisecond); !probe.IsTimeout(err) {
				failed("round %d: b -> a (denied by a's ingress): %v", n, errStr(err))
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	time.Sleep(300 * time.Millisecond)
	stopAgent()
	time.Sleep(time.Second)     // down: the kernel alone
	startAgent()                // stopped by its cleanup
	time.Sleep(3 * time.Second) // the new agent resyncs
	close(stopProbing)
	probing.Wait()
	if len(probeErrs) > 0 {
		t.Fatalf("across the other host's agent restart (%d rounds):\n%s", rounds, strings.Join(probeErrs, "\n"))
	}
	t.Logf("the other host's agent restarted under %d rounds of probing, none failed", rounds)
	// The new agent applies changes (the egress rule below is enforced
	// by the other host's program alone).

	// 64 KiB lines: full-size segments, each a tunnel packet larger than
	// the underlay's MTU, which the host fragments.
	c, err := probe.DialTCP(context.Background(), nsA, toB, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("palisade-overlay ", 4096)
	if err := probe.Echo(c, big, 5*time.Second); err != nil {
		t.Fatalf("a 64 KiB line across hosts: %v", err)
	}
	c.Close()

	authorize(ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.61.2.0/24"})
	eventually("zone b to zone a once a's group admits it", func() error { return probe.TCP(context.Background(), nsB, toA, 500*time.Millisecond) })
	denied("zone b to zone a over IPv6, which the new IPv4 rule does not admit", probe.TCP(context.Background(), nsB, toA6, time.Second))

	// The sender's host judges its egress: a drop rule on egress, which
	// only the other host's program has for b's ENI.
	eg := ecs.CreateAuthorizeSecurityGroupEgressRequest()
	eg.SecurityGroupId = sgID
	eg.Permissions = &[]ecs.AuthorizeSecurityGroupEgressPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", DestCidrIp: "10.61.1.10/32", Policy: "drop", Priority: "1"}}
	if _, err := e.AuthorizeSecurityGroupEgress(eg); err != nil {
		t.Fatal(err)
	}
	eventually("zone b to zone a denied by b's egress", func() error {
		err := probe.TCP(context.Background(), nsB, toA, 500*time.Millisecond)
		if probe.IsTimeout(err) {
			return nil
		}
		return fmt.Errorf("still open: %v", err)
	})
	// And the same rule stops a's packets to b? No: it is an egress rule
	// to a, so a to b still passes.
	if err := probe.TCP(context.Background(), nsA, toB, time.Second); err != nil {
		t.Fatalf("zone a to zone b after b's egress rule to a: %v", err)
	}

	// Both hosts filter what comes out of the tunnel, and this one admits
	// the tunnel's port from the other host only.
	for _, c := range [][]string{{"ip", "netns", "exec", vr.VpcId, "nft", "list", "table", "inet", "palisade_overlay"}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), addrs["local-b"].String()) {
			t.Fatalf("this host's overlay table: %v\n%s", err, out)
		}
		if out, err := other.run(c...); err != nil || !strings.Contains(out, addrs["local-a"].String()) {
			t.Fatalf("the other host's overlay table: %v\n%s", err, out)
		}
	}
	// The connection that must die: open from a to b, then b's ingress
	// rule for it revoked: the hosts cut it, mid-stream.
	live, err := probe.DialTCP(context.Background(), nsA, toB, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := probe.Echo(live, "before", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	rv := ecs.CreateRevokeSecurityGroupRequest()
	rv.SecurityGroupId = sgID
	rv.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.61.1.0/24"}}
	if _, err := e.RevokeSecurityGroup(rv); err != nil {
		t.Fatal(err)
	}
	eventually("the connection from a to b cut once b's rule is revoked", func() error {
		if err := probe.Echo(live, "after", 300*time.Millisecond); err == nil {
			return fmt.Errorf("still open")
		}
		return nil
	})
	denied("a new connection from a to b after the revoke", probe.TCP(context.Background(), nsA, toB, time.Second))

	// Only the other host's ENIs' addresses come out of the tunnel. The
	// other host's router stands for a compromised host: it sends from an
	// address of zone b's vSwitch that no ENI has (the gateway addresses
	// would not do: every host has them, so they are martians here
	// anyway), though a's group admits ICMP from the whole VPC. a listens
	// for ICMP itself: no echo request from that address may arrive.
	var icmpConn net.PacketConn
	if err := probe.InNetns(nsA, func() error {
		var err error
		icmpConn, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	gwB := "10.61.2.99"
	if out, err := other.run("ip", "netns", "exec", vr.VpcId, "ip", "addr", "add", gwB+"/32", "dev", "lo"); err != nil {
		t.Fatalf("other host: %v: %s", err, out)
	}
	if out, err := other.run("ip", "netns", "exec", vr.VpcId, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-I", gwB, addrs["local-a"].String()); err == nil {
		t.Fatalf("the other host's router got an answer from a through the tunnel:\n%s", out)
	}
	if out, err := other.run("ip", "netns", "exec", vr.VpcId, "ip", "addr", "del", gwB+"/32", "dev", "lo"); err != nil {
		t.Fatalf("other host: %v: %s", err, out)
	}
	_ = icmpConn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 1500)
	for {
		n, from, err := icmpConn.ReadFrom(buf)
		if err != nil {
			break
		}
		if from.String() == gwB && n > 0 && buf[0] == 8 {
			t.Fatalf("an echo request from the other host's router (%s, no ENI's address) came out of the tunnel to a", gwB)
		}
	}
	icmpConn.Close()
	// Drift: the tunnel end deleted by hand comes back within the resync.
	if out, err := exec.Command("ip", "-n", vr.VpcId, "link", "del", "povl").CombinedOutput(); err != nil {
		t.Fatalf("delete povl: %v: %s", err, out)
	}
	eventually("zone a pings zone b after the tunnel end was deleted by hand", func() error { return probe.Ping(nsA, addrs["local-b"], 500*time.Millisecond) })
	// The VPC namespace deleted by hand: this host makes it anew (zone a's
	// instance namespace too), with a tunnel end of the same VNI, though
	// the old namespace may live on while a socket holds it.
	if out, err := exec.Command("ip", "netns", "del", vr.VpcId).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", vr.VpcId, err, out)
	}
	eventually("zone a pings zone b after the VPC namespace was deleted by hand", func() error { return probe.Ping(nsA, addrs["local-b"], 500*time.Millisecond) })
	eventually("zone b pings zone a after the VPC namespace was deleted by hand", func() error { return probe.Ping(nsB, addrs["local-a"], 500*time.Millisecond) })

	underlay := "palisade_" + tag + "_underlay"
	if out, err := exec.Command("nft", "list", "table", "inet", underlay).CombinedOutput(); err != nil || !strings.Contains(string(out), other.addr.String()) {
		t.Fatalf("underlay table %s: %v\n%s", underlay, err, out)
	}

	peeringAcrossHosts(t, env, other, eventually)
	privateLinkAcrossHosts(t, env, other, eventually)
	mirrorAcrossHosts(t, env, other, local, eventually)
	loadBalancerAcrossHosts(t, env, other, vr.VpcId, vsw, eventually)
	natAcrossHosts(t, env, other, vr.VpcId, vsw, eventually)

	// Deleting b takes its route from a's VPC namespace, and the tunnel
	// end with it (no other host has ENIs of the VPC left).
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId, del.Force = ids["local-b"], "true"
	if _, err := e.DeleteInstance(del); err != nil {
		t.Fatal(err)
	}
	eventually("the tunnel end goes with the last remote ENI", func() error {
		out, err := exec.Command("ip", "-n", vr.VpcId, "link", "show", "povl").CombinedOutput()
		if err == nil {
			return fmt.Errorf("povl still there: %s", out)
		}
		if out, err := exec.Command("nft", "list", "table", "inet", underlay).CombinedOutput(); err == nil {
			return fmt.Errorf("underlay table still there: %s", out)
		}
		return nil
	})
}

// peeringAcrossHosts peers two pairs of VPCs, each VPC with one instance
// on one of the hosts: in one pair the peering's tunnel VPC
// (model.PeerConnection.TunnelVPC, the lower ID) has its instance on this
// host, in the other on the other host (so this host holds a namespace of
// it without instances, where their packets cross). Connections cross
// both ways where the groups admit them, a port they do not admit is
// dropped silently, a VPC firewall on the peering judges them, the
// analyzer agrees, and the crossing namespace goes with the instances.
func peeringAcrossHosts(t *testing.T, env *apitest.Env, other *otherHost, eventually func(string, func() error)) {
	t.Helper()
	e, v := env.ECS(t, env.Admin), env.VPC(t, env.Admin)
	type end struct {
		vpc, block, inst, ns, sg string
		addr                     netip.Addr
	}
	next := 70
	newEnd := func(zone string) *end {
		block := fmt.Sprintf("10.%d.0.0/16", next)
		n := &end{block: block, addr: netip.MustParseAddr(fmt.Sprintf("10.%d.1.10", next))}
		next++
		cv := vpc.CreateCreateVpcRequest()
		cv.CidrBlock = block
		vr, err := v.CreateVpc(cv)
		if err != nil {
			t.Fatal(err)
		}
		n.vpc = vr.VpcId
		cw := vpc.CreateCreateVSwitchRequest()
		cw.VpcId, cw.CidrBlock, cw.ZoneId = n.vpc, netip.PrefixFrom(n.addr, 24).Masked().String(), zone
		if _, err := v.CreateVSwitch(cw); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// vswitchOf is the ID of the one vSwitch of a VPC of newEnd.
	vswitchOf := func(vpcID string) string {
		t.Helper()
		d := vpc.CreateDescribeVSwitchesRequest()
		d.VpcId = vpcID
		dr, err := v.DescribeVSwitches(d)
		if err != nil || len(dr.VSwitches.VSwitch) != 1 {
			t.Fatalf("DescribeVSwitches of %s: %v", vpcID, err)
		}
		return dr.VSwitches.VSwitch[0].VSwitchId
	}
	w := &world{t: t, vpc: v}
	type pair struct {
		here, there *end // the instance on this host, on the other
		tunnelHere  bool
		pcc         string
	}
	var pairs []*pair
	for _, tunnelHere := range []bool{true, false} {
		x, y := newEnd("local-a"), newEnd("local-b")
		if (x.vpc < y.vpc) != tunnelHere {
			// Swap the zones rather than the IDs: the VPC with the
			// lower ID goes where the case wants it.
			x, y = y, x
			for _, n := range []*end{x, y} {
				dw := vpc.CreateDeleteVSwitchRequest()
				dw.VSwitchId = vswitchOf(n.vpc)
				if _, err := v.DeleteVSwitch(dw); err != nil {
					t.Fatal(err)
				}
			}
			for zone, n := range map[string]*end{"local-a": x, "local-b": y} {
				cw := vpc.CreateCreateVSwitchRequest()
				cw.VpcId, cw.CidrBlock, cw.ZoneId = n.vpc, netip.PrefixFrom(n.addr, 24).Masked().String(), zone
				if _, err := v.CreateVSwitch(cw); err != nil {
					t.Fatal(err)
				}
			}
		}
		pairs = append(pairs, &pair{here: x, there: y, tunnelHere: tunnelHere})
	}
	for _, pr := range pairs {
		for _, n := range []*end{pr.here, pr.there} {
			peer := pr.there
			if n == pr.there {
				peer = pr.here
			}
			cs := ecs.CreateCreateSecurityGroupRequest()
			cs.VpcId = n.vpc
			g, err := e.CreateSecurityGroup(cs)
			if err != nil {
				t.Fatal(err)
			}
			n.sg = g.SecurityGroupId
			r := ecs.CreateAuthorizeSecurityGroupRequest()
			r.SecurityGroupId, r.Permissions = g.SecurityGroupId, &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: peer.block}}
			if _, err := e.AuthorizeSecurityGroup(r); err != nil {
				t.Fatal(err)
			}
			ri := ecs.CreateRunInstancesRequest()
			ri.ImageId, ri.InstanceType, ri.VSwitchId, ri.SecurityGroupId, ri.PrivateIpAddress = "img", "t", vswitchOf(n.vpc), g.SecurityGroupId, n.addr.String()
			rr, err := e.RunInstances(ri)
			if err != nil {
				t.Fatal(err)
			}
			n.inst = rr.InstanceIdSets.InstanceIdSet[0]
			n.ns = n.inst
			if n == pr.there {
				n.ns = other.netns(n.inst)
			}
		}
		_, pr.pcc, _ = peerVPCs(t, env, pr.here.vpc, pr.there.vpc)
		for _, rt := range []struct{ vpc, dst string }{{pr.here.vpc, pr.there.block}, {pr.there.vpc, pr.here.block}} {
			if _, err := w.addRoute(rt.vpc, rt.dst, pr.pcc); err != nil {
				t.Fatalf("route %s over %s in %s: %v", rt.dst, pr.pcc, rt.vpc, err)
			}
		}
	}
	for _, pr := range pairs {
		for _, n := range []*end{pr.here, pr.there} {
			waitStatus(t, e, n.inst, "Running")
			srv, err := probe.Serve(n.ns, []int{8080}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
		}
	}
	for _, pr := range pairs {
		role := map[bool]string{true: "the tunnel VPC's instance on this host", false: "the tunnel VPC's instance on the other host"}[pr.tunnelHere]
		ways := []struct {
			from, to *end
			what     string
		}{{pr.here, pr.there, "this host to the other"}, {pr.there, pr.here, "the other host to this"}}
		for _, d := range ways {
			eventually(fmt.Sprintf("%s over %s (%s)", d.what, pr.pcc, role), func() error {
				return probe.TCP(context.Background(), d.from.ns, netip.AddrPortFrom(d.to.addr, 8080), 500*time.Millisecond)
			})
			c, err := probe.DialTCP(context.Background(), d.from.ns, netip.AddrPortFrom(d.to.addr, 8080), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := probe.Echo(c, strings.Repeat("over the peering ", 4096), 5*time.Second); err != nil {
				t.Errorf("a 64 KiB line %s over %s (%s): %v", d.what, pr.pcc, role, err)
			}
			c.Close()
			// The groups admit 8080 only: 8081 is dropped silently
			// (not refused by the instance).
			if err := probe.TCP(context.Background(), d.from.ns, netip.AddrPortFrom(d.to.addr, 8081), time.Second); !probe.IsTimeout(err) {
				t.Errorf("%s:8081 over %s (%s): %v, want a silent drop by the group", d.what, pr.pcc, role, errStr(err))
			}
			out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": d.from.inst, "To": d.to.inst, "Protocol": "tcp", "Port": "8080"})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(out)
			if out["Reachable"] != true || !strings.Contains(string(b), "it goes over peering connection "+pr.pcc) {
				t.Errorf("AnalyzeReachability %s over %s: want reachable across the hosts, as the kernel:\n%s", d.what, pr.pcc, b)
			}
		}
		// A VPC firewall on the peering that drops everything judges the
		// new connections where they cross, either way; deleted, it
		// judges nothing again.
		fw, fwID := vpcFirewall(t, env, pr.here.vpc, pr.there.vpc, "opened")
		dropAllIPv4(t, fw, fwID)
		for _, d := range ways {
			eventually(fmt.Sprintf("%s over %s (%s) dropped by the VPC firewall", d.what, pr.pcc, role), func() error {
				if err := probe.TCP(context.Background(), d.from.ns, netip.AddrPortFrom(d.to.addr, 8080), 300*time.Millisecond); !probe.IsTimeout(err) {
					return fmt.Errorf("not dropped: %v", errStr(err))
				}
				return nil
			})
		}
		// Both ways were logged, by the agent of the host where each
		// crossed (for one of them the other host's, through the
		// server's agent API).
		for _, d := range ways {
			firewallLogs(t, env, env.Admin, map[string]string{"LogType": "vpc_firewall_log", "SrcIP": d.from.addr.String(), "DstIP": d.to.addr.String()},
				func(m map[string]any) bool {
					return logField(m, "firewall_id") == fwID && logField(m, "dst_port") == "8080" && logField(m, "rule_result") == "drop"
				})
		}
		fdel := cloudfw.CreateDeleteVpcFirewallConfigureRequest()
		fdel.VpcFirewallIdList = &[]string{fwID}
		if _, err := fw.DeleteVpcFirewallConfigure(fdel); err != nil {
			t.Fatalf("DeleteVpcFirewallConfigure: %v", err)
		}
		eventually(fmt.Sprintf("this host to the other over %s (%s) once the VPC firewall is gone", pr.pcc, role), func() error {
			return probe.TCP(context.Background(), pr.here.ns, netip.AddrPortFrom(pr.there.addr, 8080), 500*time.Millisecond)
		})
		// The connections that must die: each held open, then a change
		// that denies it, after which it is cut mid-stream.
		mustDie := func(from, to *end, what string, change func()) {
			t.Helper()
			c, err := probe.DialTCP(context.Background(), from.ns, netip.AddrPortFrom(to.addr, 8080), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := probe.Echo(c, "before", 2*time.Second); err != nil {
				t.Fatal(err)
			}
			change()
			eventually(fmt.Sprintf("%s over %s (%s)", what, pr.pcc, role), func() error {
				if err := probe.Echo(c, "after", 300*time.Millisecond); err == nil {
					return fmt.Errorf("still open")
				}
				return nil
			})
		}
		mustDie(pr.there, pr.here, "the connection from the other host cut where it is sent, by a drop on the sender's egress", func() {
			eg := ecs.CreateAuthorizeSecurityGroupEgressRequest()
			eg.SecurityGroupId = pr.there.sg
			eg.Permissions = &[]ecs.AuthorizeSecurityGroupEgressPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", DestCidrIp: pr.here.block, Policy: "drop", Priority: "1"}}
			if _, err := e.AuthorizeSecurityGroupEgress(eg); err != nil {
				t.Fatal(err)
			}
		})
		mustDie(pr.here, pr.there, "the connection from this host cut where it is received, by the receiver's rule revoked", func() {
			rv := ecs.CreateRevokeSecurityGroupRequest()
			rv.SecurityGroupId = pr.there.sg
			rv.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: pr.here.block}}
			if _, err := e.RevokeSecurityGroup(rv); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s (this host) and %s (the other) connect both ways over %s, %s; its VPC firewall judges them, and an egress drop and a revoked rule cut them", pr.here.vpc, pr.there.vpc, pr.pcc, role)
	}
	// Where the tunnel VPC's instance is on the other host, this host
	// holds a namespace of it without instances for the crossing: it goes
	// with the instances.
	transit := pairs[1].there.vpc
	if _, err := os.Stat("/run/netns/" + transit); err != nil {
		t.Errorf("the tunnel VPC %s has no namespace on this host: %v", transit, err)
	}
	for _, pr := range pairs {
		for _, n := range []*end{pr.here, pr.there} {
			del := ecs.CreateDeleteInstanceRequest()
			del.InstanceId, del.Force = n.inst, "true"
			if _, err := e.DeleteInstance(del); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually("the crossing namespace goes with the instances", func() error {
		if _, err := os.Stat("/run/netns/" + transit); err == nil {
			return fmt.Errorf("namespace %s still here", transit)
		}
		return nil
	})
}

// privateLinkAcrossHosts reaches a PrivateLink endpoint on one host (with
// the service's backend) from a consumer instance on the other, in a
// consumer VPC without instances on the endpoint's host: that host makes
// a namespace of the consumer VPC for the endpoint, the client's host
// routes the endpoint's address there through the VPC's overlay. Both
// ways round: the endpoint on this host (zone local-a) and the client on
// the other (local-b), then the reverse. The client resolves the
// endpoint's domain, the backend answers and sees a transit address, the
// endpoint's group (judged on its host) drops a port it does not admit,
// the analyzer agrees, and deleting the endpoint takes the namespace with
// it.
func privateLinkAcrossHosts(t *testing.T, env *apitest.Env, other *otherHost, eventually func(string, func() error)) {
	t.Helper()
	for i, endpointHere := range []bool{true, false} {
		privateLinkAcrossHostsOnce(t, env, other, eventually, endpointHere, 75+2*i)
	}
}

// privateLinkAcrossHostsOnce is one way round of privateLinkAcrossHosts:
// the provider's VPC is 10.<net>.0.0/16, the consumer's 10.<net+1>.0.0/16.
func privateLinkAcrossHostsOnce(t *testing.T, env *apitest.Env, other *otherHost, eventually func(string, func() error), endpointHere bool, net int) {
	t.Helper()
	// Where each side runs: the endpoint's host, the client's, and how to
	// name a namespace and run a command on each.
	epZone, clientZone := "local-a", "local-b"
	here := func(name string) string { return name }
	epNS, clientNS := here, other.netns
	runAtClient := other.run
	if !endpointHere {
		epZone, clientZone = clientZone, epZone
		epNS, clientNS = other.netns, here
		runAtClient = func(args ...string) (string, error) {
			out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
			return string(out), err
		}
	}
	nsPath := func(ns func(string) string, name string) string {
		if p := ns(name); strings.HasPrefix(p, "/") {
			return p
		}
		return "/run/netns/" + name
	}
	way := map[bool]string{true: "the endpoint on this host", false: "the endpoint on the other host"}[endpointHere]
	e, v, pl := env.ECS(t, env.Admin), env.VPC(t, env.Admin), env.PrivateLink(t, env.Admin)
	newVPC := func(block string) string {
		cv := vpc.CreateCreateVpcRequest()
		cv.CidrBlock = block
		vr, err := v.CreateVpc(cv)
		if err != nil {
			t.Fatal(err)
		}
		return vr.VpcId
	}
	newVSwitch := func(vpcID, block, zone string) string {
		cw := vpc.CreateCreateVSwitchRequest()
		cw.VpcId, cw.CidrBlock, cw.ZoneId = vpcID, block, zone
		wr, err := v.CreateVSwitch(cw)
		if err != nil {
			t.Fatal(err)
		}
		return wr.VSwitchId
	}
	runIn := func(vswID, sg, addr string) string {
		ri := ecs.CreateRunInstancesRequest()
		ri.ImageId, ri.InstanceType, ri.VSwitchId, ri.SecurityGroupId, ri.PrivateIpAddress = "img", "t", vswID, sg, addr
		rr, err := e.RunInstances(ri)
		if err != nil {
			t.Fatal(err)
		}
		return rr.InstanceIdSets.InstanceIdSet[0]
	}

	// The provider: its backend here, admitting 8080 from transit addresses.
	pvpc := newVPC(fmt.Sprintf("10.%d.0.0/16", net))
	backend := runIn(newVSwitch(pvpc, fmt.Sprintf("10.%d.1.0/24", net), epZone),
		newGroup(t, e, pvpc, false, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "100.64.0.0/10"}), fmt.Sprintf("10.%d.1.10", net))
	// The consumer: a vSwitch here for the endpoint, its instance on the
	// other host; the endpoint's group admits 8080 from that vSwitch only.
	cnet := net + 1
	cvpc := newVPC(fmt.Sprintf("10.%d.0.0/16", cnet))
	epVSwitch := newVSwitch(cvpc, fmt.Sprintf("10.%d.1.0/24", cnet), epZone)
	client := runIn(newVSwitch(cvpc, fmt.Sprintf("10.%d.2.0/24", cnet), clientZone), newGroup(t, e, cvpc, false), fmt.Sprintf("10.%d.2.10", cnet))
	epGroup := newGroup(t, e, cvpc, false, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: fmt.Sprintf("10.%d.2.0/24", cnet)},
		ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8081/8081", SourceCidrIp: fmt.Sprintf("10.%d.9.0/24", cnet)})
	waitStatus(t, e, backend, "Running")
	waitStatus(t, e, client, "Running")
	serveWho(t, epNS(backend), "backend", 8080)
	cns := clientNS(client)

	sreq := privatelink.CreateCreateVpcEndpointServiceRequest()
	sreq.ServiceResourceType, sreq.AutoAcceptEnabled = "ecs", requests.NewBoolean(true)
	sreq.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "ecs", ResourceId: backend, ZoneId: epZone}}
	sresp, err := pl.CreateVpcEndpointService(sreq)
	if err != nil {
		t.Fatalf("CreateVpcEndpointService: %v", err)
	}
	ereq := privatelink.CreateCreateVpcEndpointRequest()
	ereq.VpcId, ereq.ServiceId, ereq.SecurityGroupId = cvpc, sresp.ServiceId, &[]string{epGroup}
	ereq.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: epZone, VSwitchId: epVSwitch, Ip: fmt.Sprintf("10.%d.1.50", cnet)}}
	eresp, err := pl.CreateVpcEndpoint(ereq)
	if err != nil {
		t.Fatalf("CreateVpcEndpoint: %v", err)
	}
	ep := netip.MustParseAddrPort(fmt.Sprintf("10.%d.1.50:8080", cnet))

	eventually("the client reaches "+way, func() error {
		name, peer, err := dialWho(cns, ep, 500*time.Millisecond)
		if err != nil {
			return err
		}
		if name != "backend" || !strings.HasPrefix(peer, "100.64.") {
			return fmt.Errorf("answered by %q seeing %q, want the backend seeing a 100.64.0.0/10 address", name, peer)
		}
		return nil
	})
	// The consumer VPC's resolver on the client's host answers the
	// endpoint's domain with its address on the other.
	if out, err := runAtClient("ip", "netns", "exec", client, "getent", "ahostsv4", eresp.EndpointDomain); err != nil || !strings.Contains(out, ep.Addr().String()) {
		t.Errorf("getent %s on the client (%s): %v %q, want %s", eresp.EndpointDomain, way, err, out, ep.Addr())
	}
	c, err := probe.DialTCP(context.Background(), cns, ep, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A 64 KiB line (full-size segments through the overlay and the
	// endpoint's link), which the backend answers with its name.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(strings.Repeat("through the endpoint ", 3200) + "\n")); err != nil {
		t.Errorf("a 64 KiB line to %s: %v", way, err)
	} else if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "backend ") {
		t.Errorf("the answer to a 64 KiB line to %s: %q %v", way, line, err)
	}
	c.Close()
	if err := probe.TCP(context.Background(), cns, netip.AddrPortFrom(ep.Addr(), 8081), time.Second); !probe.IsTimeout(err) {
		t.Errorf("port 8081 of %s: %v, want a silent drop by the endpoint's group", way, errStr(err))
	}
	if _, err := os.Stat(nsPath(epNS, cvpc)); err != nil {
		t.Errorf("the consumer VPC %s has no namespace on the endpoint's host (%s): %v", cvpc, way, err)
	}
	for _, port := range []struct {
		port      string
		reachable bool
	}{{"8080", true}, {"8081", false}} {
		out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": client, "To": ep.Addr().String(), "Protocol": "tcp", "Port": port.port})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		if out["Reachable"] != port.reachable || !strings.Contains(string(b), "zone "+clientZone+"'s host and zone "+epZone+"'s are joined by the underlay") {
			t.Errorf("AnalyzeReachability %s -> endpoint %s port %s (%s): want reachable %v (as the kernel) across joined hosts:\n%s", client, ep.Addr(), port.port, way, port.reachable, b)
		}
	}

	dreq := privatelink.CreateDeleteVpcEndpointRequest()
	dreq.EndpointId = eresp.EndpointId
	if _, err := pl.DeleteVpcEndpoint(dreq); err != nil {
		t.Fatalf("DeleteVpcEndpoint: %v", err)
	}
	eventually("the consumer VPC's namespace on the endpoint's host goes with its endpoint ("+way+")", func() error {
		if _, err := os.Stat(nsPath(epNS, cvpc)); err == nil {
			return fmt.Errorf("namespace %s still here", cvpc)
		}
		return nil
	})
	if err := probe.TCP(context.Background(), cns, ep, 500*time.Millisecond); err == nil {
		t.Errorf("the client reaches a deleted endpoint (%s)", way)
	}
	t.Logf("PrivateLink across hosts, %s: the client resolves and reaches it, its group drops 8081, the analyzer agrees, its namespace goes with it", way)
	sdel := privatelink.CreateDeleteVpcEndpointServiceRequest()
	sdel.ServiceId = sresp.ServiceId
	if _, err := pl.DeleteVpcEndpointService(sdel); err != nil {
		t.Fatalf("DeleteVpcEndpointService: %v", err)
	}
	for _, id := range []string{client, backend} {
		del := ecs.CreateDeleteInstanceRequest()
		del.InstanceId, del.Force = id, "true"
		if _, err := e.DeleteInstance(del); err != nil {
			t.Fatal(err)
		}
	}
}
