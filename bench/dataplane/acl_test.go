package dataplane_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
)

// aclEnv is one VPC with two vSwitches: the client in A, the server in B,
// so every connection crosses vSwitches (A's egress ACL, B's ingress ACL).
type aclEnv struct {
	w                  *kworld
	vpcID, vswA, vswB  string
	client, server     string
	clientIP, serverIP netip.Addr
	none               []float64
	sink               *sink
}

var (
	aclOnce sync.Once
	aclE    *aclEnv
	aclErr  error
)

const aclEntries = 100

func getACLEnv(b *testing.B) *aclEnv {
	b.Helper()
	needKernel(b)
	aclOnce.Do(func() { aclE, aclErr = buildACLEnv() })
	if aclErr != nil {
		b.Fatal(aclErr)
	}
	return aclE
}

func buildACLEnv() (*aclEnv, error) {
	w := newKWorld(randTag())
	cleanups = append(cleanups, w.close)
	e := &aclEnv{w: w, clientIP: netip.MustParseAddr("10.78.1.10"), serverIP: netip.MustParseAddr("10.78.2.20")}
	e.vpcID, e.vswA, e.vswB = "vpc-"+w.tag+"a", "vsw-"+w.tag+"a", "vsw-"+w.tag+"b"
	vsw := func(id, cidr string) model.VSwitch {
		return model.VSwitch{ID: id, VpcID: e.vpcID, ZoneID: zone, CidrBlock: netip.MustParsePrefix(cidr), Status: "Available"}
	}
	if err := w.put(map[string]any{
		model.PrefixVPC + e.vpcID:    model.VPC{ID: e.vpcID, CidrBlock: netip.MustParsePrefix("10.78.0.0/16"), Status: "Available"},
		model.PrefixVSwitch + e.vswA: vsw(e.vswA, "10.78.1.0/24"),
		model.PrefixVSwitch + e.vswB: vsw(e.vswB, "10.78.2.0/24"),
	}); err != nil {
		return nil, err
	}
	// Groups: 1,000 rules on each ENI, the accept that matters last.
	r := rand.New(rand.NewPCG(11, 12))
	gc, gs := "sg-"+w.tag+"ac", "sg-"+w.tag+"as"
	if err := w.group(gc, e.vpcID, append(randomRules(r, w.tag+"ac", model.Egress, 999), matchRule("sgr-"+w.tag+"acm", model.Egress, e.serverIP))); err != nil {
		return nil, err
	}
	if err := w.group(gs, e.vpcID, append(randomRules(r, w.tag+"as", model.Ingress, 999), matchRule("sgr-"+w.tag+"asm", model.Ingress, e.clientIP))); err != nil {
		return nil, err
	}
	var err error
	if e.client, _, err = w.instance("ac", e.vpcID, e.vswA, e.clientIP, gc); err != nil {
		return nil, err
	}
	if e.server, _, err = w.instance("as", e.vpcID, e.vswB, e.serverIP, gs); err != nil {
		return nil, err
	}
	// ACLs: 100 entries per direction on each vSwitch, 99 that never match
	// this traffic, then the accept for the VPC (stateless: both ways).
	for i, v := range []string{e.vswA, e.vswB} {
		acl := model.NetworkACL{ID: fmt.Sprintf("nacl-%s%d", w.tag, i), VpcID: e.vpcID, Status: "Available",
			Ingress: aclRandomEntries(r, aclEntries-1), Egress: aclRandomEntries(r, aclEntries-1)}
		all := model.ACLEntry{ID: "nae-all", Policy: model.PolicyAccept, Protocol: model.ACLProtoAll,
			Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix("10.78.0.0/16")}
		acl.Ingress, acl.Egress = append(acl.Ingress, all), append(acl.Egress, all)
		sw := vsw(v, map[int]string{0: "10.78.1.0/24", 1: "10.78.2.0/24"}[i])
		sw.NetworkAclID = acl.ID
		if err := w.put(map[string]any{model.PrefixNetworkACL + acl.ID: acl, model.PrefixVSwitch + v: sw}); err != nil {
			return nil, err
		}
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	srv, err := startSink(e.server)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, srv.close)
	e.sink = srv
	return e, nil
}

// aclRandomEntries returns n TCP/UDP entries with peers in 172.16.0.0/12
// (never this benchmark's traffic), accept or drop.
func aclRandomEntries(r *rand.Rand, n int) []model.ACLEntry {
	out := make([]model.ACLEntry, 0, n)
	for i := range n {
		addr := netip.AddrFrom4([4]byte{172, byte(16 + r.IntN(16)), byte(r.IntN(256)), 0})
		from := 1 + r.IntN(60000)
		out = append(out, model.ACLEntry{
			ID: fmt.Sprintf("nae-%d", i), Policy: []string{model.PolicyAccept, model.PolicyDrop}[r.IntN(2)],
			Protocol: []string{model.ACLProtoTCP, model.ACLProtoUDP}[r.IntN(2)],
			Ports:    model.PortRange{From: from, To: from + r.IntN(200)},
			Cidr:     netip.PrefixFrom(addr, 16+r.IntN(9)).Masked(),
		})
	}
	return out
}

// BenchmarkACLConnRate: new TCP connections per second across two
// vSwitches with 100-entry ACLs on both and 1,000-rule groups on both ENIs,
// against the same path with no table at all (policy=none), in one run.
func BenchmarkACLConnRate(b *testing.B) {
	e := getACLEnv(b)
	sa := &unix.SockaddrInet4{Port: tcpPort, Addr: e.serverIP.As4()}
	check := func(b *testing.B) {
		if err := probeRetry(func() error {
			c, err := probe.DialTCP(e.w.ctx, e.client, netip.AddrPortFrom(e.serverIP, tcpPort), time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			b.Fatalf("client cannot reach server: %v", err)
		}
	}
	b.Run("policy=none", func(b *testing.B) {
		script := fmt.Sprintf("table inet %[1]s {}\ndelete table inet %[1]s\ntable inet %[2]s {}\ndelete table inet %[2]s\n",
			policy.TableName, policy.GuardTable)
		if _, err := nsNft(e.vpcID, script, "-f", "-"); err != nil {
			b.Fatal(err)
		}
		check(b)
		rate := dialLoop(b, e.client, sa, e.sink)
		b.ReportMetric(rate, "conns/s")
		if finalRun(b) {
			e.none = append(e.none, rate)
		}
	})
	b.Run("policy=acl100+groups1000", func(b *testing.B) {
		e.w.newAgent() // a fresh loader: the table was removed behind its back
		if err := e.w.a.Reconcile(e.w.ctx); err != nil {
			b.Fatal(err)
		}
		check(b)
		// The ACL chains must be in the loaded table (their enforcement
		// itself is tested in test/kernel).
		out, err := nsNft(e.vpcID, "", "list", "table", "inet", policy.TableName)
		if err != nil || !strings.Contains(out, "acl_forward") {
			b.Fatalf("the loaded table has no ACL chains: %v", err)
		}
		rate := dialLoop(b, e.client, sa, e.sink)
		b.ReportMetric(rate, "conns/s")
		if base := median(e.none); base > 0 {
			b.ReportMetric(rate/base, "ratio-to-none")
		}
	})
}
