package service

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// mirrorFixture is a service with account "1" holding, in vpc-1, the
// ENIs eni-t (a target), eni-s1..eni-s4 and the Stopped instance i-1 with
// its primary ENI eni-p, and eni-z in another zone; in vpc-2, eni-x; and
// account "2" holding eni-b.
func mirrorFixture(t *testing.T) *Service {
	t.Helper()
	s := New(memory.New(), Config{})
	eni := func(id, acct, vpc string) model.ENI {
		return model.ENI{ID: id, AccountID: acct, VpcID: vpc, Type: model.ENITypeSecondary, Status: model.ENIAvailable}
	}
	recs := map[string]any{
		model.PrefixAccount + "1":          model.Account{ID: "1", Name: "alice"},
		model.PrefixAccount + "2":          model.Account{ID: "2", Name: "bob"},
		model.PrefixVPC + "vpc-1":          model.VPC{ID: "vpc-1", AccountID: "1"},
		model.PrefixVPC + "vpc-2":          model.VPC{ID: "vpc-2", AccountID: "1"},
		model.PrefixVPC + "vpc-b":          model.VPC{ID: "vpc-b", AccountID: "2"},
		model.PrefixENI + "eni-x":          eni("eni-x", "1", "vpc-2"),
		model.PrefixENI + "eni-ep":         model.ENI{ID: "eni-ep", AccountID: "1", VpcID: "vpc-1", EndpointID: "ep-1", Type: model.ENITypeSecondary, Status: model.ENIInUse},
		model.PrefixENI + "eni-z":          model.ENI{ID: "eni-z", AccountID: "1", VpcID: "vpc-1", ZoneID: "zone-b", Type: model.ENITypeSecondary, Status: model.ENIAvailable},
		model.PrefixENI + "eni-b":          eni("eni-b", "2", "vpc-b"),
		model.PrefixInstance + "i-1":       model.Instance{ID: "i-1", AccountID: "1", VpcID: "vpc-1", PrimaryENIID: "eni-p", Status: model.InstanceStopped},
		model.PrefixInstance + "i-2":       model.Instance{ID: "i-2", AccountID: "1", VpcID: "vpc-1", PrimaryENIID: "eni-q", Status: model.InstanceStopped},
		model.PrefixENI + "eni-p":          model.ENI{ID: "eni-p", AccountID: "1", VpcID: "vpc-1", Type: model.ENITypePrimary, InstanceID: "i-1", Status: model.ENIInUse},
		model.PrefixENI + "eni-q":          model.ENI{ID: "eni-q", AccountID: "1", VpcID: "vpc-1", Type: model.ENITypePrimary, InstanceID: "i-2", Status: model.ENIInUse},
		model.PrefixENI + "eni-t":          eni("eni-t", "1", "vpc-1"),
		model.PrefixENI + "eni-s1":         eni("eni-s1", "1", "vpc-1"),
		model.PrefixENI + "eni-s2":         eni("eni-s2", "1", "vpc-1"),
		model.PrefixENI + "eni-s3":         eni("eni-s3", "1", "vpc-1"),
		model.PrefixENI + "eni-s4":         eni("eni-s4", "1", "vpc-1"),
		model.PrefixVSwitch + "vsw-unused": model.VSwitch{ID: "vsw-unused", AccountID: "1", VpcID: "vpc-1"},
	}
	putRecords(t, s, recs)
	return s
}

