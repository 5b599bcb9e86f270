package service

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// vpcVNIs returns the VNI of every VPC in the store, by VPC ID.
func vpcVNIs(t *testing.T, s *Service) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		return listJSON(tx, model.PrefixVPC, func(v *model.VPC) error { out[v.ID] = v.VNI; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkVNIs fails unless every VNI is in 1..MaxVNI and no two are equal.
func checkVNIs(t *testing.T, vnis map[string]uint32) {
	t.Helper()
	seen := map[uint32]string{}
	for id, vni := range vnis {
		if vni == 0 || vni > model.MaxVNI {
			t.Errorf("%s: VNI %d not in 1..%d", id, vni, model.MaxVNI)
		}
		if other, ok := seen[vni]; ok {
			t.Errorf("%s and %s share VNI %d", id, other, vni)
		}
		seen[vni] = id
	}
}

// CreateVpc gives each VPC its own VNI, in 1..2^24-1, stored with it.
func TestCreateVpcAssignsVNI(t *testing.T) {
	s := New(memory.New(), Config{})
	ctx := context.Background()
	created := map[string]bool{}
	for i := range 40 {
		res, err := s.CreateVpc(ctx, fmt.Sprintf("acct-%d", i%4), CreateVpcInput{CidrBlock: fmt.Sprintf("10.%d.0.0/16", i)})
		if err != nil {
			t.Fatalf("CreateVpc %d: %v", i, err)
		}
		created[res.VpcID] = true
	}
	vnis := vpcVNIs(t, s)
	if len(vnis) != len(created) {
		t.Fatalf("%d VPCs stored, %d created", len(vnis), len(created))
	}
	checkVNIs(t, vnis)
}

// AssignMissingVNIs fills the VPCs stored without a VNI (distinct from
// each other and from the VNIs already given), keeps the others, and
// writes nothing at all when none is missing.
func TestAssignMissingVNIs(t *testing.T) {
	s := New(memory.New(), Config{})
	ctx := context.Background()
	cidr := netip.MustParsePrefix("10.0.0.0/16")
	recs := map[string]any{
		model.PrefixVPC + "vpc-has":  model.VPC{ID: "vpc-has", AccountID: "1", CidrBlock: cidr, VNI: 7},
		model.PrefixVPC + "vpc-max":  model.VPC{ID: "vpc-max", AccountID: "1", CidrBlock: cidr, VNI: model.MaxVNI},
		model.PrefixVPC + "vpc-none": model.VPC{ID: "vpc-none", AccountID: "1", CidrBlock: cidr, Name: "old"},
	}
	for i := range 20 {
		id := fmt.Sprintf("vpc-old%02d", i)
		recs[model.PrefixVPC+id] = model.VPC{ID: id, AccountID: "2", CidrBlock: cidr}
	}
	putRecords(t, s, recs)

	if err := s.AssignMissingVNIs(ctx); err != nil {
		t.Fatal(err)
	}
	vnis := vpcVNIs(t, s)
	if len(vnis) != len(recs) {
		t.Fatalf("%d VPCs after, %d before", len(vnis), len(recs))
	}
	checkVNIs(t, vnis)
	if vnis["vpc-has"] != 7 || vnis["vpc-max"] != model.MaxVNI {
		t.Errorf("existing VNIs changed: vpc-has %d (want 7), vpc-max %d (want %d)", vnis["vpc-has"], vnis["vpc-max"], model.MaxVNI)
	}
	// The rest of the record is kept.
	var v model.VPC
	if err := s.view(ctx, func(tx store.ReadTxn) error {
		_, err := getJSON(tx, model.PrefixVPC+"vpc-none", &v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v.Name != "old" || v.AccountID != "1" || v.CidrBlock != cidr {
		t.Errorf("vpc-none after: %+v", v)
	}

	// Nothing missing now: no write, the revision stays, VNIs stay.
	rev := s.st.Revision()
	before := storeSnapshot(t, s)
	if err := s.AssignMissingVNIs(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.st.Revision(); got != rev {
		t.Errorf("AssignMissingVNIs with none missing moved the revision %d -> %d", rev, got)
	}
	after := storeSnapshot(t, s)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %s -> %s", k, v, after[k])
		}
	}
}

// underlayFixture is a service with the admin account "0" and a regular
// account "1", on a memory store (returned for its watch history).
func underlayFixture(t *testing.T) (*Service, store.Store) {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	s := New(st, Config{Now: func() time.Time { n++; return base.Add(time.Duration(n) * time.Second) }})
	putRecords(t, s, map[string]any{
		model.PrefixAccount + "0": model.Account{ID: "0", Name: "admin", Admin: true},
		model.PrefixAccount + "1": model.Account{ID: "1", Name: "alice"},
	})
	return s, st
}

// getUnderlay reads zone's underlay record.
func getUnderlay(t *testing.T, s *Service, zone string) (model.Underlay, bool) {
	t.Helper()
	var u model.Underlay
	var ok bool
	if err := s.view(context.Background(), func(tx store.ReadTxn) error {
		var err error
		ok, err = getJSON(tx, model.PrefixUnderlay+zone, &u)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return u, ok
}

// underlayEvents returns the events on the underlay records with a
// revision above after: a fence key is written last, and the history is
// read up to it.
func underlayEvents(t *testing.T, st store.Store, after int64) []store.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const fence = "test-fence/underlay"
	if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put(fence, []byte(time.Now().String())) }); err != nil {
		t.Fatal(err)
	}
	ch, err := st.Watch(ctx, "", after)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("watch closed before the fence")
			}
			if ev.Key == fence {
				return out
			}
			if len(ev.Key) >= len(model.PrefixUnderlay) && ev.Key[:len(model.PrefixUnderlay)] == model.PrefixUnderlay {
				out = append(out, ev)
			}
		case <-ctx.Done():
			t.Fatal("no fence event")
		}
	}
}

