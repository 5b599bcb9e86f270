package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/policy/policytest"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// TestBuildWAF checks which protected objects a host steers: those of its
// instances with an EIP, on the EIP of their primary ENI, with the
// object's template and rules, and the VPC's program filtering the WAF's
// upstream connections; not those of instances without an EIP or in
// another zone.
func TestBuildWAF(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	eip := netip.MustParseAddr("198.18.0.9")
	_, err := st.Update(context.Background(), func(tx store.Txn) error {
		putRecord(t, tx, model.PrefixVPC+"vpc-a", model.VPC{ID: "vpc-a", CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
		putRecord(t, tx, model.PrefixVSwitch+"vsw-a", model.VSwitch{ID: "vsw-a", VpcID: "vpc-a", ZoneID: "z1", CidrBlock: netip.MustParsePrefix("10.0.1.0/24")})
		for _, i := range []struct{ id, zone, ip string }{{"i-web", "z1", "10.0.1.5"}, {"i-noeip", "z1", "10.0.1.6"}, {"i-far", "z2", "10.0.1.7"}} {
			putRecord(t, tx, model.PrefixInstance+i.id, model.Instance{ID: i.id, ZoneID: i.zone, VpcID: "vpc-a", VSwitchID: "vsw-a", PrimaryENIID: "eni-" + i.id[2:], Status: model.InstanceRunning})
			putRecord(t, tx, model.PrefixENI+"eni-"+i.id[2:], model.ENI{ID: "eni-" + i.id[2:], VpcID: "vpc-a", VSwitchID: "vsw-a", ZoneID: i.zone, InstanceID: i.id,
				MAC: "02:00:00:00:00:01", PrimaryIP: netip.MustParseAddr(i.ip), SecurityGroupIDs: []string{"sg-web"}})
		}
		// Port 80 open to all, 443 to one office only, 8080 to more
		// single addresses than the SYN admission loads.
		rules := []model.Rule{
			policytest.Rule("sgr-80", model.Ingress, "TCP", "80/80", "0.0.0.0/0", model.PolicyAccept, 1),
			policytest.Rule("sgr-443", model.Ingress, "TCP", "443/443", "203.0.113.0/24", model.PolicyAccept, 1),
		}
		for i := range MaxAdmitRanges + 10 {
			rules = append(rules, policytest.Rule(fmt.Sprintf("sgr-8080-%d", i), model.Ingress, "TCP", "8080/8080",
				netip.AddrFrom4([4]byte{100, 64, byte(i >> 7), byte(2 * (i & 127))}).String()+"/32", model.PolicyAccept, 1))
		}
		putRecord(t, tx, model.PrefixSecurityGroup+"sg-web", model.SecurityGroup{ID: "sg-web", VpcID: "vpc-a", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
			Rules: rules})
		putRecord(t, tx, model.PrefixEIP+"eip-1", model.EIP{ID: "eip-1", Address: eip, ENIID: "eni-web", PrivateIP: netip.MustParseAddr("10.0.1.5"), VpcID: "vpc-a", Status: model.EIPInUse})
		putRecord(t, tx, model.PrefixWAFTemplate+"wtpl-1", model.WAFTemplate{ID: "wtpl-1", AccountID: "acct", Action: "monitor", ParanoiaLevel: 2, InboundThreshold: 7, BodyLimit: 1024})
		for _, p := range []model.WAFProtection{
			{ID: "waf-web", AccountID: "acct", InstanceID: "i-web", Port: 80, TemplateID: "wtpl-1"},
			{ID: "waf-web443", AccountID: "acct", InstanceID: "i-web", Port: 443},
			// TLS at the WAF, plain HTTP to the instance's port 80.
			{ID: "waf-web8443", AccountID: "acct", InstanceID: "i-web", Port: 8443, Upstream: "10.0.1.5:80"},
			{ID: "waf-web8080", AccountID: "acct", InstanceID: "i-web", Port: 8080},
			// Stored before the API refused upstreams outside the
			// instance: not steered, the port stays on the direct path.
			{ID: "waf-web8088", AccountID: "acct", InstanceID: "i-web", Port: 8088, Upstream: "192.168.1.1:80"},
			{ID: "waf-web8089", AccountID: "acct", InstanceID: "i-web", Port: 8089, Upstream: "10.0.1.6:80"}, // i-noeip's address
			{ID: "waf-noeip", AccountID: "acct", InstanceID: "i-noeip", Port: 80},
			{ID: "waf-far", AccountID: "acct", InstanceID: "i-far", Port: 80},
		} {
			putRecord(t, tx, model.PrefixWAFProtection+p.ID, p)
		}
		// A flow log on the web instance's ENI: the SYNs its WAF ports
		// refuse are its REJECT records.
		putRecord(t, tx, model.PrefixFlowLog+"fl-1", model.FlowLog{ID: "fl-1", AccountID: "acct", ResourceType: model.FlowLogResourceENI, ResourceID: "eni-web",
			VpcID: "vpc-a", TrafficType: "All", AggregationInterval: 1, Status: model.FlowLogActive})
		putRecord(t, tx, model.PrefixWAFRule+"wr-1", model.WAFRule{ID: "wr-1", AccountID: "acct", ProtectionID: "waf-web", Kind: "custom", Conditions: "path prefix /admin", Action: "block"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	d := buildDesired(t, st, "z1")
	var ids []string
	for _, o := range d.WAF {
		ids = append(ids, o.Config.ID)
		if o.VPCID != "vpc-a" || o.EIP != eip || o.AccountID != "acct" || o.Config.Upstream != "10.0.1.5:"+map[string]string{"waf-web": "80", "waf-web443": "443", "waf-web8443": "80", "waf-web8080": "8080"}[o.Config.ID] {
			t.Errorf("object %s: %+v", o.Config.ID, o)
		}
	}
	if !slices.Equal(ids, []string{"waf-web", "waf-web443", "waf-web8080", "waf-web8443"}) {
		t.Fatalf("steered objects %v, want waf-web, waf-web443, waf-web8080 and waf-web8443", ids)
	}
	web := d.WAF[0].Config
	if web.Listen != "vpc-a/198.18.0.9:80" || web.Profile.Action != "monitor" || web.Profile.ParanoiaLevel != 2 || len(web.Rules) != 1 || web.Rules[0].ID != "wr-1" {
		t.Errorf("waf-web config: %+v", web)
	}
	if d.WAF[1].Config.Profile.Action != "block" || d.WAF[1].Config.Profile.ParanoiaLevel != 1 {
		t.Errorf("waf-web443 without template: profile %+v, want the default", d.WAF[1].Config.Profile)
	}
	if len(d.Host.VPCs) != 1 || len(d.Host.VPCs[0].EIPs) != 1 || !slices.Equal(d.Host.VPCs[0].EIPs[0].WAFPorts, []uint16{80, 443, 8080, 8443}) {
		t.Errorf("EIP steering: %+v", d.Host.VPCs)
	}
	// The clients admitted at the SYN, by the upstream's port: every
	// client on 80 and on 8443 (which forwards to 80): no set; the office
	// on 443, logged for the covered ENI.
	admit := d.Host.VPCs[0].EIPs[0].WAFAdmit
	office := []dataplane.SourceRange{{From: netip.MustParseAddr("203.0.113.0"), To: netip.MustParseAddr("203.0.113.255"), PortFrom: 0, PortTo: 65535}}
	_, on80 := admit[80]
	_, on8443 := admit[8443]
	_, on8080 := admit[8080]
	if on80 || on8443 || on8080 || !slices.Equal(admit[443].Clients, office) {
		t.Errorf("admitted clients %+v, want none for 80 and 8443 (all admitted), none for 8080 (over the limit) and %v for 443", admit, office)
	}
	// The WAF's view of the same answer, to close the live connections of
	// clients a change denies: none for 80 and 8443, the office for 443.
	// Port 8080's answer is over the limit: the evaluator decides.
	if d.WAF[0].Clients != nil || d.WAF[3].Clients != nil {
		t.Errorf("client admission of ports 80 and 8443: %+v, %+v, want none (every client)", d.WAF[0].Clients, d.WAF[3].Clients)
	}
	if a := d.WAF[1].Clients; a == nil || a.Eval != nil || !a.Admits(netip.MustParseAddrPort("203.0.113.7:40000")) || a.Admits(netip.MustParseAddrPort("198.51.100.7:40000")) {
		t.Errorf("client admission of port 443: %+v, want the office", a)
	}
	if a := d.WAF[2].Clients; a == nil || a.Eval == nil || !a.Admits(netip.MustParseAddrPort("100.64.1.4:40000")) ||
		a.Admits(netip.MustParseAddrPort("100.64.1.5:40000")) || a.Admits(netip.MustParseAddrPort("203.0.113.7:40000")) {
		t.Errorf("client admission of port 8080: %+v, want the evaluator, admitting 100.64.1.4 only of the three", a)
	}
	if l := admit[443].Log; l.Prefix != "palisade sg in 10.0.1.5" || l.Group != policy.FlowLogGroup || l.LoggedCounter != policy.FlowLogLoggedCounter {
		t.Errorf("refused SYNs of the covered ENI logged as %+v, want prefix \"palisade sg in 10.0.1.5\" to the flow-log group", l)
	}
	if !d.Programs["vpc-a"].Transparent {
		t.Errorf("the program of vpc-a does not filter the WAF's upstream connections")
	}
}

func TestClientAdmission(t *testing.T) {
	r := func(from, to string, pf, pt uint16) policy.SourceRange {
		return policy.SourceRange{Addr: policy.AddrRange{From: netip.MustParseAddr(from), To: netip.MustParseAddr(to)}, SPort: policy.Range{From: pf, To: pt}}
	}
	// Boxes whose address spans overlap (one source port dropped for a
	// /24, the rest of a /16 open).
	a := &ClientAdmission{Ranges: []policy.SourceRange{
		r("10.0.0.0", "10.0.255.255", 0, 999),
		r("10.0.0.0", "10.0.255.255", 1001, 65535),
		r("10.0.1.0", "10.0.1.255", 1000, 1000),
		r("192.0.2.7", "192.0.2.7", 0, 65535),
	}}
	for _, tc := range []struct {
		client string
		want   bool
	}{
		{"10.0.0.1:999", true}, {"10.0.0.1:1000", false}, {"10.0.0.1:1001", true}, {"10.0.1.9:1000", true},
		{"10.0.255.255:65535", true}, {"10.1.0.0:80", false}, {"9.255.255.255:80", false},
		{"192.0.2.7:1", true}, {"192.0.2.8:1", false}, {"[::ffff:10.0.0.1]:80", true},
	} {
		if got := a.Admits(netip.MustParseAddrPort(tc.client)); got != tc.want {
			t.Errorf("%s: admitted %v, want %v", tc.client, got, tc.want)
		}
	}
	if (&ClientAdmission{}).Admits(netip.MustParseAddrPort("10.0.0.1:80")) {
		t.Error("no ranges admitted a client")
	}
	eval := &ClientAdmission{Eval: func(c netip.AddrPort) bool { return c.Port() == 7 }}
	if !eval.Admits(netip.MustParseAddrPort("1.2.3.4:7")) || eval.Admits(netip.MustParseAddrPort("1.2.3.4:8")) {
		t.Error("Eval not used")
	}
}
