package analysis

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/palisade-project/palisade/internal/model"
)

// Random worlds for the property and differential tests: one or two VPCs,
// a few vSwitches with or without network ACLs, groups of both types with
// rules over small value pools (so that rules overlap, nest and repeat),
// ENIs in one to three groups.

var (
	genPorts = []int{22, 53, 80, 443, 3306, 5432, 8080}
	genNets  = []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"}
)

func pickOf[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func genPrefix(rng *rand.Rand, enis []model.ENI) netip.Prefix {
	switch n := rng.IntN(100); {
	case n < 30 && len(enis) > 0:
		return netip.PrefixFrom(enis[rng.IntN(len(enis))].PrimaryIP, 32)
	case n < 45 && len(enis) > 0:
		return netip.PrefixFrom(enis[rng.IntN(len(enis))].PrimaryIP, pickOf(rng, 25, 28, 30, 31)).Masked()
	case n < 60:
		return netip.MustParsePrefix(pickOf(rng, genNets...))
	case n < 70:
		return netip.MustParsePrefix("10.0.0.0/16")
	case n < 82:
		return netip.MustParsePrefix("0.0.0.0/0")
	case n < 88:
		return netip.MustParsePrefix(pickOf(rng, "0.0.0.0/1", "128.0.0.0/1", "203.0.113.0/24"))
	case n < 94:
		return netip.MustParsePrefix(pickOf(rng, "fd00::/8", "::/0", "fd00:1::/64"))
	default:
		return netip.MustParsePrefix("10.0.0.0/8")
	}
}

func genPorts2(rng *rand.Rand) model.PortRange {
	switch n := rng.IntN(100); {
	case n < 45:
		p := pickOf(rng, genPorts...)
		return model.PortRange{From: p, To: p}
	case n < 75:
		a, b := pickOf(rng, genPorts...), pickOf(rng, genPorts...)
		return model.PortRange{From: min(a, b) - rng.IntN(2), To: max(a, b) + rng.IntN(2)}
	case n < 90:
		return model.PortRange{From: 1, To: 65535}
	default:
		return model.PortRange{From: 1, To: 1024}
	}
}

func genRule(rng *rand.Rand, id string, groups []string, enis []model.ENI) model.Rule {
	r := model.Rule{ID: id, Direction: pickOf(rng, model.Ingress, model.Ingress, model.Egress), Policy: model.PolicyAccept,
		Ports: model.PortRange{From: -1, To: -1}, Priority: pickOf(rng, 1, 1, 2, 5, 10, 50, 100)}
	if rng.IntN(100) < 35 {
		r.Policy = model.PolicyDrop
	}
	r.Protocol = pickOf(rng, model.ProtoTCP, model.ProtoTCP, model.ProtoTCP, model.ProtoUDP, model.ProtoICMP, model.ProtoALL, model.ProtoGRE, model.ProtoICMPv6)
	if r.Protocol == model.ProtoTCP || r.Protocol == model.ProtoUDP {
		r.Ports = genPorts2(rng)
		if rng.IntN(100) < 15 {
			lo := pickOf(rng, 1024, 40000, 49152)
			r.SourcePorts = model.PortRange{From: lo, To: lo + rng.IntN(20000)}
		}
	}
	if len(groups) > 0 && rng.IntN(100) < 25 {
		r.PeerGroupID = pickOf(rng, groups...)
	} else {
		r.PeerCidr = genPrefix(rng, enis)
	}
	if rng.IntN(100) < 10 {
		r.LocalCidr = genPrefix(rng, enis)
	}
	return r
}

// genWorld draws a world. ENIs have addresses in genNets.
func genWorld(rng *rand.Rand, withACLs bool) *World {
	w := &World{}
	w.VPCs = []model.VPC{{ID: "vpc-1", CidrBlock: netip.MustParsePrefix("10.0.0.0/16"), Ipv6CidrBlock: netip.MustParsePrefix("fd00::/56")}}
	for i, n := range genNets {
		w.VSwitches = append(w.VSwitches, model.VSwitch{ID: fmt.Sprintf("vsw-%d", i+1), VpcID: "vpc-1", CidrBlock: netip.MustParsePrefix(n)})
	}
	// One dual-stack vSwitch: only its instances have an IPv6 route.
	w.VSwitches[0].Ipv6CidrBlock = netip.MustParsePrefix("fd00::/64")
	ng := 2 + rng.IntN(4)
	var ids []string
	for g := range ng {
		ids = append(ids, fmt.Sprintf("sg-%d", g))
	}
	ne := 3 + rng.IntN(4)
	for i := range ne {
		vi := rng.IntN(len(genNets))
		p := netip.MustParsePrefix(genNets[vi])
		b := p.Addr().As4()
		b[3] = byte(10 + i)
		e := model.ENI{ID: fmt.Sprintf("eni-%d", i), VpcID: "vpc-1", VSwitchID: w.VSwitches[vi].ID, InstanceID: fmt.Sprintf("i-%d", i),
			PrimaryIP: netip.AddrFrom4(b), Status: model.ENIInUse}
		if rng.IntN(4) == 0 {
			b2 := b
			b2[3] += 100
			e.SecondaryIPs = []netip.Addr{netip.AddrFrom4(b2)}
		}
		if rng.IntN(3) == 0 {
			e.IPv6s = []netip.Addr{netip.MustParseAddr(fmt.Sprintf("fd00::%x", 0x10+i))}
		}
		w.ENIs = append(w.ENIs, e)
		w.Instances = append(w.Instances, model.Instance{ID: e.InstanceID, VpcID: "vpc-1", VSwitchID: e.VSwitchID, PrimaryENIID: e.ID, Status: model.InstanceRunning})
	}
	for g := range ng {
		sg := model.SecurityGroup{ID: ids[g], VpcID: "vpc-1", Type: model.GroupTypeBasic,
			InnerAccessPolicy: pickOf(rng, model.InnerAccept, model.InnerDrop, "")}
		if rng.IntN(5) == 0 {
			sg.Type = model.GroupTypeAdvanced
		}
		for j := range rng.IntN(9) {
			sg.Rules = append(sg.Rules, genRule(rng, fmt.Sprintf("sgr-%d-%d", g, j), ids, w.ENIs))
		}
		w.Groups = append(w.Groups, sg)
	}
	// Exact copies of rules, in the same group or another one.
	for g := range w.Groups {
		if len(w.Groups[g].Rules) > 0 && rng.IntN(3) == 0 {
			r := w.Groups[g].Rules[rng.IntN(len(w.Groups[g].Rules))]
			t := rng.IntN(len(w.Groups))
			r.ID = fmt.Sprintf("sgr-%d-dup%d", t, g)
			w.Groups[t].Rules = append(w.Groups[t].Rules, r)
		}
	}
	for i := range w.ENIs {
		n := 1 + rng.IntN(3)
		if rng.IntN(15) == 0 {
			n = 0
		}
		perm := rng.Perm(ng)
		for _, k := range perm[:min(n, ng)] {
			w.ENIs[i].SecurityGroupIDs = append(w.ENIs[i].SecurityGroupIDs, ids[k])
		}
	}
	if withACLs {
		for a := range 2 {
			acl := model.NetworkACL{ID: fmt.Sprintf("nacl-%d", a), VpcID: "vpc-1"}
			for dir := range 2 {
				var es []model.ACLEntry
				for k := range rng.IntN(6) {
					e := model.ACLEntry{ID: fmt.Sprintf("nae-%d-%d-%d", a, dir, k), Policy: model.PolicyAccept,
						Protocol: pickOf(rng, "tcp", "tcp", "udp", "icmp", "all", "gre"), Cidr: genPrefix(rng, w.ENIs), Ports: model.PortRange{From: -1, To: -1}}
					if rng.IntN(3) == 0 {
						e.Policy = model.PolicyDrop
					}
					if e.Protocol == "tcp" || e.Protocol == "udp" {
						e.Ports = genPorts2(rng)
					}
					es = append(es, e)
				}
				if dir == 0 {
					acl.Ingress = es
				} else {
					acl.Egress = es
				}
			}
			w.ACLs = append(w.ACLs, acl)
		}
		for i := range w.VSwitches {
			if rng.IntN(3) > 0 {
				w.VSwitches[i].NetworkAclID = fmt.Sprintf("nacl-%d", rng.IntN(2))
			}
		}
	}
	return w
}

// genPacket draws a packet between two ENIs or an ENI and an outside address.
func genPacket(rng *rand.Rand, w *World) (from, to int, pkt Packet) {
	from, to = rng.IntN(len(w.ENIs)), rng.IntN(len(w.ENIs))
	pick := func(e model.ENI, v6 bool) netip.Addr {
		if v6 && len(e.IPv6s) > 0 {
			return e.IPv6s[0]
		}
		as := append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...)
		return as[rng.IntN(len(as))]
	}
	v6 := rng.IntN(4) == 0
	pkt = Packet{Src: pick(w.ENIs[from], v6), Dst: pick(w.ENIs[to], v6)}
	if pkt.Src.Is4() != pkt.Dst.Is4() {
		pkt.Src, pkt.Dst = w.ENIs[from].PrimaryIP, w.ENIs[to].PrimaryIP
	}
	if rng.IntN(6) == 0 {
		// An outside peer.
		if rng.IntN(2) == 0 {
			pkt.Src = netip.MustParseAddr(pickOf(rng, "203.0.113.9", "198.51.100.1", "100.100.100.200", "100.100.2.130"))
			if pkt.Dst.Is6() {
				pkt.Dst = w.ENIs[to].PrimaryIP
			}
			from = -1
		} else {
			pkt.Dst = netip.MustParseAddr(pickOf(rng, "203.0.113.9", "198.51.100.1", "100.100.100.200", "100.100.2.130"))
			if pkt.Src.Is6() {
				pkt.Src = w.ENIs[from].PrimaryIP
			}
			to = -1
		}
	}
	pkt.Proto = pickOf(rng, ProtoTCP, ProtoTCP, ProtoTCP, ProtoUDP, ProtoUDP, ProtoICMP, ProtoICMPv6, ProtoGRE, 99)
	if hasPorts(pkt.Proto) {
		pkt.DstPort = uint16(pickOf(rng, genPorts...) + rng.IntN(3) - 1)
		pkt.SrcPort = uint16(pickOf(rng, 68, 67, 1023, 1024, 40000, 49152, 60000, 65535))
		if rng.IntN(10) == 0 {
			pkt.DstPort = uint16(pickOf(rng, 67, 68))
		}
	}
	return from, to, pkt
}