// RegisterZone validates the underlay an agent announces: a unicast
// address other hosts can reach (IPv4 or IPv6, no zone, no loopback,
// link-local, multicast or unspecified), a port 1..65534 (the next one relays mirrored copies) (default 4798);
// a refused one stores nothing, not even the zone's status.
func TestRegisterZoneUnderlayValidation(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		addr, port string
		code       string // "" = accepted
		want       model.Underlay
	}{
		{"ipv4 default port", "10.0.0.2", "", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("10.0.0.2"), Port: model.DefaultUnderlayPort}},
		{"ipv4 public with port", "198.51.100.7", "4800", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("198.51.100.7"), Port: 4800}},
		{"ipv6", "2001:db8::2", "4800", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("2001:db8::2"), Port: 4800}},
		{"ipv6 unique local", "fd00::2", "1", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("fd00::2"), Port: 1}},
		{"ipv4-mapped is stored as ipv4", "::ffff:10.0.0.9", "", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("10.0.0.9"), Port: model.DefaultUnderlayPort}},
		{"not an address", "x", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"a cidr", "10.0.0.2/24", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv6 with a zone", "fe80::1%eth0", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv6 link-local", "fe80::1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv4 loopback", "127.0.0.1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv6 loopback", "::1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv4 unspecified", "0.0.0.0", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv6 unspecified", "::", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv4 multicast", "224.0.0.1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv6 multicast", "ff02::1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv4 link-local", "169.254.1.1", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"ipv4 broadcast", "255.255.255.255", "", "InvalidParameter.UnderlayAddress", model.Underlay{}},
		{"port 0", "10.0.0.2", "0", "InvalidParameter.UnderlayPort", model.Underlay{}},
		{"port too big", "10.0.0.2", "70000", "InvalidParameter.UnderlayPort", model.Underlay{}},
		{"port 65535 (the relay takes the next one)", "10.0.0.2", "65535", "InvalidParameter.UnderlayPort", model.Underlay{}},
		{"port 65534", "10.0.0.2", "65534", "", model.Underlay{ZoneID: "z-a", Addr: netip.MustParseAddr("10.0.0.2"), Port: 65534}},
		{"port not a number", "10.0.0.2", "abc", "InvalidParameter.UnderlayPort", model.Underlay{}},
		{"port negative", "10.0.0.2", "-1", "InvalidParameter.UnderlayPort", model.Underlay{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := underlayFixture(t)
			call := func() error {
				return s.RegisterZone(ctx, "0", "", "z-a", "host-a", 1, UnderlayRequest{Addr: tc.addr, Port: tc.port})
			}
			if tc.code != "" {
				unchanged(t, s, tc.name, tc.code, call)
				wantCode(t, tc.name, call(), tc.code, 400)
				return
			}
			if err := call(); err != nil {
				t.Fatalf("RegisterZone: %v", err)
			}
			got, ok := getUnderlay(t, s, "z-a")
			if !ok || got != tc.want {
				t.Errorf("underlay record %+v (present %v), want %+v", got, ok, tc.want)
			}
			var zs model.ZoneStatus
			if err := s.view(ctx, func(tx store.ReadTxn) error {
				ok, err := getJSON(tx, model.PrefixZoneStatus+"z-a", &zs)
				if !ok {
					return fmt.Errorf("no zone status")
				}
				return err
			}); err != nil || zs.Host != "host-a" {
				t.Errorf("zone status %+v: %v", zs, err)
			}
		})
	}
}