// mirrorFixtureFilter is mirrorFixture with an empty filter of account
// "1".
func mirrorFixtureFilter(t *testing.T) (*Service, MirrorCreated) {
	t.Helper()
	s := mirrorFixture(t)
	f, err := s.CreateTrafficMirrorFilter(context.Background(), "1", CreateMirrorFilterInput{})
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

// putRecords writes recs (store key -> record) into the service's store in
// one transaction, with an EIP's address index as AllocateEipAddress
// writes it.
func putRecords(t *testing.T, s *Service, recs map[string]any) {
	t.Helper()
	if _, err := s.update(context.Background(), func(tx store.Txn) error {
		for k, v := range recs {
			if err := putJSON(tx, k, v); err != nil {
				return err
			}
			if e, ok := v.(model.EIP); ok {
				if err := tx.Put(model.PrefixEIPAddr+e.Address.String(), []byte(e.ID)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// storeSnapshot returns every key and value of the service's store.
func storeSnapshot(t *testing.T, s *Service) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		return tx.List("", func(k string, v []byte) error { out[k] = string(v); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// unchanged runs fn, which must fail with code, and checks the store did
// not change.
func unchanged(t *testing.T, s *Service, what, code string, fn func() error) {
	t.Helper()
	before := storeSnapshot(t, s)
	err := fn()
	if !errs.HasCode(err, code) {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
	if after := storeSnapshot(t, s); !maps.Equal(before, after) {
		t.Errorf("%s changed the store on error", what)
	}
}

func rule(prio, action, proto string) MirrorRuleSpec {
	return MirrorRuleSpec{Priority: prio, Action: action, Protocol: proto}
}

func TestParseMirrorRule(t *testing.T) {
	all := model.PortRange{From: -1, To: -1}
	tests := []struct {
		name string
		spec MirrorRuleSpec
		code string // "" = valid
		want model.MirrorRule
	}{
		{"tcp ports and cidrs", MirrorRuleSpec{Priority: "1", Action: "Accept", Protocol: "tcp", SourceCidrBlock: "10.0.0.7/24",
			DestinationCidrBlock: "192.0.2.0/28", SourcePortRange: "1024/65535", DestinationPortRange: "443/443"}, "",
			model.MirrorRule{Direction: model.Ingress, Priority: 1, Action: model.PolicyAccept, Protocol: model.ProtoTCP,
				SourceCidr: netip.MustParsePrefix("10.0.0.0/24"), DestinationCidr: netip.MustParsePrefix("192.0.2.0/28"),
				SourcePorts: model.PortRange{From: 1024, To: 65535}, DestinationPorts: model.PortRange{From: 443, To: 443}}},
		{"all defaults", rule("10", "DROP", "all"), "",
			model.MirrorRule{Direction: model.Ingress, Priority: 10, Action: model.PolicyDrop, Protocol: model.ProtoALL, SourcePorts: all, DestinationPorts: all}},
		{"icmp -1/-1 ipv6", MirrorRuleSpec{Priority: "2", Action: "accept", Protocol: "ICMP", DestinationCidrBlock: "2001:db8::1/64", SourcePortRange: "-1/-1"}, "",
			model.MirrorRule{Direction: model.Ingress, Priority: 2, Action: model.PolicyAccept, Protocol: model.ProtoICMP,
				DestinationCidr: netip.MustParsePrefix("2001:db8::/64"), SourcePorts: all, DestinationPorts: all}},
		{"udp no ports", rule("3", "accept", "Udp"), "",
			model.MirrorRule{Direction: model.Ingress, Priority: 3, Action: model.PolicyAccept, Protocol: model.ProtoUDP, SourcePorts: all, DestinationPorts: all}},
		{"no action", rule("1", "", "TCP"), "MissingParameter", model.MirrorRule{}},
		{"bad action", rule("1", "reject", "TCP"), "IllegalParam.Action", model.MirrorRule{}},
		{"no priority", rule("", "accept", "TCP"), "MissingParameter", model.MirrorRule{}},
		{"priority 0", rule("0", "accept", "TCP"), "IllegalParam.Priority", model.MirrorRule{}},
		{"priority 11", rule("11", "accept", "TCP"), "IllegalParam.Priority", model.MirrorRule{}},
		{"priority text", rule("one", "accept", "TCP"), "IllegalParam.Priority", model.MirrorRule{}},
		{"no protocol", rule("1", "accept", ""), "MissingParameter", model.MirrorRule{}},
		{"gre", rule("1", "accept", "GRE"), "IllegalParam.Protocol", model.MirrorRule{}},
		{"bad source cidr", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "ALL", SourceCidrBlock: "10.0.0.0/33"}, "IllegalParam.SourceCidrBlock", model.MirrorRule{}},
		{"bare address", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "ALL", DestinationCidrBlock: "10.0.0.1"}, "IllegalParam.DestinationCidrBlock", model.MirrorRule{}},
		{"mixed families", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "ALL", SourceCidrBlock: "10.0.0.0/8", DestinationCidrBlock: "::/0"}, "IllegalParam.DestinationCidrBlock", model.MirrorRule{}},
		{"ports for icmp", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "ICMP", DestinationPortRange: "80/80"}, "IllegalParam.DestinationPortRange", model.MirrorRule{}},
		{"ports for all", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "ALL", SourcePortRange: "1/65535"}, "IllegalParam.SourcePortRange", model.MirrorRule{}},
		{"port 0", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "TCP", DestinationPortRange: "0/80"}, "IllegalParam.DestinationPortRange", model.MirrorRule{}},
		{"reversed", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "TCP", SourcePortRange: "90/80"}, "IllegalParam.SourcePortRange", model.MirrorRule{}},
		{"65536", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "UDP", SourcePortRange: "1/65536"}, "IllegalParam.SourcePortRange", model.MirrorRule{}},
		{"bare port", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "TCP", DestinationPortRange: "80"}, "IllegalParam.DestinationPortRange", model.MirrorRule{}},
		{"half all", MirrorRuleSpec{Priority: "1", Action: "accept", Protocol: "TCP", DestinationPortRange: "-1/80"}, "IllegalParam.DestinationPortRange", model.MirrorRule{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Param = "IngressRules.1"
			got, err := ParseMirrorRule(model.Ingress, tc.spec, 10)
			if tc.code != "" {
				if !errs.HasCode(err, tc.code) {
					t.Fatalf("got %v, want code %s", err, tc.code)
				}
				if e, _ := errs.As(err); !strings.Contains(e.Message, "IngressRules.1.") {
					t.Errorf("message does not name the parameter: %s", e.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseMirrorRule(f *testing.F) {
	f.Add("1", "accept", "TCP", "10.0.0.0/8", "", "80/80", "")
	f.Add("10", "drop", "all", "", "::/0", "", "-1/-1")
	f.Fuzz(func(t *testing.T, prio, action, proto, src, dst, sport, dport string) {
		r, err := ParseMirrorRule(model.Egress, MirrorRuleSpec{Priority: prio, Action: action, Protocol: proto,
			SourceCidrBlock: src, DestinationCidrBlock: dst, SourcePortRange: sport, DestinationPortRange: dport}, 10)
		if err != nil {
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %T: %v", err, err)
			}
			return
		}
		if r.Priority < 1 || r.Priority > 10 || (r.Action != model.PolicyAccept && r.Action != model.PolicyDrop) {
			t.Fatalf("accepted %+v", r)
		}
		for _, p := range []model.PortRange{r.SourcePorts, r.DestinationPorts} {
			hasPorts := r.Protocol == model.ProtoTCP || r.Protocol == model.ProtoUDP
			if p != (model.PortRange{From: -1, To: -1}) && (!hasPorts || p.From < 1 || p.To > 65535 || p.From > p.To) {
				t.Fatalf("ports %+v accepted for %s", p, r.Protocol)
			}
		}
		for _, c := range []netip.Prefix{r.SourceCidr, r.DestinationCidr} {
			if c.IsValid() && c.Masked() != c {
				t.Fatalf("unmasked %s", c)
			}
		}
	})
}

func TestMirrorFilterRules(t *testing.T) {
	s := mirrorFixture(t)
	ctx := context.Background()
	f, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{Name: "web",
		Ingress: []MirrorRuleSpec{rule("2", "accept", "TCP"), rule("1", "drop", "UDP")},
		Egress:  []MirrorRuleSpec{rule("1", "accept", "ALL")}})
	if err != nil || !strings.HasPrefix(f.ID, "tmf-") {
		t.Fatalf("create: %v %+v", err, f)
	}
	get := func() model.MirrorFilter {
		t.Helper()
		list, err := s.ListTrafficMirrorFilters(ctx, "1", MirrorFilterQuery{IDs: []string{f.ID}})
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", err, list)
		}
		return list[0]
	}
	if got := get(); len(got.Ingress) != 2 || got.Ingress[0].Priority != 1 || got.Ingress[1].Protocol != model.ProtoTCP ||
		len(got.Egress) != 1 || got.Egress[0].Direction != model.Egress || !strings.HasPrefix(got.Egress[0].ID, "tmr-") {
		t.Fatalf("filter: %+v", got)
	}

	// An identical rule adds nothing and answers the existing ID; in one
	// request too.
	existing := get().Ingress[1].ID
	ids, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, []MirrorRuleSpec{rule("2", "ACCEPT", "tcp"), rule("3", "accept", "ICMP"), rule("3", "accept", "icmp")}, nil, "", false)
	if err != nil || len(ids.Ingress) != 3 || ids.Ingress[0] != existing || ids.Ingress[1] != ids.Ingress[2] || len(ids.Egress) != 0 {
		t.Fatalf("add: %v %+v (existing %s)", err, ids, existing)
	}
	if n := len(get().Ingress); n != 3 {
		t.Errorf("%d ingress rules, want 3", n)
	}

	unchanged(t, s, "duplicate priority", "DuplicatedParam.Priority", func() error {
		_, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, []MirrorRuleSpec{rule("4", "accept", "TCP"), rule("2", "drop", "TCP")}, nil, "", false)
		return err
	})
	unchanged(t, s, "duplicate priority in create", "DuplicatedParam.Priority", func() error {
		_, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{Egress: []MirrorRuleSpec{rule("1", "accept", "TCP"), rule("1", "accept", "UDP")}})
		return err
	})
	var seven []MirrorRuleSpec
	for p := range 7 {
		seven = append(seven, rule(string(rune('4'+p)), "accept", "TCP"))
	}
	seven[6].Priority = "10"
	if _, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, seven, nil, "", false); err != nil {
		t.Fatalf("up to 10 rules: %v", err)
	}
	// The egress direction has its own 10.
	if _, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, nil, []MirrorRuleSpec{rule("2", "accept", "TCP")}, "", false); err != nil {
		t.Fatalf("egress rule: %v", err)
	}
	unchanged(t, s, "11th rule", "QuotaExceeded.TrafficMirrorRule", func() error {
		_, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, []MirrorRuleSpec{rule("5", "drop", "UDP")}, nil, "", false)
		return err
	})
	unchanged(t, s, "no rules", "MissingParameter", func() error {
		_, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, nil, nil, "", false)
		return err
	})
	unchanged(t, s, "bad rule", "IllegalParam.Protocol", func() error {
		_, err := s.CreateTrafficMirrorFilterRules(ctx, "1", f.ID, nil, []MirrorRuleSpec{rule("3", "accept", "SCTP")}, "", false)
		return err
	})
	unchanged(t, s, "other account's filter", "ResourceNotFound.TrafficMirrorFilter", func() error {
		_, err := s.CreateTrafficMirrorFilterRules(ctx, "2", f.ID, nil, []MirrorRuleSpec{rule("3", "accept", "TCP")}, "", false)
		return err
	})

	// Update a rule: TCP 443 -> ALL drops the ports; a taken priority is refused.
	tcp := get().Ingress[1]
	str := func(v string) *string { return &v }
	if err := s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", tcp.ID, UpdateMirrorRuleInput{DestinationPortRange: str("443/443"), SourceCidrBlock: str("2001:db8::/32")}); err != nil {
		t.Fatal(err)
	}
	if r := get().Ingress[1]; r.DestinationPorts != (model.PortRange{From: 443, To: 443}) || r.SourceCidr.String() != "2001:db8::/32" {
		t.Errorf("after update: %+v", r)
	} else if src, dst := MirrorCidrs(r); src != "2001:db8::/32" || dst != "::/0" {
		t.Errorf("shown CIDRs %s %s", src, dst)
	}
	if err := s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", tcp.ID, UpdateMirrorRuleInput{Protocol: str("all"), Action: str("drop")}); err != nil {
		t.Fatal(err)
	}
	if r := get().Ingress[1]; r.Protocol != model.ProtoALL || r.Action != model.PolicyDrop || r.DestinationPorts != (model.PortRange{From: -1, To: -1}) || r.ID != tcp.ID {
		t.Errorf("after protocol change: %+v", r)
	}
	unchanged(t, s, "update to taken priority", "DuplicatedParam.Priority", func() error {
		return s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", tcp.ID, UpdateMirrorRuleInput{Priority: str("1")})
	})
	unchanged(t, s, "update ports of ALL", "IllegalParam.SourcePortRange", func() error {
		return s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", tcp.ID, UpdateMirrorRuleInput{SourcePortRange: str("1/2")})
	})
	unchanged(t, s, "update unknown rule", "ResourceNotFound.TrafficMirrorRule", func() error {
		return s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", "tmr-nope", UpdateMirrorRuleInput{Priority: str("1")})
	})
	unchanged(t, s, "update other account's rule", "ResourceNotFound.TrafficMirrorRule", func() error {
		return s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "2", tcp.ID, UpdateMirrorRuleInput{Action: str("accept")})
	})
	if err := s.UpdateTrafficMirrorFilterRuleAttribute(ctx, "1", tcp.ID, UpdateMirrorRuleInput{Action: str("accept"), DryRun: true}); !ErrDryRun(err) {
		t.Errorf("dry run: %v", err)
	}

	// Delete rules: all or nothing.
	unchanged(t, s, "delete unknown rule", "ResourceNotFound.TrafficMirrorRule", func() error {
		return s.DeleteTrafficMirrorFilterRules(ctx, "1", f.ID, []string{tcp.ID, "tmr-nope"}, "", false)
	})
	if err := s.DeleteTrafficMirrorFilterRules(ctx, "1", f.ID, []string{tcp.ID, tcp.ID, get().Egress[0].ID}, "", false); err != nil {
		t.Fatal(err)
	}
	if got := get(); len(got.Ingress) != 9 || len(got.Egress) != 1 || slices.ContainsFunc(got.Ingress, func(r model.MirrorRule) bool { return r.ID == tcp.ID }) {
		t.Errorf("after delete: %d ingress %d egress", len(got.Ingress), len(got.Egress))
	}

	// Rename; bad names; delete.
	if err := s.UpdateTrafficMirrorFilterAttribute(ctx, "1", f.ID, str("renamed"), str("desc"), "", false); err != nil {
		t.Fatal(err)
	}
	if got := get(); got.Name != "renamed" || got.Description != "desc" {
		t.Errorf("after rename: %+v", got)
	}
	unchanged(t, s, "long name", "IllegalParam.TrafficMirrorFilterName", func() error {
		return s.UpdateTrafficMirrorFilterAttribute(ctx, "1", f.ID, str(strings.Repeat("n", 129)), nil, "", false)
	})
	unchanged(t, s, "http description", "IllegalParam.TrafficMirrorFilterDescription", func() error {
		_, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{Description: "https://x"})
		return err
	})
	unchanged(t, s, "other account deletes", "ResourceNotFound.TrafficMirrorFilter", func() error {
		return s.DeleteTrafficMirrorFilter(ctx, "2", f.ID, "", false)
	})
	if err := s.DeleteTrafficMirrorFilter(ctx, "1", f.ID, "", false); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListTrafficMirrorFilters(ctx, "1", MirrorFilterQuery{}); len(list) != 0 {
		t.Errorf("filters after delete: %v", list)
	}
}

