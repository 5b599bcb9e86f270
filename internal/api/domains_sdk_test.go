package api_test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/miekg/dns"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// testDNS is a DNS server on loopback (UDP) whose A records a test
// changes; a name it lacks is NXDOMAIN, a name set to nil fails
// (SERVFAIL).
type testDNS struct {
	Addr string
	mu   sync.Mutex
	a    map[string][]string // lower case, with the final dot
}

func startTestDNS(t *testing.T) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{Addr: pc.LocalAddr().String(), a: map[string][]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		name := dns.CanonicalName(r.Question[0].Name)
		d.mu.Lock()
		addrs, ok := d.a[name]
		d.mu.Unlock()
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case addrs == nil:
			m.Rcode = dns.RcodeServerFailure
		}
		for _, a := range addrs {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(a)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

// set answers name with addrs (nil: SERVFAIL).
func (d *testDNS) set(name string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[dns.CanonicalName(name)] = addrs
}

// eventually polls cond every 20 ms for at most 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

// resolutionKeys returns the domains with a resolution in the store.
func resolutionKeys(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	var out []string
	for k := range env.Snapshot(t) {
		if d, ok := strings.CutPrefix(k, model.PrefixDomainResolution); ok {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// TestCloudfwDomainPoliciesSDK drives domain destinations through the
// official V1 SDK: an Internet-firewall out policy and a NAT-firewall
// policy name domains; the server resolves them soon after (its loop
// watches the policies) and on demand, with its --dns-upstream; Describe
// shows the domain, DomainResolveType and the addresses; a failed lookup
// keeps them and says so; records go with the policies.
func TestCloudfwDomainPoliciesSDK(t *testing.T) {
	up := startTestDNS(t)
	up.set("www.example.com", "192.0.2.2", "192.0.2.1")
	up.set("api.example.net", "198.51.100.7")
	up.set("cdn.example.org", "203.0.113.5")
	env := apitest.Start(t, apitest.WithDNSUpstream(up.Addr), apitest.WithDomainResolvePeriod(time.Hour))
	alice := env.NewAccount(t, "alice")
	c := env.Cloudfw(t, alice)
	va := env.VPC(t, alice)
	n := newNatNet(t, va, "10.0.0.0/16", "10.0.1.0/24", "")
	gw := createNatGateway(t, va, n.vpc, n.vsw, nil).id

	// The Internet firewall: Direction out, the domain in any case, with
	// a final dot.
	req := cfwPolicy("out", "1", "no www", "WWW.Example.COM.", "443")
	req.AclAction, req.DestinationType = "drop", "domain"
	id := cfwAdd(t, c, req)
	// The server resolves a new domain soon after, without waiting for
	// its period (an hour here).
	var p cloudfw.DataItem
	eventually(t, "www.example.com resolved", func() bool {
		p = cfwList(t, c, "out")[0]
		return p.DnsResult != ""
	})
	if p.AclUuid != id || p.Destination != "www.example.com" || p.DestinationType != "domain" || p.DestinationGroupType != "" ||
		!slices.Equal(p.DestinationGroupCidrs, []string{"192.0.2.1/32", "192.0.2.2/32"}) || p.DnsResult != "192.0.2.1,192.0.2.2" ||
		p.DnsResultTime == 0 || p.DnsFailedDomain != "" {
		t.Errorf("DataItem: %+v", p)
	}
	// A retry adds nothing.
	if again := cfwAdd(t, c, req); again != id {
		t.Errorf("retry: %s, want %s", again, id)
	}

	// The NAT firewall, with the SDK's DomainResolveType 1 (DNS).
	nreq := nfwPolicy(gw, "1", "no api", "api.example.net", "443")
	nreq.DestinationType, nreq.DomainResolveType = "domain", requests.NewInteger(1)
	nid := nfwAdd(t, c, nreq)
	var np cloudfw.DataItemInDescribeNatFirewallControlPolicy
	eventually(t, "api.example.net resolved", func() bool {
		np = nfwList(t, c, gw)[0]
		return np.DnsResult != ""
	})
	if np.AclUuid != nid || np.Destination != "api.example.net" || np.DestinationType != "domain" || np.DomainResolveType != 1 ||
		!slices.Equal(np.DestinationGroupCidrs, []string{"198.51.100.7/32"}) || np.DnsResult != "198.51.100.7" || np.DnsResultTime == 0 {
		t.Errorf("NAT DataItem: %+v", np)
	}
	// A net destination shows DomainResolveType 0, whatever was sent.
	plain := nfwPolicy(gw, "-1", "plain", "0.0.0.0/0", "25")
	plain.DomainResolveType = requests.NewInteger(0)
	nfwAdd(t, c, plain)
	if l := nfwList(t, c, gw); len(l) != 2 || l[1].DomainResolveType != 0 || l[1].DnsResult != "" || len(l[1].DestinationGroupCidrs) != 0 {
		t.Errorf("net policy: %+v", l)
	}

	// ModifyNatFirewallControlPolicy to another domain (the SDK sends
	// DomainResolveType as a string there): resolved soon after, and the
	// record of the domain no longer named goes.
	mod := cloudfw.CreateModifyNatFirewallControlPolicyRequest()
	mod.NatGatewayId, mod.AclUuid, mod.Destination, mod.DestinationType, mod.DomainResolveType = gw, nid, "cdn.example.org", "domain", "1"
	if _, err := c.ModifyNatFirewallControlPolicy(mod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cdn.example.org resolved, api.example.net dropped", func() bool {
		return slices.Equal(resolutionKeys(t, env), []string{"cdn.example.org", "www.example.com"})
	})
	if np := nfwList(t, c, gw)[0]; np.Destination != "cdn.example.org" || np.DnsResult != "203.0.113.5" || np.DomainResolveType != 1 {
		t.Errorf("after modify: %+v", np)
	}

	// DNS changes: the next pass (here asked for at once) follows.
	up.set("www.example.com", "192.0.2.3")
	env.ResolveDomains(t)
	if p := cfwList(t, c, "out")[0]; p.DnsResult != "192.0.2.3" || !slices.Equal(p.DestinationGroupCidrs, []string{"192.0.2.3/32"}) {
		t.Errorf("after the answer changed: %+v", p)
	}
	// DNS fails: the addresses stay, and the policy says its domain failed.
	up.set("www.example.com")
	env.ResolveDomains(t)
	if p := cfwList(t, c, "out")[0]; p.DnsResult != "192.0.2.3" || p.DnsFailedDomain != "www.example.com" {
		t.Errorf("after a failed lookup: %+v", p)
	}
	// An unchanged answer writes nothing.
	up.set("www.example.com", "192.0.2.3")
	env.ResolveDomains(t)
	before := env.Snapshot(t)
	env.ResolveDomains(t)
	if after := env.Snapshot(t); len(after) != len(before) || after[model.PrefixDomainResolution+"www.example.com"] != before[model.PrefixDomainResolution+"www.example.com"] {
		t.Errorf("an unchanged answer rewrote the record")
	}

	// Deleting the policies: their records go soon after.
	del := cloudfw.CreateDeleteControlPolicyRequest()
	del.AclUuid, del.Direction = id, "out"
	if _, err := c.DeleteControlPolicy(del); err != nil {
		t.Fatal(err)
	}
	ndel := cloudfw.CreateDeleteNatFirewallControlPolicyRequest()
	ndel.NatGatewayId, ndel.Direction, ndel.AclUuid = gw, "out", nid
	if _, err := c.DeleteNatFirewallControlPolicy(ndel); err != nil {
		t.Fatal(err)
	}
	eventually(t, "records of deleted policies gone", func() bool { return len(resolutionKeys(t, env)) == 0 })
}

// TestCloudfwDomainRefusalsSDK: the refusals through the SDK's own
// requests, with the messages that say where a domain is accepted.
func TestCloudfwDomainRefusalsSDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.NewAccount(t, "alice")
	c := env.Cloudfw(t, alice)
	va := env.VPC(t, alice)
	n := newNatNet(t, va, "10.0.0.0/16", "10.0.1.0/24", "")
	gw := createNatGateway(t, va, n.vpc, n.vsw, nil).id

	in := cfwPolicy("in", "1", "x", "www.example.com", "443")
	in.DestinationType = "domain"
	_, err := c.AddControlPolicy(in)
	wantSDKErr(t, "Direction in", err, 400, "OperationUnsupported.DestinationType", "Direction out")
	src := cfwPolicy("out", "1", "x", "0.0.0.0/0", "443")
	src.Source, src.SourceType = "www.example.com", "domain"
	_, err = c.AddControlPolicy(src)
	wantSDKErr(t, "domain source", err, 400, "OperationUnsupported.SourceType", "NAT-firewall")
	wild := cfwPolicy("out", "1", "x", "*.example.com", "443")
	wild.DestinationType = "domain"
	_, err = c.AddControlPolicy(wild)
	wantSDKErr(t, "wildcard", err, 400, "OperationUnsupported.Destination", "SNI")

	for v, code := range map[int]string{0: "OperationUnsupported.DomainResolveType", 2: "OperationUnsupported.DomainResolveType", 5: "IllegalParam.DomainResolveType"} {
		r := nfwPolicy(gw, "1", "x", "www.example.com", "443")
		r.DestinationType, r.DomainResolveType = "domain", requests.NewInteger(v)
		_, err := c.CreateNatFirewallControlPolicy(r)
		wantSDKErr(t, "NAT DomainResolveType "+strconv.Itoa(v), err, 400, code, "1")
	}
	nw := nfwPolicy(gw, "1", "x", "*.example.com", "443")
	nw.DestinationType = "domain"
	_, err = c.CreateNatFirewallControlPolicy(nw)
	wantSDKErr(t, "NAT wildcard", err, 400, "OperationUnsupported.Destination", "")
	if got := resolutionKeys(t, env); len(got) != 0 || len(cfwList(t, c, "")) != 0 || len(nfwList(t, c, gw)) != 0 {
		t.Errorf("refusals left %v, policies", got)
	}
}