// Heartbeats repeat the underlay: an unchanged one does not rewrite the
// record (every agent watches it), a changed one does; an empty address
// removes it (the zone still registered); a zone without an underlay and
// a heartbeat without one write no record.
func TestRegisterZoneUnderlayHeartbeats(t *testing.T) {
	ctx := context.Background()
	s, st := underlayFixture(t)
	register := func(addr, port string) {
		t.Helper()
		if err := s.RegisterZone(ctx, "0", "", "z-a", "host-a", 1, UnderlayRequest{Addr: addr, Port: port}); err != nil {
			t.Fatalf("RegisterZone %s %s: %v", addr, port, err)
		}
	}
	keys := func(evs []store.Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Type.String()+" "+e.Key)
		}
		return out
	}

	// No underlay: no record.
	register("", "")
	if u, ok := getUnderlay(t, s, "z-a"); ok {
		t.Fatalf("underlay without an address: %+v", u)
	}

	register("10.0.0.2", "")
	first := st.Revision()
	// The same underlay, with the port spelled out or left to its default.
	register("10.0.0.2", "")
	register("10.0.0.2", fmt.Sprint(model.DefaultUnderlayPort))
	if evs := underlayEvents(t, st, first); len(evs) != 0 {
		t.Errorf("unchanged heartbeats rewrote the underlay: %v", keys(evs))
	}
	if st.Revision() <= first {
		t.Fatalf("the heartbeats wrote nothing at all (revision %d): the zone status should move", st.Revision())
	}

	// A new port is written, once.
	rev := st.Revision()
	register("10.0.0.2", "4800")
	if evs := underlayEvents(t, st, rev); len(evs) != 1 || evs[0].Type != store.EventPut || evs[0].Key != model.PrefixUnderlay+"z-a" {
		t.Errorf("changed port: events %v, want one PUT of %s", keys(evs), model.PrefixUnderlay+"z-a")
	}
	if u, _ := getUnderlay(t, s, "z-a"); u.Port != 4800 || u.Addr != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("after the port change: %+v", u)
	}

	// An empty address removes it; the zone stays registered.
	rev = st.Revision()
	register("", "")
	if u, ok := getUnderlay(t, s, "z-a"); ok {
		t.Errorf("underlay after an empty address: %+v", u)
	}
	if evs := underlayEvents(t, st, rev); len(evs) != 1 || evs[0].Type != store.EventDelete {
		t.Errorf("removal: events %v, want one DELETE", keys(evs))
	}
	if _, ok := storeSnapshot(t, s)[model.PrefixZoneStatus+"z-a"]; !ok {
		t.Error("zone status gone with the underlay")
	}
	// And removing what is not there writes no underlay event.
	rev = st.Revision()
	register("", "")
	if evs := underlayEvents(t, st, rev); len(evs) != 0 {
		t.Errorf("second removal: events %v", keys(evs))
	}
}