func TestMirrorRuleQuotaConfigurable(t *testing.T) {
	q := DefaultQuotas()
	q.MirrorRulesPerDirection = 2
	s := New(memory.New(), Config{Quotas: q})
	ctx := context.Background()
	if _, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{Ingress: []MirrorRuleSpec{rule("3", "accept", "TCP")}}); !errs.HasCode(err, "IllegalParam.Priority") {
		t.Errorf("priority above the quota: %v", err)
	}
	_, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{Ingress: []MirrorRuleSpec{rule("1", "accept", "TCP"), rule("2", "accept", "UDP")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := New(memory.New(), Config{}).Quotas(); got.MirrorRulesPerDirection != 10 || got.MirrorSessionsPerSource != 3 {
		t.Errorf("default mirror quotas: %+v", got)
	}
}

// newSession creates a session of account 1 with filter f.
func newSession(t *testing.T, s *Service, f string, prio int, target string, sources ...string) string {
	t.Helper()
	res, err := s.CreateTrafficMirrorSession(context.Background(), "1", CreateMirrorSessionInput{
		FilterID: f, TargetID: target, TargetType: "NetworkInterface", Priority: prio, SourceIDs: sources,
	})
	if err != nil {
		t.Fatalf("create session priority %d: %v", prio, err)
	}
	return res.ID
}

func getSession(t *testing.T, s *Service, acct, id string) model.MirrorSession {
	t.Helper()
	list, err := s.ListTrafficMirrorSessions(context.Background(), acct, MirrorSessionQuery{IDs: []string{id}})
	if err != nil || len(list) != 1 {
		t.Fatalf("session %s: %v %v", id, err, list)
	}
	return list[0]
}

func TestMirrorSessionCreate(t *testing.T) {
	s, f := mirrorFixtureFilter(t)
	ctx := context.Background()
	bobFilter, err := s.CreateTrafficMirrorFilter(ctx, "2", CreateMirrorFilterInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := newSession(t, s, f.ID, 5, "eni-t", "eni-s1")
	m := getSession(t, s, "1", id)
	if !strings.HasPrefix(m.ID, "tms-") || m.Enabled || m.PacketLength != 1500 || m.VNI > model.MirrorMaxVNI || m.TargetType != model.MirrorTargetENI ||
		m.Priority != 5 || !slices.Equal(m.SourceIDs, []string{"eni-s1"}) || m.RegionID != "local" {
		t.Errorf("session: %+v", m)
	}

	ok := CreateMirrorSessionInput{FilterID: f.ID, TargetID: "eni-t", TargetType: "networkinterface", Priority: 6}
	n := func(v int) *int { return &v }
	tests := []struct {
		name string
		acct string
		edit func(*CreateMirrorSessionInput)
		code string
	}{
		{"no filter", "1", func(in *CreateMirrorSessionInput) { in.FilterID = "" }, "MissingParameter"},
		{"no target", "1", func(in *CreateMirrorSessionInput) { in.TargetID = "" }, "MissingParameter"},
		{"no target type", "1", func(in *CreateMirrorSessionInput) { in.TargetType = "" }, "MissingParameter"},
		{"slb target that is an ENI", "1", func(in *CreateMirrorSessionInput) { in.TargetType = "SLB" }, "ResourceNotFound.TrafficMirrorTarget"},
		{"bad target type", "1", func(in *CreateMirrorSessionInput) { in.TargetType = "Instance" }, "IllegalParam.TrafficMirrorTargetType"},
		{"priority 0", "1", func(in *CreateMirrorSessionInput) { in.Priority = 0 }, "IllegalParam.Priority"},
		{"priority 32767", "1", func(in *CreateMirrorSessionInput) { in.Priority = 32767 }, "IllegalParam.Priority"},
		{"taken priority", "1", func(in *CreateMirrorSessionInput) { in.Priority = 5 }, "DuplicatedParam.Priority"},
		{"vni -1", "1", func(in *CreateMirrorSessionInput) { in.VNI = n(-1) }, "IllegalParam.VirtualNetworkId"},
		{"vni 2^24", "1", func(in *CreateMirrorSessionInput) { in.VNI = n(1 << 24) }, "IllegalParam.VirtualNetworkId"},
		{"packet 63", "1", func(in *CreateMirrorSessionInput) { in.PacketLength = n(63) }, "IllegalParam.PacketLength"},
		{"packet 9601", "1", func(in *CreateMirrorSessionInput) { in.PacketLength = n(9601) }, "IllegalParam.PacketLength"},
		{"long name", "1", func(in *CreateMirrorSessionInput) { in.Name = strings.Repeat("x", 129) }, "IllegalParam.TrafficMirrorSessionName"},
		{"long description", "1", func(in *CreateMirrorSessionInput) { in.Description = strings.Repeat("x", 257) }, "IllegalParam.TrafficMirrorSessionDescription"},
		{"unknown filter", "1", func(in *CreateMirrorSessionInput) { in.FilterID = "tmf-nope" }, "ResourceNotFound.TrafficMirrorFilter"},
		{"other account's filter", "1", func(in *CreateMirrorSessionInput) { in.FilterID = bobFilter.ID }, "ResourceNotFound.TrafficMirrorFilter"},
		{"unknown target", "1", func(in *CreateMirrorSessionInput) { in.TargetID = "eni-nope" }, "ResourceNotFound.TrafficMirrorTarget"},
		{"other account's target", "1", func(in *CreateMirrorSessionInput) { in.TargetID = "eni-b" }, "ResourceNotFound.TrafficMirrorTarget"},
		{"bob uses alice's", "2", func(in *CreateMirrorSessionInput) { in.FilterID = bobFilter.ID }, "ResourceNotFound.TrafficMirrorTarget"},
		{"unknown source", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-s1", "eni-nope"} }, "ResourceNotFound.TrafficMirrorSource"},
		{"other account's source", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-b"} }, "ResourceNotFound.TrafficMirrorSource"},
		{"source in other vpc", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-x"} }, "OperationDenied.TrafficMirrorSourceVpc"},
		{"endpoint ENI as source", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-ep"} }, "OperationDenied.TrafficMirrorServiceManagedENI"},
		{"endpoint ENI as target", "1", func(in *CreateMirrorSessionInput) { in.TargetID = "eni-ep" }, "OperationDenied.TrafficMirrorServiceManagedENI"},
		{"source is target", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-t"} }, "OperationDenied.TrafficMirrorSourceIsTarget"},
		{"source twice", "1", func(in *CreateMirrorSessionInput) { in.SourceIDs = []string{"eni-s2", "eni-s2"} }, "DuplicatedParam.TrafficMirrorSourceIds"},
		{"dry run", "1", func(in *CreateMirrorSessionInput) { in.DryRun = true }, "DryRunOperation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			unchanged(t, s, tc.name, tc.code, func() error {
				_, err := s.CreateTrafficMirrorSession(ctx, tc.acct, in)
				return err
			})
		})
	}
	// Priority unique per account: bob may use 5.
	if _, err := s.CreateTrafficMirrorSession(ctx, "2", CreateMirrorSessionInput{FilterID: bobFilter.ID, TargetID: "eni-b", TargetType: "NetworkInterface", Priority: 5}); err != nil {
		t.Errorf("bob's priority 5: %v", err)
	}
	// Explicit VNI 0, packet length, enabled.
	res, err := s.CreateTrafficMirrorSession(ctx, "1", CreateMirrorSessionInput{FilterID: f.ID, TargetID: "eni-t", TargetType: "NetworkInterface",
		Priority: model.MirrorMaxPriority, VNI: n(0), PacketLength: n(9600), Enabled: true, Name: "n", Description: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if m := getSession(t, s, "1", res.ID); m.VNI != 0 || m.PacketLength != 9600 || !m.Enabled || m.Name != "n" || m.Description != "d" {
		t.Errorf("explicit fields: %+v", m)
	}
}

func TestMirrorSessionSources(t *testing.T) {
	s, f := mirrorFixtureFilter(t)
	ctx := context.Background()
	a := newSession(t, s, f.ID, 1, "eni-t", "eni-s1")
	b := newSession(t, s, f.ID, 2, "eni-t", "eni-s1", "eni-s2")
	c := newSession(t, s, f.ID, 3, "eni-s3", "eni-s1")
	// eni-s1 is in 3 sessions: a fourth is refused, on creation and on add.
	unchanged(t, s, "4th session of a source", "QuotaExceeded.TrafficMirrorSessionPerSource", func() error {
		_, err := s.CreateTrafficMirrorSession(ctx, "1", CreateMirrorSessionInput{FilterID: f.ID, TargetID: "eni-t", TargetType: "NetworkInterface", Priority: 4, SourceIDs: []string{"eni-s1"}})
		return err
	})
	d := newSession(t, s, f.ID, 4, "eni-t", "eni-s2")
	unchanged(t, s, "add a 4th session's source", "QuotaExceeded.TrafficMirrorSessionPerSource", func() error {
		return s.AddSourcesToTrafficMirrorSession(ctx, "1", d, []string{"eni-s4", "eni-s1"}, "", false)
	})
	// A source in another zone than the target (another host): the
	// agents relay its copies.
	if err := s.AddSourcesToTrafficMirrorSession(ctx, "1", d, []string{"eni-z"}, "", false); err != nil {
		t.Errorf("add a source in another zone: %v", err)
	}
	if m := getSession(t, s, "1", d); !slices.Equal(m.SourceIDs, []string{"eni-s2", "eni-z"}) {
		t.Errorf("sources after adding one in another zone: %v", m.SourceIDs)
	}
	// Adding what the session has changes nothing; the others are checked.
	if err := s.AddSourcesToTrafficMirrorSession(ctx, "1", a, []string{"eni-s1", "eni-s4"}, "", false); err != nil {
		t.Fatal(err)
	}
	if m := getSession(t, s, "1", a); !slices.Equal(m.SourceIDs, []string{"eni-s1", "eni-s4"}) {
		t.Errorf("sources after add: %v", m.SourceIDs)
	}
	for name, tc := range map[string]struct {
		ids  []string
		code string
	}{
		"target":      {[]string{"eni-t"}, "OperationDenied.TrafficMirrorSourceIsTarget"},
		"other vpc":   {[]string{"eni-x"}, "OperationDenied.TrafficMirrorSourceVpc"},
		"other acct":  {[]string{"eni-b"}, "ResourceNotFound.TrafficMirrorSource"},
		"none":        {nil, "MissingParameter"},
		"twice":       {[]string{"eni-s3", "eni-s3"}, "DuplicatedParam.TrafficMirrorSourceIds"},
		"dry run":     {[]string{"eni-s3"}, "DryRunOperation"},
		"bob's token": {[]string{"eni-s3"}, "ResourceNotFound.TrafficMirrorSession"},
	} {
		acct, dry := "1", name == "dry run"
		if name == "bob's token" {
			acct = "2"
		}
		unchanged(t, s, "add "+name, tc.code, func() error { return s.AddSourcesToTrafficMirrorSession(ctx, acct, a, tc.ids, "", dry) })
	}
	unchanged(t, s, "remove a non-source", "ResourceNotFound.TrafficMirrorSource", func() error {
		return s.RemoveSourcesFromTrafficMirrorSession(ctx, "1", a, []string{"eni-s4", "eni-s2"}, "", false)
	})
	if err := s.RemoveSourcesFromTrafficMirrorSession(ctx, "1", b, []string{"eni-s1"}, "", false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSourcesToTrafficMirrorSession(ctx, "1", d, []string{"eni-s1"}, "", false); err != nil {
		t.Errorf("a freed slot: %v", err)
	}

	// Update: a target among the sources, or in another VPC than the
	// sources, is refused; a taken priority too.
	str := func(v string) *string { return &v }
	n := func(v int) *int { return &v }
	yes := true
	unchanged(t, s, "target among sources", "OperationDenied.TrafficMirrorSourceIsTarget", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", a, UpdateMirrorSessionInput{TargetID: str("eni-s4")})
	})
	unchanged(t, s, "target in other vpc", "OperationDenied.TrafficMirrorSourceVpc", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", a, UpdateMirrorSessionInput{TargetID: str("eni-x")})
	})
	unchanged(t, s, "taken priority", "DuplicatedParam.Priority", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", a, UpdateMirrorSessionInput{Priority: n(2)})
	})
	unchanged(t, s, "slb without a target", "MissingParameter", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", a, UpdateMirrorSessionInput{TargetType: str("SLB")})
	})
	unchanged(t, s, "unknown filter", "ResourceNotFound.TrafficMirrorFilter", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", a, UpdateMirrorSessionInput{FilterID: str("tmf-nope")})
	})
	unchanged(t, s, "bob updates", "ResourceNotFound.TrafficMirrorSession", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "2", a, UpdateMirrorSessionInput{Enabled: &yes})
	})
	f2, err := s.CreateTrafficMirrorFilter(ctx, "1", CreateMirrorFilterInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTrafficMirrorSessionAttribute(ctx, "1", c, UpdateMirrorSessionInput{
		TargetID: str("eni-t"), FilterID: str(f2.ID), Priority: n(3), VNI: n(77), PacketLength: n(128), Enabled: &yes, Name: str("c"),
	}); err != nil {
		t.Fatal(err)
	}
	if m := getSession(t, s, "1", c); m.TargetID != "eni-t" || m.FilterID != f2.ID || m.VNI != 77 || m.PacketLength != 128 || !m.Enabled || m.Name != "c" {
		t.Errorf("after update: %+v", m)
	}

	// Filters of the list.
	ids := func(q MirrorSessionQuery) []string {
		list, err := s.ListTrafficMirrorSessions(ctx, "1", q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range list {
			out = append(out, m.ID)
		}
		return out
	}
	no := false
	for name, tc := range map[string]struct {
		q    MirrorSessionQuery
		want []string
	}{
		"all":     {MirrorSessionQuery{}, []string{a, b, c, d}},
		"source":  {MirrorSessionQuery{SourceID: "eni-s1"}, []string{a, c, d}},
		"target":  {MirrorSessionQuery{TargetID: "eni-t"}, []string{a, b, c, d}},
		"filter":  {MirrorSessionQuery{FilterID: f2.ID}, []string{c}},
		"enabled": {MirrorSessionQuery{Enabled: &yes}, []string{c}},
		"off":     {MirrorSessionQuery{Enabled: &no}, []string{a, b, d}},
		"prio":    {MirrorSessionQuery{Priority: n(2)}, []string{b}},
		"vni":     {MirrorSessionQuery{VNI: n(77)}, []string{c}},
		"name":    {MirrorSessionQuery{Name: "c"}, []string{c}},
		"ids":     {MirrorSessionQuery{IDs: []string{d, a}}, []string{a, d}},
	} {
		if got := ids(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if list, _ := s.ListTrafficMirrorSessions(ctx, "2", MirrorSessionQuery{}); len(list) != 0 {
		t.Errorf("bob sees %v", list)
	}
}

func TestMirrorDependencies(t *testing.T) {
	s, f := mirrorFixtureFilter(t)
	ctx := context.Background()
	a := newSession(t, s, f.ID, 1, "eni-t", "eni-s1", "eni-p", "eni-s2")
	b := newSession(t, s, f.ID, 2, "eni-q", "eni-s1")

	unchanged(t, s, "delete used filter", "DependencyViolation.TrafficMirrorSession", func() error {
		return s.DeleteTrafficMirrorFilter(ctx, "1", f.ID, "", false)
	})
	unchanged(t, s, "delete target ENI", "DependencyViolation.TrafficMirrorSession", func() error {
		return s.DeleteNetworkInterface(ctx, "1", "eni-t")
	})
	unchanged(t, s, "delete instance of target ENI", "DependencyViolation.TrafficMirrorSession", func() error {
		return s.DeleteInstance(ctx, "1", "i-2", false, false)
	})
	unchanged(t, s, "delete two instances, one a target's", "DependencyViolation.TrafficMirrorSession", func() error {
		return s.DeleteInstances(ctx, "1", []string{"i-1", "i-2"}, false, false)
	})
	// A source goes, and leaves the sessions in the same transaction.
	if err := s.DeleteNetworkInterface(ctx, "1", "eni-s1"); err != nil {
		t.Fatal(err)
	}
	if m := getSession(t, s, "1", a); !slices.Equal(m.SourceIDs, []string{"eni-p", "eni-s2"}) {
		t.Errorf("a's sources after ENI deletion: %v", m.SourceIDs)
	}
	if m := getSession(t, s, "1", b); len(m.SourceIDs) != 0 {
		t.Errorf("b's sources after ENI deletion: %v", m.SourceIDs)
	}
	if err := s.DeleteInstance(ctx, "1", "i-1", false, true); !ErrDryRun(err) {
		t.Errorf("dry run: %v", err)
	}
	if err := s.DeleteInstance(ctx, "1", "i-1", false, false); err != nil {
		t.Fatal(err)
	}
	if m := getSession(t, s, "1", a); !slices.Equal(m.SourceIDs, []string{"eni-s2"}) {
		t.Errorf("a's sources after instance deletion: %v", m.SourceIDs)
	}
	// Once the sessions are gone, so may the filter and the target.
	unchanged(t, s, "dry run delete", "DryRunOperation", func() error { return s.DeleteTrafficMirrorSession(ctx, "1", a, "", true) })
	unchanged(t, s, "bob deletes", "ResourceNotFound.TrafficMirrorSession", func() error { return s.DeleteTrafficMirrorSession(ctx, "2", a, "", false) })
	for _, id := range []string{a, b} {
		if err := s.DeleteTrafficMirrorSession(ctx, "1", id, "", false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteNetworkInterface(ctx, "1", "eni-t"); err != nil {
		t.Error(err)
	}
	if err := s.DeleteInstance(ctx, "1", "i-2", false, false); err != nil {
		t.Error(err)
	}
	if err := s.DeleteTrafficMirrorFilter(ctx, "1", f.ID, "", false); err != nil {
		t.Error(err)
	}
}

func TestMirrorClientToken(t *testing.T) {
	s := mirrorFixture(t)
	ctx := context.Background()
	in := CreateMirrorFilterInput{Name: "x", Ingress: []MirrorRuleSpec{rule("1", "accept", "TCP")}, ClientToken: "tok"}
	first, err := s.CreateTrafficMirrorFilter(ctx, "1", in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateTrafficMirrorFilter(ctx, "1", in)
	if err != nil || again != first {
		t.Errorf("replay: %v %+v, want %+v", err, again, first)
	}
	in.Name = "y"
	if _, err := s.CreateTrafficMirrorFilter(ctx, "1", in); !errs.HasCode(err, "IdempotentParameterMismatch") {
		t.Errorf("other parameters: %v", err)
	}
	if list, _ := s.ListTrafficMirrorFilters(ctx, "1", MirrorFilterQuery{}); len(list) != 1 {
		t.Errorf("%d filters, want 1", len(list))
	}
	// Another account's token is its own.
	if other, err := s.CreateTrafficMirrorFilter(ctx, "2", CreateMirrorFilterInput{Name: "x", ClientToken: "tok"}); err != nil || other.ID == first.ID {
		t.Errorf("bob's token: %v %+v", err, other)
	}

	rules := []MirrorRuleSpec{rule("2", "drop", "UDP")}
	r1, err := s.CreateTrafficMirrorFilterRules(ctx, "1", first.ID, rules, nil, "rt", false)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.CreateTrafficMirrorFilterRules(ctx, "1", first.ID, rules, nil, "rt", false)
	if err != nil || !slices.Equal(r1.Ingress, r2.Ingress) {
		t.Errorf("rules replay: %v %v %v", err, r1, r2)
	}

	sin := CreateMirrorSessionInput{FilterID: first.ID, TargetID: "eni-t", TargetType: "NetworkInterface", Priority: 9, ClientToken: "st"}
	s1, err := s.CreateTrafficMirrorSession(ctx, "1", sin)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := s.CreateTrafficMirrorSession(ctx, "1", sin); err != nil || s2 != s1 {
		t.Errorf("session replay: %v %v %v", err, s1, s2)
	}
	// A delete retried with its token answers success again.
	for range 2 {
		if err := s.DeleteTrafficMirrorSession(ctx, "1", s1.ID, "del", false); err != nil {
			t.Errorf("delete with token: %v", err)
		}
	}
	if err := s.DeleteTrafficMirrorSession(ctx, "1", s1.ID, "", false); !errs.HasCode(err, "ResourceNotFound.TrafficMirrorSession") {
		t.Errorf("delete again without token: %v", err)
	}
}

// TestMirrorSessionAcrossPeering: a source in another VPC than the target
// is refused until an activated peering connection joins the two VPCs
// (one still Accepting does not), then accepted when added, on creation
// and when the target changes.
func TestMirrorSessionAcrossPeering(t *testing.T) {
	s, f := mirrorFixtureFilter(t)
	ctx := context.Background()
	a := newSession(t, s, f.ID, 1, "eni-t", "eni-s1")
	addX := func() error { return s.AddSourcesToTrafficMirrorSession(ctx, "1", a, []string{"eni-x"}, "", false) }
	unchanged(t, s, "a source in an unpeered VPC", "OperationDenied.TrafficMirrorSourceVpc", addX)
	pcc := model.PeerConnection{ID: "pcc-1", AccountID: "1", VpcID: "vpc-2", AcceptingAccountID: "1", AcceptingVpcID: "vpc-1", Status: model.PeerAccepting}
	putRecords(t, s, map[string]any{model.PrefixPeerConnection + pcc.ID: pcc})
	unchanged(t, s, "a source across a peering not yet accepted", "OperationDenied.TrafficMirrorSourceVpc", addX)
	pcc.Status = model.PeerActivated
	putRecords(t, s, map[string]any{model.PrefixPeerConnection + pcc.ID: pcc})
	if err := addX(); err != nil {
		t.Fatalf("a source across an activated peering: %v", err)
	}
	if m := getSession(t, s, "1", a); !slices.Equal(m.SourceIDs, []string{"eni-s1", "eni-x"}) {
		t.Errorf("sources %v, want eni-s1 and eni-x", m.SourceIDs)
	}
	// Either way round, on creation and on a new target.
	b := newSession(t, s, f.ID, 2, "eni-x", "eni-s2")
	str := func(v string) *string { return &v }
	if err := s.UpdateTrafficMirrorSessionAttribute(ctx, "1", b, UpdateMirrorSessionInput{TargetID: str("eni-t")}); err != nil {
		t.Errorf("a target in the source's VPC: %v", err)
	}
	if err := s.UpdateTrafficMirrorSessionAttribute(ctx, "1", b, UpdateMirrorSessionInput{TargetID: str("eni-x")}); err != nil {
		t.Errorf("a target back across the peering: %v", err)
	}
}

// TestMirrorToLoadBalancer: an internal load balancer of the account is a
// target (TrafficMirrorTargetType SLB); a source in an unpeered VPC is
// refused as for an ENI target; another account's load balancer does not
// exist; the load balancer cannot be deleted while it is a target, and a
// session moves from an ENI target to a load balancer and back.
func TestMirrorToLoadBalancer(t *testing.T) {
	ctx := context.Background()
	s, f := mirrorFixtureFilter(t)
	putRecords(t, s, map[string]any{
		model.PrefixLoadBalancer + "lb-1": model.LoadBalancer{ID: "lb-1", AccountID: "1", VpcID: "vpc-1", ZoneID: "zone-a", Status: model.LBStatusActive},
		model.PrefixLoadBalancer + "lb-b": model.LoadBalancer{ID: "lb-b", AccountID: "2", VpcID: "vpc-b", Status: model.LBStatusActive},
	})
	in := CreateMirrorSessionInput{FilterID: f.ID, TargetID: "lb-1", TargetType: "slb", Priority: 1, SourceIDs: []string{"eni-s1"}}
	created, err := s.CreateTrafficMirrorSession(ctx, "1", in)
	if err != nil {
		t.Fatalf("a load balancer target: %v", err)
	}
	sessions, err := s.ListTrafficMirrorSessions(ctx, "1", MirrorSessionQuery{})
	if err != nil || len(sessions) != 1 || sessions[0].TargetID != "lb-1" || sessions[0].TargetType != model.MirrorTargetSLB {
		t.Fatalf("the session: %+v %v", sessions, err)
	}
	unchanged(t, s, "source in an unpeered VPC", "OperationDenied.TrafficMirrorSourceVpc", func() error {
		return s.AddSourcesToTrafficMirrorSession(ctx, "1", created.ID, []string{"eni-x"}, "", false)
	})
	unchanged(t, s, "another account's load balancer", "ResourceNotFound.TrafficMirrorTarget", func() error {
		in := in
		in.TargetID, in.Priority = "lb-b", 2
		_, err := s.CreateTrafficMirrorSession(ctx, "1", in)
		return err
	})
	unchanged(t, s, "delete a target", "DependencyViolation.TrafficMirrorSession", func() error {
		return s.DeleteLoadBalancer(ctx, "1", "lb-1")
	})
	if err := s.UpdateTrafficMirrorSessionAttribute(ctx, "1", created.ID, UpdateMirrorSessionInput{TargetID: strp("eni-t"), TargetType: strp("NetworkInterface")}); err != nil {
		t.Fatalf("to an ENI target: %v", err)
	}
	if err := s.DeleteLoadBalancer(ctx, "1", "lb-1"); err != nil {
		t.Fatalf("delete the load balancer once no session targets it: %v", err)
	}
	unchanged(t, s, "back to a deleted load balancer", "ResourceNotFound.TrafficMirrorTarget", func() error {
		return s.UpdateTrafficMirrorSessionAttribute(ctx, "1", created.ID, UpdateMirrorSessionInput{TargetID: strp("lb-1"), TargetType: strp("SLB")})
	})
}
