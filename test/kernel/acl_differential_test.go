package kernel_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
)

const (
	aclDiffTimeout  = 300 * time.Millisecond
	aclDiffMaxFails = 3
)

// aclDiffSet is one random world of the ACL differential test: the rules
// of the one group every node is in, two ACLs and their association with
// the rig's two vSwitches.
type aclDiffSet struct {
	index int
	group model.SecurityGroup
	acls  []model.NetworkACL
	assoc [2]string // ACL ID of vSwitch 1 and 2 ("" none)
}

// TestACLKernelMatchesEvaluator is a differential test of network ACLs
// with security groups: random ACLs (ordered accept/drop entries on TCP,
// UDP, ICMP and all, with ephemeral-port ranges), random associations and
// random group rules are written to the store and reconciled into the
// kernel; then TCP, UDP and ICMP probes with chosen source ports run
// between three instances on two vSwitches. A probe must be delivered
// exactly when the evaluator allows the request (ACLs of both vSwitches
// and both ENIs' groups) and the ACLs allow the reply as a packet of its
// own (stateless).
//
// PALISADE_ACL_DIFF_SEED fixes the seed, PALISADE_ACL_DIFF_SETS the number
// of sets (default 100).
func TestACLKernelMatchesEvaluator(t *testing.T) {
	seed := envInt(t, "PALISADE_ACL_DIFF_SEED", uint64(time.Now().UnixNano()))
	sets := int(envInt(t, "PALISADE_ACL_DIFF_SETS", 100))
	t.Logf("seed %d, %d sets (replay with PALISADE_ACL_DIFF_SEED=%d)", seed, sets, seed)
	r := newRig(t, "n", time.Hour)
	vsw := [2]string{r.vswitch("1", "10.77.1.0/24"), r.vswitch("2", "10.77.2.0/24")}
	g := r.groupID("g0")
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic})
	r.instance("a", vsw[0], "10.77.1.10", g)
	r.instance("b", vsw[0], "10.77.1.11", g)
	r.instance("c", vsw[1], "10.77.2.10", g)
	r.reconcile()
	for _, n := range r.nodes {
		r.serve(n, []int{22, 80}, []int{53})
	}
	var sport atomic.Uint32
	sport.Store(0)
	start := time.Now()
	fails, probes, delivered := 0, 0, 0
	kinds := map[string]int{}
	for i := range sets {
		s := genACLDiffSet(r, rand.New(rand.NewPCG(seed, uint64(i))), i)
		n, ok, bad := r.runACLDiffSet(seed, s, vsw, &sport, kinds)
		probes += n
		delivered += ok
		if bad {
			if fails++; fails >= aclDiffMaxFails {
				t.Fatalf("stopped after %d differing sets (seed %d)", fails, seed)
			}
		}
	}
	t.Logf("%d sets, %d probes (%d delivered) in %v; deciding stages: %v (seed %d)",
		sets, probes, delivered, time.Since(start).Round(time.Millisecond), kinds, seed)
}

