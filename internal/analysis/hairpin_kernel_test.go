package analysis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// hairpinTimeout bounds each probe: a packet that is dropped never
// answers.
const hairpinTimeout = 1500 * time.Millisecond

// TestEIPHairpinMatchesKernel compares the analyzer (AnalyzeReachability,
// as the account asking) with real packets for the EIP hairpin: from an
// instance to an EIP of its own VPC (its own EIP included), of another
// VPC and of another account, from an instance without EIP, and from a
// VPC without any EIP (no uplink at all); a private path and the
// internet (the host) to an EIP are the controls that must pass. Every
// path that needs the hairpin must be dropped by the kernel and answered
// unreachable, with the hairpin as reason, naming nothing of another
// account.
//
// The kernel verdict relies on the host not forwarding between the VPC
// uplinks (its end of an uplink is the internet): the test logs
// net.ipv4.ip_forward of the host, and a difference on a host that
// forwards says so.
func TestEIPHairpinMatchesKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	if testing.Short() {
		t.Skip("kernel test")
	}
	for _, tool := range []string{"ip", "nft", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	tag := "h" + hex.EncodeToString(b)
	var made []string // namespaces (instance IDs) and uplinks that must be gone
	// Registered before the environment, so it runs after the agent has
	// stopped and cleaned up.
	t.Cleanup(func() {
		ns, _ := exec.Command("ip", "netns", "list").CombinedOutput()
		links, _ := exec.Command("ip", "-o", "link").CombinedOutput()
		for _, n := range made {
			if strings.Contains(string(ns), n) || strings.Contains(string(links), n) {
				t.Errorf("cleanup left %s behind", n)
			}
		}
	})
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	other := env.NewAccount(t, "hairpin-other")

	insts := map[string]*hpInst{}
	vpcs := map[string]string{}
	build := func(who apitest.Creds, name, cidr string, members map[string]bool) {
		vc, ec := env.VPC(t, who), env.ECS(t, who)
		vreq := vpc.CreateCreateVpcRequest()
		vreq.CidrBlock = cidr + ".0.0/16"
		vresp, err := vc.CreateVpc(vreq)
		if err != nil {
			t.Fatal(err)
		}
		vpcs[name] = vresp.VpcId
		made = append(made, linux.UplinkName(vresp.VpcId))
		sreq := vpc.CreateCreateVSwitchRequest()
		sreq.VpcId, sreq.CidrBlock, sreq.ZoneId = vresp.VpcId, cidr+".1.0/24", "local-a"
		sresp, err := vc.CreateVSwitch(sreq)
		if err != nil {
			t.Fatal(err)
		}
		greq := ecs.CreateCreateSecurityGroupRequest()
		greq.VpcId, greq.SecurityGroupName = vresp.VpcId, "open"
		gresp, err := ec.CreateSecurityGroup(greq)
		if err != nil {
			t.Fatal(err)
		}
		areq := ecs.CreateAuthorizeSecurityGroupRequest()
		areq.SecurityGroupId = gresp.SecurityGroupId
		areq.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "0.0.0.0/0", Policy: "accept", Priority: "1"}}
		if _, err := ec.AuthorizeSecurityGroup(areq); err != nil {
			t.Fatal(err)
		}
		n := 11
		for _, m := range slices.Sorted(maps.Keys(members)) {
			ireq := ecs.CreateRunInstancesRequest()
			addr := fmt.Sprintf("%s.1.%d", cidr, n)
			n++
			ireq.ImageId, ireq.InstanceType, ireq.VSwitchId, ireq.PrivateIpAddress, ireq.InstanceName = "palisade", "ecs.t6", sresp.VSwitchId, addr, "hp-"+m
			ireq.SecurityGroupIds = &[]string{gresp.SecurityGroupId}
			iresp, err := ec.RunInstances(ireq)
			if err != nil {
				t.Fatalf("RunInstances %s: %v", m, err)
			}
			id := iresp.InstanceIdSets.InstanceIdSet[0]
			made = append(made, id)
			insts[m] = &hpInst{id: id, addr: netip.MustParseAddr(addr), who: who}
			if members[m] {
				insts[m].eip = allocateAssociate(t, vc, id)
			}
		}
	}
	// vpc a: a1, a2 with EIPs, a3 without; vpc b: b1 with one; vpc d: d1
	// without (the VPC has no uplink); another account's vpc c: c1 with
	// one.
	build(env.Admin, "a", "10.61", map[string]bool{"a1": true, "a2": true, "a3": false})
	build(env.Admin, "b", "10.62", map[string]bool{"b1": true})
	build(env.Admin, "d", "10.64", map[string]bool{"d1": false})
	build(other, "c", "10.63", map[string]bool{"c1": true})
	waitReady(t, env, insts)
	for _, in := range insts {
		s, err := probe.Serve(in.id, []int{8080}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
	}
	// The host's address towards the EIPs: the internet's.
	uc, err := net.Dial("udp4", netip.AddrPortFrom(insts["a2"].eip, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	host := netip.MustParseAddrPort(uc.LocalAddr().String()).Addr()
	uc.Close()
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	t.Logf("host %s, net.ipv4.ip_forward=%s; EIPs a1 %s, a2 %s, b1 %s, c1 %s", host, strings.TrimSpace(string(fwd)),
		insts["a1"].eip, insts["a2"].eip, insts["b1"].eip, insts["c1"].eip)

	for _, c := range []struct {
		name    string
		from    string // instance name, or "host"
		to      netip.Addr
		hairpin bool // the analyzer must give the hairpin as reason
		want    bool // delivered
	}{
		{"private path (control)", "a1", insts["a2"].addr, false, true},
		{"internet to an EIP (control)", "host", insts["a2"].eip, false, true},
		{"EIP of the same VPC", "a1", insts["a2"].eip, true, false},
		{"own EIP", "a1", insts["a1"].eip, true, false},
		{"EIP of the same VPC, sender without EIP", "a3", insts["a2"].eip, true, false},
		{"EIP of another VPC", "a1", insts["b1"].eip, true, false},
		{"EIP of another account", "a1", insts["c1"].eip, true, false},
		{"EIP of another account, from a VPC without uplink", "d1", insts["c1"].eip, true, false},
		{"from another account to an EIP", "c1", insts["a1"].eip, true, false},
	} {
		dst := netip.AddrPortFrom(c.to, 8080)
		who, from := env.Admin, host.String()
		var err error
		if c.from == "host" {
			err = dialHost(dst)
		} else {
			in := insts[c.from]
			who, from = in.who, in.id
			err = probe.TCP(context.Background(), in.id, dst, hairpinTimeout)
		}
		delivered := err == nil
		out, aerr := env.Common(t, who, api.VersionPalisade, "AnalyzeReachability",
			map[string]string{"From": from, "To": c.to.String(), "Protocol": "tcp", "Port": "8080"})
		if aerr != nil {
			t.Errorf("%s: AnalyzeReachability: %v (kernel delivered %v)", c.name, aerr, delivered)
			continue
		}
		js, _ := json.Marshal(out)
		reachable, _ := out["Reachable"].(bool)
		switch {
		case delivered != c.want:
			t.Errorf("%s: %s -> %v: kernel delivered %v (%v), want %v (net.ipv4.ip_forward=%s: a host that forwards between uplinks hairpins)",
				c.name, c.from, dst, delivered, err, c.want, strings.TrimSpace(string(fwd)))
		case reachable != delivered:
			t.Errorf("%s: %s -> %v: analyzer reachable %v, kernel delivered %v (%v):\n%s", c.name, c.from, dst, reachable, delivered, err, js)
		}
		if got := strings.Contains(string(js), "EIP hairpin is not supported"); got != c.hairpin {
			t.Errorf("%s: hairpin reason %v, want %v:\n%s", c.name, got, c.hairpin, js)
		}
		// Nothing of the other side's account (the querier's own
		// resources are fine).
		for _, in := range insts {
			if in.who != who && strings.Contains(string(js), in.id) {
				t.Errorf("%s: the answer names %s of another account:\n%s", c.name, in.id, js)
			}
		}
		for n, id := range vpcs {
			if (n == "c") != (who == other) && strings.Contains(string(js), id) {
				t.Errorf("%s: the answer names %s of another account:\n%s", c.name, id, js)
			}
		}
		if err != nil && !probe.IsTimeout(err) {
			t.Logf("%s: not delivered, refused (not a silent drop): %v", c.name, err)
		}
	}

	// A host that forwards (containers, routers) must not hairpin either:
	// the applier's table in the root namespace drops what would go from
	// one of its uplinks to another. Forwarding is turned on for the two
	// uplinks only (net.ipv4.conf.<dev>.forwarding decides by the input
	// device), not for the host.
	upA, upB := linux.UplinkName(vpcs["a"]), linux.UplinkName(vpcs["b"])
	for _, dev := range []string{upA, upB} {
		key := "/proc/sys/net/ipv4/conf/" + dev + "/forwarding"
		old, err := os.ReadFile(key)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.WriteFile(key, old, 0o644) })
		if err := os.WriteFile(key, []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := netip.AddrPortFrom(insts["b1"].eip, 8080)
	if err := probe.TCP(context.Background(), insts["a1"].id, dst, hairpinTimeout); err == nil {
		t.Errorf("a1 -> %v (EIP of another VPC) delivered with forwarding on the uplinks: the hairpin table does not drop it", dst)
	}
	tables, err := exec.Command("nft", "list", "tables", "inet").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, tables)
	}
	var table string
	for _, l := range strings.Split(string(tables), "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.Contains(f[2], tag) && strings.HasSuffix(f[2], "_uplinks") {
			table = f[2]
		}
	}
	if table == "" {
		t.Fatalf("no hairpin table of this run in the root namespace:\n%s", tables)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", table).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), upA) || !strings.Contains(string(out), upB) {
		t.Errorf("table %s lacks the uplinks %s, %s: %v\n%s", table, upA, upB, err, out)
	}
	// The control: without the table the same host hairpins, so the
	// table is what decides (the agent puts it back at its next resync).
	if out, err := exec.Command("nft", "delete", "table", "inet", table).CombinedOutput(); err != nil {
		t.Fatalf("delete %s: %v: %s", table, err, out)
	}
	if err := probe.TCP(context.Background(), insts["a1"].id, dst, hairpinTimeout); err != nil {
		t.Errorf("control: with forwarding on the uplinks and the hairpin table deleted, a1 -> %v not delivered (%v): the test no longer shows the table matters", dst, err)
	}
	t.Cleanup(func() {
		if out, _ := exec.Command("nft", "list", "tables", "inet").CombinedOutput(); strings.Contains(string(out), table) {
			t.Errorf("cleanup left table %s in the root namespace", table)
		}
	})
}