// Two zones cannot announce the same underlay (address and port): the
// second is refused and nothing is stored; another port, or the same zone
// again, is fine. An agent key of one zone cannot set another zone's.
func TestRegisterZoneUnderlayConflicts(t *testing.T) {
	ctx := context.Background()
	s, _ := underlayFixture(t)
	if err := s.RegisterZone(ctx, "0", "", "z-a", "host-a", 1, UnderlayRequest{Addr: "10.0.0.2"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		caller, keyZone   string
		zone, addr, port  string
		code              string
		status            int
		wantUnderlayAfter bool
	}{
		{"same address and default port", "0", "", "z-b", "10.0.0.2", "", "InvalidParameter.UnderlayAddress", 400, false},
		{"same address and port spelled out", "0", "", "z-b", "10.0.0.2", "4798", "InvalidParameter.UnderlayAddress", 400, false},
		{"same address ipv4-mapped", "0", "", "z-b", "::ffff:10.0.0.2", "", "InvalidParameter.UnderlayAddress", 400, false},
		{"agent key of another zone", "0", "z-a", "z-b", "10.0.0.3", "", "Forbidden.AgentZone", 403, false},
		{"not the admin", "1", "", "z-b", "10.0.0.3", "", "Forbidden.NotAdmin", 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := func() error {
				return s.RegisterZone(ctx, tc.caller, tc.keyZone, tc.zone, "host-b", 1, UnderlayRequest{Addr: tc.addr, Port: tc.port})
			}
			unchanged(t, s, tc.name, tc.code, call)
			wantCode(t, tc.name, call(), tc.code, tc.status)
			if u, ok := getUnderlay(t, s, tc.zone); ok {
				t.Errorf("%s has an underlay after a refusal: %+v", tc.zone, u)
			}
		})
	}
	// Zone a's record is intact.
	if u, ok := getUnderlay(t, s, "z-a"); !ok || u.Addr != netip.MustParseAddr("10.0.0.2") || u.Port != model.DefaultUnderlayPort {
		t.Errorf("z-a after the refusals: %+v %v", u, ok)
	}
	// Another port on the same address is another host end.
	if err := s.RegisterZone(ctx, "0", "z-b", "z-b", "host-b", 1, UnderlayRequest{Addr: "10.0.0.2", Port: "4800"}); err != nil {
		t.Errorf("same address, another port: %v", err)
	}
	// Zone a re-announcing its own underlay is no clash.
	if err := s.RegisterZone(ctx, "0", "z-a", "z-a", "host-a", 2, UnderlayRequest{Addr: "10.0.0.2"}); err != nil {
		t.Errorf("z-a again: %v", err)
	}
	// Once zone a leaves the address, zone b may take it.
	if err := s.RegisterZone(ctx, "0", "", "z-a", "host-a", 3, UnderlayRequest{Addr: "10.0.0.4"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterZone(ctx, "0", "", "z-b", "host-b", 2, UnderlayRequest{Addr: "10.0.0.2"}); err != nil {
		t.Errorf("address freed by z-a: %v", err)
	}
	// SetZoneUnderlay (palisade up's zone) is held to the same rules.
	if err := s.SetZoneUnderlay(ctx, "z-c", UnderlayRequest{Addr: "10.0.0.4"}); err == nil {
		t.Error("SetZoneUnderlay took z-a's underlay")
	}
	if err := s.SetZoneUnderlay(ctx, "z-c", UnderlayRequest{Addr: "127.0.0.1"}); err == nil {
		t.Error("SetZoneUnderlay took a loopback address")
	}
	if err := s.SetZoneUnderlay(ctx, "z-c", UnderlayRequest{Addr: "10.0.0.5", Port: "4799"}); err != nil {
		t.Errorf("SetZoneUnderlay: %v", err)
	} else if u, ok := getUnderlay(t, s, "z-c"); !ok || u != (model.Underlay{ZoneID: "z-c", Addr: netip.MustParseAddr("10.0.0.5"), Port: 4799}) {
		t.Errorf("z-c: %+v %v", u, ok)
	}
}

// The agents mirror the underlays.
func TestAgentPrefixesIncludeUnderlay(t *testing.T) {
	for _, p := range AgentPrefixes() {
		if p == model.PrefixUnderlay {
			return
		}
	}
	t.Errorf("AgentPrefixes %v lacks %q", AgentPrefixes(), model.PrefixUnderlay)
}
