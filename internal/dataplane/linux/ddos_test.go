package linux

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/nftables"

	"github.com/palisade-project/palisade/internal/dataplane"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// TestDDoSTable loads the Anti-DDoS tables of a namespace with one EIP
// only counted, one blackholed and one scrubbed, compares nft's listings
// with the golden file, checks that an unchanged table is kept (its
// counters survive), that the counters are read back per address, that a
// re-created uplink gets its chain again, and that the tables go: the
// scrubbing one when nothing is scrubbed, both with the last EIP.
func TestDDoSTable(t *testing.T) {
	needRoot(t)
	ns, ref, nft := scratchNS(t, "pal-dd-")
	// The uplink the counting chain hooks (a veth will do).
	if out, err := exec.Command("ip", "-n", ns, "link", "add", uplinkLink, "type", "veth", "peer", "name", "uplink-peer").CombinedOutput(); err != nil {
		t.Fatalf("add uplink: %v: %s", err, out)
	}
	a, b, c := netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("203.0.113.6"), netip.MustParseAddr("203.0.113.7")
	d := &dataplane.DDoS{
		Counted:    []netip.Addr{c, a, b},
		Blackholed: []netip.Addr{b},
		Scrubbed:   []dataplane.DDoSScrub{{IP: c, Pps: 2000, Bps: 8_000_000}},
	}
	apply := func(d *dataplane.DDoS, uplinkIdx int) {
		t.Helper()
		if err := applyDDoSScrubTable(int(ref.ns), d); err != nil {
			t.Fatalf("apply scrubbing: %v", err)
		}
		if err := applyDDoSCountTable(int(ref.ns), d, uplinkIdx); err != nil {
			t.Fatalf("apply counting: %v", err)
		}
	}
	uplinkIdx := func() int {
		l, err := ref.nl.LinkByName(uplinkLink)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().Index
	}
	apply(d, uplinkIdx())
	// The rules' comments carry the content's hash: leave them out.
	got := regexp.MustCompile(` comment "[^"]*"`).ReplaceAllString(nft("list", "table", "netdev", ddosTable)+nft("list", "table", "ip", ddosScrubTable), "")
	golden := filepath.Join("testdata", "ddos.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("table differs from %s (go test -run TestDDoSTable -update):\n%s", golden, got)
	}

	// Counters are read per address; an unchanged table keeps them.
	handle := regexp.MustCompile(`ip daddr 203\.0\.113\.5 counter packets 0 bytes 0 .*# handle (\d+)`).FindStringSubmatch(nft("-a", "list", "chain", "netdev", ddosTable, "count"))
	if handle == nil {
		t.Fatal("no counting rule for 203.0.113.5")
	}
	nft("replace", "rule", "netdev", ddosTable, "count", "handle", handle[1], "ip", "daddr", "203.0.113.5", "counter", "packets", "7", "bytes", "700")
	synHandle := regexp.MustCompile(`ip daddr 203\.0\.113\.5 tcp flags syn / syn,ack counter packets 0 bytes 0 .*# handle (\d+)`).FindStringSubmatch(nft("-a", "list", "chain", "netdev", ddosTable, "count"))
	if synHandle == nil {
		t.Fatal("no SYN counting rule for 203.0.113.5")
	}
	nft("replace", "rule", "netdev", ddosTable, "count", "handle", synHandle[1], "ip", "daddr", "203.0.113.5", "tcp", "flags", "syn", "/", "syn,ack", "counter", "packets", "3", "bytes", "180")
	conn, err := nftables.New(nftables.WithNetNSFd(int(ref.ns)))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := ddosCountersOf(conn)
	if err != nil {
		t.Fatal(err)
	}
	if counts[a] != (dataplane.DDoSCounter{Packets: 7, Bytes: 700, SYNs: 3}) || len(counts) != 3 {
		t.Fatalf("counters %v, want 7 packets, 700 bytes, 3 SYNs for %v among 3", counts, a)
	}
	// The replaced rule lost its tag: the table is rebuilt; loaded
	// again unchanged, it is kept as it is (counters and all).
	apply(d, uplinkIdx())
	before := nft("-a", "list", "table", "netdev", ddosTable)
	apply(d, uplinkIdx())
	if after := nft("-a", "list", "table", "netdev", ddosTable); after != before {
		t.Errorf("an unchanged table was rebuilt:\n%s\nthen\n%s", before, after)
	}
	// A re-created uplink: the chain is hooked to it again.
	if out, err := exec.Command("sh", "-c", "ip -n "+ns+" link del "+uplinkLink+" && ip -n "+ns+" link add "+uplinkLink+" type veth peer name uplink-peer").CombinedOutput(); err != nil {
		t.Fatalf("re-create uplink: %v: %s", err, out)
	}
	apply(d, uplinkIdx())
	if got := nft("list", "chain", "netdev", ddosTable, "count"); !regexp.MustCompile(`device "uplink"`).MatchString(got) {
		t.Errorf("after the uplink was re-created the chain is not on it:\n%s", got)
	}

	tableGone := func(family, name, why string) {
		t.Helper()
		if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", family, name).CombinedOutput(); err == nil {
			t.Errorf("%s %s is still there %s:\n%s", family, name, why, out)
		}
	}
	apply(&dataplane.DDoS{Counted: d.Counted}, uplinkIdx())
	tableGone("ip", ddosScrubTable, "with nothing scrubbed")
	apply(nil, 0)
	tableGone("ip", ddosScrubTable, "without EIPs")
	tableGone("netdev", ddosTable, "without EIPs")
}
