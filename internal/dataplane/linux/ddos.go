package linux

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// Anti-DDoS Basic on a VPC namespace's uplink, in two tables:
//
//	table netdev palisade_ddos {
//	  chain count { type filter hook ingress device "uplink" priority -500; policy accept;
//	    ip daddr 203.0.113.5 tcp flags syn / syn,ack counter  its SYNs, and
//	    meta protocol ip ip daddr 203.0.113.5 counter          every EIP
//	    meta protocol ip ip daddr 203.0.113.6 counter drop     a blackholed one
//	  }
//	}
//	table ip palisade_ddos_scrub {                   only while an EIP is scrubbed
//	  set syn_0, dns_0, udp_0, icmp_0 { type ipv4_addr; flags dynamic,timeout; timeout 1m }
//	  chain scrub { type filter hook prerouting priority mangle; policy accept;
//	    iifname != "uplink" accept
//	    ip daddr 203.0.113.7 jump s_0
//	  }
//	  chain s_0 {
//	    ct state invalid drop
//	    meta l4proto tcp ct state new tcp flags & (fin|syn|rst|ack) != syn drop
//	    meta l4proto tcp ct state new add @syn_0 { ip saddr limit rate over 100/second burst 200 packets } drop
//	    udp dport 53 add @dns_0 { ip saddr limit rate over 200/second burst 400 packets } drop
//	    meta l4proto udp add @udp_0 { ip saddr limit rate over 2000/second burst 4000 packets } drop
//	    meta l4proto icmp add @icmp_0 { ip saddr limit rate over 50/second burst 100 packets } drop
//	    limit rate over PPS/second drop
//	    limit rate over BPS/8 bytes/second drop
//	  }
//	}
//
// Counting and blackholes sit on the uplink's ingress, before anything
// else, so an attack stays measurable while it is dropped and costs the
// VPC's other traffic nothing. Scrubbing needs conntrack (to tell invalid
// packets and new connections), so it is a prerouting chain after it,
// which exists only while an EIP is scrubbed.
const (
	ddosTable      = "palisade_ddos"
	ddosScrubTable = "palisade_ddos_scrub"
	// ddosCountPrio runs the count chain before any other ingress hook.
	ddosCountPrio = -500
	// Per-source limits while an EIP is scrubbed: well above what one
	// client of a service sends, far below a flood from one source.
	ddosSYNPerSource = 100
	// DNS queries to a scrubbed address (a DNS query flood): a source may
	// send far fewer of them than other datagrams.
	ddosDNSPerSource  = 200
	ddosUDPPerSource  = 2000
	ddosICMPPerSource = 50
	ddosMeterTimeout  = time.Minute
)

// applyDDoSCountTable makes the uplink's counting table match d (nil or
// nothing counted: no table). uplinkIdx is the uplink's index in the
// namespace: a re-created uplink gets its chain again.
func applyDDoSCountTable(nsFd int, d *dataplane.DDoS, uplinkIdx int) error {
	remove := d == nil || len(d.Counted) == 0
	chains := map[string]chainHook{
		"count": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookIngress, prio: nftables.ChainPriorityRef(ddosCountPrio), device: uplinkLink},
	}
	var rules []plRule
	if !remove {
		for _, ip := range sortedAddrs(d.Counted) {
			// The protocol first: a netdev chain sees every frame.
			isIP := []expr.Any{
				&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)},
			}
			// The SYNs apart (the SYN flood pattern), before a blackhole
			// drops them.
			rules = append(rules, plRule{"count", cat(isIP, daddrIs(ip), l4protoIs(unix.IPPROTO_TCP), []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}},
				&expr.Counter{},
			})})
			ex := cat(isIP, daddrIs(ip), []expr.Any{&expr.Counter{}})
			if slices.Contains(d.Blackholed, ip) {
				ex = append(ex, &expr.Verdict{Kind: expr.VerdictDrop})
			}
			rules = append(rules, plRule{"count", ex})
		}
	}
	return applyTaggedTableOf(nsFd, nftables.TableFamilyNetdev, ddosTable, chains, nil, rules, remove, fmt.Sprintf(" uplink %d", uplinkIdx))
}