func genACLDiffSet(r *rig, rng *rand.Rand, i int) aclDiffSet {
	s := aclDiffSet{index: i}
	cidrs := []string{"10.77.1.0/24", "10.77.2.0/24", "10.77.1.10/32", "10.77.1.11/32", "10.77.2.10/32", "0.0.0.0/0", "10.77.0.0/16", "192.168.0.0/16"}
	ports := []string{"80/80", "22/22", "53/53", "1024/65535", "30000/65535", "1/65535", "20/90"}
	pr := func(p string) model.PortRange {
		var f, t int
		fmt.Sscanf(p, "%d/%d", &f, &t)
		return model.PortRange{From: f, To: t}
	}
	for ai := range 2 {
		a := model.NetworkACL{ID: fmt.Sprintf("nacl-%sx%d", r.tag, ai), VpcID: r.vpc, Status: "Available"}
		for d := range 2 {
			var es []model.ACLEntry
			for ei := range rng.IntN(6) {
				e := model.ACLEntry{ID: fmt.Sprintf("nae-%d-%d-%d", ai, d, ei), Name: fmt.Sprintf("e%d", ei),
					Policy: pick(rng, "accept", "accept", "drop"), Protocol: pick(rng, "tcp", "tcp", "udp", "icmp", "all"),
					Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix(pick(rng, cidrs...)), EntryType: "custom"}
				if e.Protocol == "tcp" || e.Protocol == "udp" {
					e.Ports = pr(pick(rng, ports...))
				}
				es = append(es, e)
			}
			if d == 0 {
				a.Ingress = es
			} else {
				a.Egress = es
			}
		}
		s.acls = append(s.acls, a)
	}
	for v := range 2 {
		s.assoc[v] = pick(rng, "", s.acls[0].ID, s.acls[1].ID)
	}
	s.group = model.SecurityGroup{ID: r.groupID("g0"), VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop}
	if rng.IntN(10) < 7 {
		s.group.Rules = append(s.group.Rules, model.Rule{ID: "sgr-all", Direction: model.Ingress, Protocol: "ALL", Policy: "accept",
			Priority: 100, Ports: model.PortRange{From: -1, To: -1}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0")})
	}
	for ri := range rng.IntN(3) {
		ru := model.Rule{ID: fmt.Sprintf("sgr-%d", ri), Direction: model.Ingress, Protocol: pick(rng, "TCP", "UDP", "ICMP"),
			Policy: pick(rng, "accept", "drop"), Priority: 1 + rng.IntN(3), Ports: model.PortRange{From: -1, To: -1},
			PeerCidr: netip.MustParsePrefix(pick(rng, cidrs...))}
		if ru.Protocol != "ICMP" {
			ru.Ports = pr(pick(rng, "80/80", "22/22", "53/53", "1/65535"))
		}
		s.group.Rules = append(s.group.Rules, ru)
	}
	return s
}

func (r *rig) runACLDiffSet(seed uint64, s aclDiffSet, vsw [2]string, sport *atomic.Uint32, kinds map[string]int) (int, int, bool) {
	t := r.t
	t.Helper()
	var vswitches []model.VSwitch
	for v := range 2 {
		vswitches = append(vswitches, model.VSwitch{ID: vsw[v], VpcID: r.vpc, ZoneID: rigZone, CidrBlock: r.vswCID[vsw[v]],
			Status: "Available", NetworkAclID: s.assoc[v]})
	}
	enis := make([]model.ENI, len(r.nodes))
	for i := range r.nodes {
		enis[i] = r.eniRecord(i, []string{s.group.ID})
	}
	r.update(func(tx store.Txn) error {
		for _, v := range vswitches {
			if err := putJSON(tx, model.PrefixVSwitch+v.ID, v); err != nil {
				return err
			}
		}
		for _, a := range s.acls {
			if err := putJSON(tx, model.PrefixNetworkACL+a.ID, a); err != nil {
				return err
			}
		}
		return putJSON(tx, model.PrefixSecurityGroup+s.group.ID, s.group)
	})
	r.reconcile()
	r.flushConntrack()
	world := policy.NewWorld([]model.SecurityGroup{s.group}, enis, vswitches, s.acls)

	var probes []diffProbe
	for from := range r.nodes {
		for to := range r.nodes {
			if from == to {
				continue
			}
			probes = append(probes, diffProbe{from: from, to: to, proto: policy.IPProtoICMP})
			for _, k := range []struct {
				proto uint8
				port  uint16
			}{{policy.IPProtoTCP, 22}, {policy.IPProtoTCP, 80}, {policy.IPProtoUDP, 53}} {
				// Unique source ports, below or above 30000 (an entry boundary).
				n := uint16(sport.Add(1) % 9000)
				sp := 20000 + n
				if n%2 == 1 {
					sp = 40000 + n
				}
				probes = append(probes, diffProbe{from, to, k.proto, sp, k.port})
			}
		}
	}
	results := r.sendProbes(probes, aclDiffTimeout)

	var diffs []string
	delivered := 0
	for i, p := range probes {
		from, to := r.nodes[p.from], r.nodes[p.to]
		req := policy.Packet{Src: from.addr, Dst: to.addr, Proto: p.proto, SrcPort: p.sport, DstPort: p.dport}
		rep := policy.Packet{Src: to.addr, Dst: from.addr, Proto: p.proto, SrcPort: p.dport, DstPort: p.sport}
		if p.proto == policy.IPProtoICMP {
			req = policy.Packet{Src: from.addr, Dst: to.addr, Proto: p.proto, ICMPType: 8}
			rep = policy.Packet{Src: to.addr, Dst: from.addr, Proto: p.proto}
		}
		d := policy.Evaluate(world, from.eni, to.eni, req)
		rout, rin := policy.EvaluateACLs(world, to.eni, from.eni, rep)
		want := d.Allow && rout.Allow && rin.Allow
		switch {
		case !d.Allow:
			kinds["request:"+d.Decisive().Reason.Kind.String()]++
		case !rout.Allow:
			kinds["reply:"+rout.Reason.Kind.String()]++
		case !rin.Allow:
			kinds["reply:"+rin.Reason.Kind.String()]++
		default:
			kinds["delivered"]++
		}
		res := r.confirmDrop(t, p, results[i], want)
		if res.ok {
			delivered++
		}
		if res.err != nil || res.ok != want {
			got := "dropped"
			if res.ok {
				got = "delivered"
			}
			if res.err != nil {
				got = "error: " + res.err.Error()
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s proto %d %d->%d: kernel %s, want %v; request %v; reply acl out %v, in %v",
				from.name, to.name, p.proto, p.sport, p.dport, got, want, d, rout, rin))
		}
	}
	if len(diffs) > 0 {
		listing, err := r.vpcExec("nft", "list", "table", "inet", policy.TableName)
		if err != nil {
			listing = err.Error()
		}
		t.Errorf("seed %d set %d: %d of %d probes differ\nassociation %v\nACLs %+v\ngroup %+v\nprobes:\n  %s\nkernel table:\n%s",
			seed, s.index, len(diffs), len(probes), s.assoc, s.acls, s.group.Rules, strings.Join(diffs, "\n  "), listing)
	}
	return len(probes), delivered, len(diffs) > 0
}