// hpInst is an instance of the hairpin test.
type hpInst struct {
	id   string
	addr netip.Addr
	eip  netip.Addr // none: no EIP
	who  apitest.Creds
}

// allocateAssociate takes a random address of the default pool (test runs
// sharing the host each have their own control plane, and so their own
// view of which addresses are taken) and associates it with the instance.
func allocateAssociate(t *testing.T, vc *vpc.Client, instanceID string) netip.Addr {
	t.Helper()
	var id string
	var addr netip.Addr
	for try := 0; ; try++ {
		b := make([]byte, 2)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		req := vpc.CreateAllocateEipAddressRequest()
		req.IpAddress = fmt.Sprintf("198.18.%d.%d", b[0]&0x0f, 2+int(b[1])%253)
		resp, err := vc.AllocateEipAddress(req)
		if err != nil && try < 5 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		id, addr = resp.AllocationId, netip.MustParseAddr(resp.EipAddress)
		break
	}
	req := vpc.CreateAssociateEipAddressRequest()
	req.AllocationId, req.InstanceId = id, instanceID
	if _, err := vc.AssociateEipAddress(req); err != nil {
		t.Fatalf("associate %s with %s: %v", id, instanceID, err)
	}
	return addr
}

// waitReady waits until every instance runs and every EIP is in use, then
// until the agent has applied the store as it is.
func waitReady(t *testing.T, env *apitest.Env, insts map[string]*hpInst) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range insts {
		ec, vc := env.ECS(t, in.who), env.VPC(t, in.who)
		for {
			ireq := ecs.CreateDescribeInstancesRequest()
			ireq.InstanceIds = `["` + in.id + `"]`
			iresp, err := ec.DescribeInstances(ireq)
			if err != nil {
				t.Fatal(err)
			}
			ready := len(iresp.Instances.Instance) == 1 && iresp.Instances.Instance[0].Status == model.InstanceRunning
			if ready && in.eip.IsValid() {
				ereq := vpc.CreateDescribeEipAddressesRequest()
				ereq.EipAddress = in.eip.String()
				eresp, err := vc.DescribeEipAddresses(ereq)
				if err != nil {
					t.Fatal(err)
				}
				ready = len(eresp.EipAddresses.EipAddress) == 1 && eresp.EipAddresses.EipAddress[0].Status == model.EIPInUse
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %s (EIP %v) not ready after 30 s", in.id, in.eip)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	env.Settle(t)
}

// dialHost connects from the host (the internet) to dst and exchanges a
// line.
func dialHost(dst netip.AddrPort) error {
	c, err := (&net.Dialer{Timeout: hairpinTimeout}).Dial("tcp4", dst.String())
	if err != nil {
		return err
	}
	defer c.Close()
	return probe.Echo(c, "hairpin", hairpinTimeout)
}
