package flowlog

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// testInside is a VPC 10.0.0.0/16 with a secondary block 172.20.0.0/16,
// IPv6 2001:db8:1::/56 and a peering route to 192.168.0.0/16.
var testInside = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/16"),
	netip.MustParsePrefix("172.20.0.0/16"),
	netip.MustParsePrefix("2001:db8:1::/56"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

// flowTo is an observation of ENI "a" (10.0.1.10) with remote: out to it,
// or in from it.
func flowTo(dir, remote string) Observation {
	r := netip.MustParseAddr(remote)
	local := addrA
	if r.Is6() {
		local = netip.MustParseAddr("2001:db8:1::10")
	}
	o := Observation{ENI: "a", Direction: dir, Src: local, Dst: r, SrcPort: 40000, DstPort: 443, Proto: 6,
		Action: ActionAccept, Packets: 1, Bytes: 60}
	if dir == DirIn {
		o.Src, o.Dst, o.SrcPort, o.DstPort = r, local, 443, 40000
	}
	return o
}

// TestPathFilterKeeps: an internetGateway filter keeps what has its
// remote end (the destination going out, the source coming in) outside
// the VPC's blocks, its peering routes, PrivateLink's transit range and
// the link-local, broadcast and multicast blocks; a nil filter (all)
// keeps everything.
func TestPathFilterKeeps(t *testing.T) {
	f := NewInternetPath(testInside)
	tests := []struct {
		name, dir, remote string
		keep              bool
	}{
		{"same vSwitch", DirOut, "10.0.1.20", false},
		{"other vSwitch, in", DirIn, "10.0.2.20", false},
		{"secondary CIDR", DirOut, "172.20.3.4", false},
		{"peered VPC", DirOut, "192.168.7.8", false},
		{"peered VPC, in", DirIn, "192.168.7.8", false},
		{"PrivateLink transit address, in", DirIn, "100.64.0.7", false},
		{"metadata", DirOut, "100.100.100.200", false},
		{"resolver", DirOut, "100.100.2.136", false},
		{"link-local", DirOut, "169.254.0.1", false},
		{"DHCP broadcast", DirOut, "255.255.255.255", false},
		{"multicast", DirOut, "224.0.0.251", false},
		{"VPC IPv6", DirOut, "2001:db8:1::20", false},
		{"IPv6 link-local", DirIn, "fe80::1", false},
		{"internet, out (SNAT or EIP)", DirOut, "203.0.113.9", true},
		{"internet client, in (EIP or forward entry, DNAT before the ENI)", DirIn, "198.51.100.7", true},
		{"public address next to the secondary block", DirOut, "172.21.0.1", true},
		{"just past the VPC", DirOut, "10.1.0.0", true},
		{"IPv4-mapped internet address", DirOut, "::ffff:203.0.113.9", true},
		{"IPv4-mapped VPC address", DirIn, "::ffff:10.0.2.20", false},
		{"IPv6 internet", DirOut, "2001:db8:2::1", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := flowTo(tc.dir, tc.remote)
			if got := f.Keeps(&o); got != tc.keep {
				t.Errorf("internetGateway keeps %s %s: %v, want %v", tc.dir, tc.remote, got, tc.keep)
			}
			var all *PathFilter
			if !all.Keeps(&o) {
				t.Errorf("all drops %s %s", tc.dir, tc.remote)
			}
			r := Record{Direction: o.Direction, SrcAddr: o.Src.String(), DstAddr: o.Dst.String(), Action: ActionAccept, LogStatus: StatusOK}
			if got := f.KeepsRecord(&r); got != tc.keep {
				t.Errorf("internetGateway keeps the record %+v: %v, want %v", r, got, tc.keep)
			}
		})
	}
	if o := (Observation{ENI: "a", Direction: DirOut, Src: addrA}); f.Keeps(&o) {
		t.Error("kept an observation without a remote address")
	}
	if r := (Record{LogStatus: StatusNoData}); !f.KeepsRecord(&r) {
		t.Error("dropped a NODATA record")
	}
}