// applyDDoSScrubTable makes the scrubbing table match d: present only
// while an EIP counted and not blackholed is scrubbed.
func applyDDoSScrubTable(nsFd int, d *dataplane.DDoS) error {
	chains := map[string]chainHook{
		"scrub": {typ: nftables.ChainTypeFilter, hook: nftables.ChainHookPrerouting, prio: nftables.ChainPriorityMangle},
	}
	var sets []tableSet
	var rules []plRule
	if d != nil {
		scrubbed := slices.Clone(d.Scrubbed)
		slices.SortFunc(scrubbed, func(a, b dataplane.DDoSScrub) int { return a.IP.Compare(b.IP) })
		for i, s := range scrubbed {
			if !slices.Contains(d.Counted, s.IP) || slices.Contains(d.Blackholed, s.IP) {
				continue
			}
			if len(rules) == 0 {
				rules = append(rules, plRule{"scrub", []expr.Any{
					&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifnameKey16(uplinkLink)},
					&expr.Verdict{Kind: expr.VerdictAccept},
				}})
			}
			ch := fmt.Sprintf("s_%d", i)
			chains[ch] = chainHook{}
			rules = append(rules, plRule{"scrub", append(daddrIs(s.IP), &expr.Verdict{Kind: expr.VerdictJump, Chain: ch})})
			meter := func(name string) string {
				n := fmt.Sprintf("%s_%d", name, i)
				sets = append(sets, tableSet{name: n, key: nftables.TypeIPAddr, dynamic: true, timeout: ddosMeterTimeout})
				return n
			}
			drop := &expr.Verdict{Kind: expr.VerdictDrop}
			rules = append(rules,
				plRule{ch, cat(ctStateHas(expr.CtStateBitINVALID), []expr.Any{drop})},
				// A new connection starts with a clean SYN: ACK, FIN and
				// RST floods open nothing.
				plRule{ch, cat(l4protoIs(unix.IPPROTO_TCP), ctStateHas(expr.CtStateBitNEW), []expr.Any{
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
					&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x17}, Xor: []byte{0}},
					&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0x02}},
					drop})},
				plRule{ch, cat(l4protoIs(unix.IPPROTO_TCP), ctStateHas(expr.CtStateBitNEW), perSource(meter("syn"), ddosSYNPerSource), []expr.Any{drop})},
				plRule{ch, cat(l4protoIs(unix.IPPROTO_UDP), dportIs(53), perSource(meter("dns"), ddosDNSPerSource), []expr.Any{drop})},
				plRule{ch, cat(l4protoIs(unix.IPPROTO_UDP), perSource(meter("udp"), ddosUDPPerSource), []expr.Any{drop})},
				plRule{ch, cat(l4protoIs(unix.IPPROTO_ICMP), perSource(meter("icmp"), ddosICMPPerSource), []expr.Any{drop})},
			)
			if s.Pps > 0 {
				rules = append(rules, plRule{ch, []expr.Any{
					&expr.Limit{Type: expr.LimitTypePkts, Rate: uint64(s.Pps), Over: true, Unit: expr.LimitTimeSecond, Burst: uint32(max(s.Pps/10, 1))},
					drop}})
			}
			if s.Bps > 0 {
				rules = append(rules, plRule{ch, []expr.Any{
					&expr.Limit{Type: expr.LimitTypePktBytes, Rate: uint64(s.Bps / 8), Over: true, Unit: expr.LimitTimeSecond, Burst: uint32(min(s.Bps/80, 1<<30))},
					drop}})
			}
		}
	}
	if len(rules) == 0 {
		chains = nil
	}
	return applyTaggedTable(nsFd, ddosScrubTable, chains, sets, rules, len(rules) == 0)
}

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func daddrIs(ip netip.Addr) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip.AsSlice()},
	}
}

func l4protoIs(p int) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p)}},
	}
}

// dportIs matches the transport header's destination port (after a test
// of the protocol: TCP and UDP keep it at the same offset).
func dportIs(port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	}
}

func ctStateHas(bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

// perSource matches when the packet's source has sent more than rate
// packets per second (burst twice that), counted in the dynamic set.
func perSource(set string, rate uint64) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Dynset{SrcRegKey: 1, SetName: set, Operation: unix.NFT_DYNSET_OP_ADD, Timeout: ddosMeterTimeout,
			Exprs: []expr.Any{&expr.Limit{Type: expr.LimitTypePkts, Rate: rate, Over: true, Unit: expr.LimitTimeSecond, Burst: uint32(2 * rate)}}},
	}
}

// DDoSCounters reads the inbound counters of the EIPs of a VPC namespace
// (none without the table).
func (a *Applier) DDoSCounters(vpcID string) (map[netip.Addr]dataplane.DDoSCounter, error) {
	var out map[netip.Addr]dataplane.DDoSCounter
	err := nftIn(vpcID, func(conn *nftables.Conn) error {
		var err error
		out, err = ddosCountersOf(conn)
		return err
	})
	return out, err
}

// nftIn runs fn with an nftables connection inside the named namespace.
// It opens the namespace only (no netlink handle, unlike openNS): the
// counters are read every few seconds.
func nftIn(name string, fn func(*nftables.Conn) error) error {
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer ns.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables connection in %s: %w", name, err)
	}
	return fn(conn)
}

func ddosCountersOf(conn *nftables.Conn) (map[netip.Addr]dataplane.DDoSCounter, error) {
	out := map[netip.Addr]dataplane.DDoSCounter{}
	err := func() error {
		table := &nftables.Table{Name: ddosTable, Family: nftables.TableFamilyNetdev}
		rules, err := conn.GetRules(table, &nftables.Chain{Name: "count", Table: table})
		if err != nil {
			return nil // no table: nothing counted
		}
		for _, r := range rules {
			var ip netip.Addr
			syn := false // the rule of the SYNs: it tests the TCP flags
			for _, e := range r.Exprs {
				switch x := e.(type) {
				case *expr.Payload:
					syn = syn || (x.Base == expr.PayloadBaseTransportHeader && x.Offset == 13)
				case *expr.Cmp:
					if len(x.Data) == 4 && x.Op == expr.CmpOpEq {
						ip = netip.AddrFrom4([4]byte(x.Data))
					}
				case *expr.Counter:
					if !ip.IsValid() {
						continue
					}
					c := out[ip]
					if syn {
						c.SYNs = x.Packets
					} else {
						c.Packets, c.Bytes = x.Packets, x.Bytes
					}
					out[ip] = c
				}
			}
		}
		return nil
	}()
	return out, err
}
