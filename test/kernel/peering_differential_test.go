package kernel_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// TestPeeringKernelMatchesAnalyzer compares the analyzer with real TCP
// connections across a VPC peering of two dual-stack VPCs, over random
// rounds of route entries, IPv4 and IPv6 (none, one side, both, covering
// some subnets or hosts only) and VPC firewalls (none, closed, open with
// random ordered policies, which are IPv4), set through the official SDK.
// Every ordered pair of instances across the peering, every port and both
// families must get the same answer from both. PALISADE_PEER_DIFF_SEED
// fixes the seed; PALISADE_PEER_DIFF_ROUNDS the number of rounds.
func TestPeeringKernelMatchesAnalyzer(t *testing.T) {
	requireKernel(t)
	seed := envInt(t, "PALISADE_PEER_DIFF_SEED", uint64(time.Now().UnixNano()))
	rounds := int(envInt(t, "PALISADE_PEER_DIFF_ROUNDS", 12))
	t.Logf("seed %d, %d rounds (replay with PALISADE_PEER_DIFF_SEED=%d)", seed, rounds, seed)
	r := rand.New(rand.NewPCG(seed, 11))

	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	vpcA, vpcA6 := w.mustVPC6("10.71.0.0/16")
	vpcB, vpcB6 := w.mustVPC6("10.72.0.0/16")
	vswA1, vswA16 := w.mustVSwitch6(vpcA, "10.71.1.0/24", 1)
	vswA2, vswA26 := w.mustVSwitch6(vpcA, "10.71.2.0/24", 2)
	vswB, vswB6 := w.mustVSwitch6(vpcB, "10.72.1.0/24", 1)
	w.mustGroup("ga", vpcA, "normal", "")
	w.mustGroup("gb", vpcB, "normal", "")
	// The groups open the ports to the other VPC but one: port 8003 into
	// B only from A's first vSwitch; the same for IPv6.
	w.authorize("ga", ruleSpec{proto: "tcp", ports: "8000/8003", peer: "10.72.0.0/16", policy: "accept", priority: 1})
	w.authorize("gb", ruleSpec{proto: "tcp", ports: "8000/8002", peer: "10.71.0.0/16", policy: "accept", priority: 1})
	w.authorize("gb", ruleSpec{proto: "tcp", ports: "8003/8003", peer: "10.71.1.0/24", policy: "accept", priority: 1})
	w.authorize6("ga", "8000/8003", vpcB6)
	w.authorize6("gb", "8000/8002", vpcA6)
	w.authorize6("gb", "8003/8003", vswA16)
	insts := []struct{ name, vsw, ip, group string }{
		{"a1", vswA1, "10.71.1.10", "ga"}, {"a2", vswA2, "10.71.2.10", "ga"},
		{"b1", vswB, "10.72.1.10", "gb"}, {"b2", vswB, "10.72.1.11", "gb"},
	}
	addr6 := map[string]netip.Addr{}
	for _, in := range insts {
		addr6[in.name] = w.run6(in.name, in.vsw, in.ip, in.group)
	}
	w.waitRunning()
	ports := []int{8000, 8001, 8002, 8003}
	for _, in := range insts {
		for _, p := range ports {
			serveWho(t, w.ids[in.name], in.name, p)
			serveWho6(t, w.ids[in.name], in.name, p)
		}
	}
	host6 := func(name string) string { return netip.PrefixFrom(addr6[name], 128).String() }

	_, pcc, _ := peerVPCs(t, env, vpcA, vpcB)
	tables := map[string]string{vpcA: w.routeTableOf(vpcA), vpcB: w.routeTableOf(vpcB)}
	fw, fwID := vpcFirewall(t, env, vpcA, vpcB, "closed")

	routeChoices := map[string][]string{
		vpcA: {"10.72.0.0/16", "10.72.1.0/24", "10.72.1.10/32", "10.72.1.11/32",
			vpcB6.String(), vswB6.String(), host6("b1"), host6("b2")},
		vpcB: {"10.71.0.0/16", "10.71.1.0/24", "10.71.2.0/24", "10.71.1.10/32",
			vpcA6.String(), vswA16.String(), vswA26.String(), host6("a1")},
	}
	cidrs := []string{"0.0.0.0/0", "10.71.0.0/16", "10.71.1.0/24", "10.71.2.10/32", "10.72.0.0/16", "10.72.1.10/32"}
	var routeIDs, policyIDs []string
	var probes, reachable, reachable6 int
	for round := range rounds {
		// Clear the last round's routes and policies.
		for _, id := range routeIDs {
			req := vpc.CreateDeleteRouteEntryRequest()
			req.RouteEntryId = id
			if _, err := w.vpc.DeleteRouteEntry(req); err != nil {
				t.Fatalf("DeleteRouteEntry: %v", err)
			}
		}
		for _, id := range policyIDs {
			req := cloudfw.CreateDeleteVpcFirewallControlPolicyRequest()
			req.VpcFirewallId, req.AclUuid = fwID, id
			if _, err := fw.DeleteVpcFirewallControlPolicy(req); err != nil {
				t.Fatalf("DeleteVpcFirewallControlPolicy: %v", err)
			}
		}
		routeIDs, policyIDs = nil, nil
		var desc []string
		for _, v := range []string{vpcA, vpcB} {
			for _, dst := range routeChoices[v] {
				if r.IntN(3) != 0 {
					continue
				}
				req := vpc.CreateCreateRouteEntryRequest()
				req.RouteTableId, req.DestinationCidrBlock, req.NextHopType, req.NextHopId = tables[v], dst, "VpcPeer", pcc
				resp, err := w.vpc.CreateRouteEntry(req)
				if err != nil {
					t.Fatalf("CreateRouteEntry %s %s: %v", v, dst, err)
				}
				routeIDs = append(routeIDs, resp.RouteEntryId)
				desc = append(desc, fmt.Sprintf("route %s in %s", dst, v))
			}
		}
		open := r.IntN(3) != 0
		for i := range r.IntN(4) {
			req := cloudfw.CreateCreateVpcFirewallControlPolicyRequest()
			req.VpcFirewallId, req.NewOrder, req.ApplicationName, req.Description = fwID, "-1", "ANY", fmt.Sprintf("p%d", i)
			req.AclAction = []string{"accept", "drop", "drop", "log"}[r.IntN(4)]
			req.Source, req.SourceType = cidrs[r.IntN(len(cidrs))], "net"
			req.Destination, req.DestinationType = cidrs[r.IntN(len(cidrs))], "net"
			req.Proto = "ANY"
			if r.IntN(2) == 0 {
				req.Proto = "TCP"
				p := ports[r.IntN(len(ports))]
				req.DestPortType, req.DestPort = "port", fmt.Sprintf("%d/%d", p, p)
			}
			resp, err := fw.CreateVpcFirewallControlPolicy(req)
			if err != nil {
				t.Fatalf("CreateVpcFirewallControlPolicy: %v", err)
			}
			policyIDs = append(policyIDs, resp.AclUuid)
			desc = append(desc, fmt.Sprintf("policy %d: %s %s %s -> %s %s", i+1, req.AclAction, req.Proto, req.Source, req.Destination, req.DestPort))
		}
		sw := cloudfw.CreateModifyVpcFirewallSwitchStatusRequest()
		sw.VpcFirewallId, sw.FirewallSwitch = fwID, map[bool]string{true: "opened", false: "closed"}[open]
		if _, err := fw.ModifyVpcFirewallSwitchStatus(sw); err != nil {
			t.Fatalf("ModifyVpcFirewallSwitchStatus: %v", err)
		}
		desc = append(desc, "firewall "+sw.FirewallSwitch)
		w.settle()

		// Every pair, port and family.
		type probeCase struct {
			from, to string
			port     int
			v6       bool
		}
		dstOf := func(c probeCase) netip.AddrPort {
			if c.v6 {
				return netip.AddrPortFrom(addr6[c.to], uint16(c.port))
			}
			return netip.AddrPortFrom(w.addr[c.to], uint16(c.port))
		}
		var cases []probeCase
		for _, a := range []string{"a1", "a2"} {
			for _, b := range []string{"b1", "b2"} {
				for _, p := range ports {
					for _, v6 := range []bool{false, true} {
						cases = append(cases, probeCase{a, b, p, v6}, probeCase{b, a, p, v6})
					}
				}
			}
		}
		got := make([]bool, len(cases))
		var wg sync.WaitGroup
		for i, c := range cases {
			wg.Go(func() {
				name, _, err := dialWho(w.ids[c.from], dstOf(c), 300*time.Millisecond)
				got[i] = err == nil && name == c.to
			})
		}
		wg.Wait()
		var diffs []string
		for i, c := range cases {
			// The address, not the instance: the instance means either
			// family, and is reachable when one of them is.
			out, err := env.Common(t, env.Admin, api.VersionPalisade, "AnalyzeReachability",
				map[string]string{"From": w.ids[c.from], "To": dstOf(c).Addr().String(), "Protocol": "tcp", "Port": fmt.Sprint(c.port)})
			if err != nil {
				t.Fatalf("AnalyzeReachability: %v", err)
			}
			want := out["Verdict"] == "reachable"
			if !got[i] && want { // a timeout under load: once more, alone and slowly
				name, _, err := dialWho(w.ids[c.from], dstOf(c), confirmTimeout)
				got[i] = err == nil && name == c.to
			}
			probes++
			if got[i] {
				reachable++
				if c.v6 {
					reachable6++
				}
			}
			if got[i] != want {
				diffs = append(diffs, fmt.Sprintf("%s -> %s (%s): kernel %v, analyzer %v", c.from, c.to, dstOf(c), got[i], out["Verdict"]))
			}
		}
		if len(diffs) > 0 {
			t.Errorf("seed %d round %d (%s): %d of %d differ:\n  %s", seed, round, strings.Join(desc, "; "), len(diffs), len(cases), strings.Join(diffs, "\n  "))
		}
	}
	t.Logf("%d rounds, %d probes, %d connected, %d of them over IPv6 (seed %d)", rounds, probes, reachable, reachable6, seed)
}