// TestNewInternetPath: nested blocks collapse into the wider one, the
// families are apart and sorted, the fixed blocks are there, and two
// filters of the same blocks in another order are equal.
func TestNewInternetPath(t *testing.T) {
	f := NewInternetPath([]netip.Prefix{
		netip.MustParsePrefix("10.0.1.0/24"), // inside the next one
		netip.MustParsePrefix("10.0.0.0/16"),
		netip.MustParsePrefix("10.0.9.9/16"), // not masked
		{},                                   // invalid: ignored
	})
	var got []string
	for _, p := range f.Inside() {
		got = append(got, p.String())
	}
	want := "0.0.0.0/8 10.0.0.0/16 100.64.0.0/10 169.254.0.0/16 224.0.0.0/4 255.255.255.255/32 ::/128 fe80::/10 ff00::/8"
	if strings.Join(got, " ") != want {
		t.Errorf("inside:\n%s\nwant:\n%s", strings.Join(got, " "), want)
	}
	if f.Name() != model.FlowLogPathInternet {
		t.Errorf("name %q", f.Name())
	}
	g := NewInternetPath([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")})
	h := NewInternetPath([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("192.168.0.0/16")})
	var nilPath *PathFilter
	for _, tc := range []struct {
		name string
		a, b *PathFilter
		want bool
	}{
		{"same blocks", f, g, true},
		{"a peering route more", g, h, false},
		{"all and all", nilPath, nil, true},
		{"all and internet", nilPath, g, false},
		{"internet and all", g, nil, false},
	} {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestAggregatorTrafficPath: an internetGateway log drops the records of
// traffic inside the VPC, to a peered VPC and from PrivateLink's transit
// range, keeps the internet's, and every record it emits (NODATA too)
// says trafficPath internetGateway; an all log on the same ENI keeps
// everything and says nothing of a path.
func TestAggregatorTrafficPath(t *testing.T) {
	internet := testLog("fl-net", model.FlowLogTrafficAll, 10, "a", "b")
	internet.Path = NewInternetPath(testInside)
	all := testLog("fl-all", model.FlowLogTrafficAll, 10, "a", "b")
	a := NewAggregator()
	a.SetLogs([]Log{internet, all}, at(100))
	for _, o := range []Observation{
		flowTo(DirOut, "10.0.2.20"),    // same VPC
		flowTo(DirOut, "192.168.7.8"),  // peered VPC
		flowTo(DirIn, "100.64.0.7"),    // PrivateLink consumer
		flowTo(DirOut, "203.0.113.9"),  // internet, through SNAT or the ENI's EIP
		flowTo(DirIn, "198.51.100.7"),  // internet client, DNATed before the ENI
		flowTo(DirIn, "2001:db8:1::9"), // same VPC, IPv6
	} {
		a.Add(at(101), o)
	}
	recs := a.Flush(at(110)).Records
	want := `fl-all a in ACCEPT 100.64.0.7:443>10.0.1.10:40000 p6 1/60 [100,110] f0 path=""
fl-all a in ACCEPT 198.51.100.7:443>10.0.1.10:40000 p6 1/60 [100,110] f0 path=""
fl-all a in ACCEPT 2001:db8:1::9:443>2001:db8:1::10:40000 p6 1/60 [100,110] f0 path=""
fl-all a out ACCEPT 10.0.1.10:40000>10.0.2.20:443 p6 1/60 [100,110] f0 path=""
fl-all a out ACCEPT 10.0.1.10:40000>192.168.7.8:443 p6 1/60 [100,110] f0 path=""
fl-all a out ACCEPT 10.0.1.10:40000>203.0.113.9:443 p6 1/60 [100,110] f0 path=""
fl-all b [100,110) NODATA path=""
fl-net a in ACCEPT 198.51.100.7:443>10.0.1.10:40000 p6 1/60 [100,110] f0 path="internetGateway"
fl-net a out ACCEPT 10.0.1.10:40000>203.0.113.9:443 p6 1/60 [100,110] f0 path="internetGateway"
fl-net b [100,110) NODATA path="internetGateway"`
	var got []string
	for _, r := range recs {
		got = append(got, line(r)+` path="`+r.TrafficPath+`"`)
	}
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("records:\n%s\nwant:\n%s", g, want)
	}
	// The Alibaba JSON names the field trafficPath, and leaves it out
	// of an all log's records.
	for _, r := range recs {
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(js), `"trafficPath":"internetGateway"`); has != (r.FlowLogID == "fl-net") {
			t.Errorf("JSON of a %s record: %s", r.FlowLogID, js)
		}
		if r.FlowLogID == "fl-all" && strings.Contains(string(js), "trafficPath") {
			t.Errorf("JSON of an all record names a path: %s", js)
		}
	}
}

// TestAggregatorTrafficPathCheckpoint: a checkpoint keeps an
// internetGateway log's path; restored with the log still active, its
// window goes on under the log's filter; restored with the log gone
// (deactivated while capture was down), its windows are emitted with
// their path, the SKIPDATA marker too.
func TestAggregatorTrafficPathCheckpoint(t *testing.T) {
	internet := testLog("fl-net", model.FlowLogTrafficAll, 10, "a")
	internet.Path = NewInternetPath(testInside)
	a := NewAggregator()
	a.SetLogs([]Log{internet}, at(100))
	a.Add(at(101), flowTo(DirOut, "203.0.113.9"))
	a.Add(at(101), flowTo(DirOut, "10.0.2.20"))
	blob, err := json.Marshal(a.State())
	if err != nil {
		t.Fatal(err)
	}
	var st AggState
	if err := json.Unmarshal(blob, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Logs) != 1 || st.Logs[0].TrafficPath != model.FlowLogPathInternet {
		t.Fatalf("checkpoint: %s", blob)
	}
	paths := func(rs []Record) string {
		var out []string
		for _, r := range rs {
			out = append(out, line(r)+" "+r.TrafficPath)
		}
		return strings.Join(out, "\n")
	}

	active := NewAggregator()
	active.SetLogs([]Log{internet}, at(104))
	active.Restore(st)
	active.Add(at(105), flowTo(DirOut, "203.0.113.9"))
	active.Add(at(105), flowTo(DirIn, "10.0.2.20"))
	want := `fl-net a out ACCEPT 10.0.1.10:40000>203.0.113.9:443 p6 2/120 [100,110] f0 internetGateway`
	if g := paths(active.Flush(at(110)).Records); g != want {
		t.Errorf("active after restore:\n%s\nwant:\n%s", g, want)
	}

	retired := NewAggregator()
	retired.Logger = slog.New(slog.DiscardHandler)
	retired.SetLogs(nil, at(104))
	retired.Restore(st)
	want = `fl-net a out ACCEPT 10.0.1.10:40000>203.0.113.9:443 p6 1/60 [100,110] f0 internetGateway
fl-net a [100,110) SKIPDATA internetGateway`
	if g := paths(retired.Flush(at(104)).Records); g != want {
		t.Errorf("retired after restore:\n%s\nwant:\n%s", g, want)
	}
}

// TestAggregatorPathChange: a log whose inside blocks change (a peering
// route added) filters by the new ones from then on.
func TestAggregatorPathChange(t *testing.T) {
	before := testLog("fl-net", model.FlowLogTrafficAll, 10, "a")
	before.Path = NewInternetPath(testInside[:1])
	after := before
	after.Path = NewInternetPath(testInside)
	a := NewAggregator()
	a.SetLogs([]Log{before}, at(100))
	a.Add(at(101), flowTo(DirOut, "192.168.7.8"))
	a.SetLogs([]Log{after}, at(102))
	a.Add(at(103), flowTo(DirOut, "192.168.7.8"))
	want := `fl-net a out ACCEPT 10.0.1.10:40000>192.168.7.8:443 p6 1/60 [100,110] f0`
	if g := lines(a.Flush(at(110)).Records); g != want {
		t.Errorf("records:\n%s\nwant:\n%s", g, want)
	}
}
