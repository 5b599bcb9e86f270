package linux

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/palisade-project/palisade/internal/dataplane"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// TestDDoSTable loads the Anti-DDoS table of a namespace with one EIP
// only counted, one blackholed and one scrubbed, compares nft's listing
// with the golden file, checks that an unchanged table is kept (its
// counters survive) and that the counters are read back per address, and
// that the table goes with the last EIP.
func TestDDoSTable(t *testing.T) {
	needRoot(t)
	ns := "pal-dd-" + randHex(t, 3)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ref, err := openNS(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	nft := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	a, b, c := netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("203.0.113.6"), netip.MustParseAddr("203.0.113.7")
	d := &dataplane.DDoS{
		Counted:    []netip.Addr{c, a, b},
		Blackholed: []netip.Addr{b},
		Scrubbed:   []dataplane.DDoSScrub{{IP: c, Pps: 2000, Bps: 8_000_000}},
	}
	if err := applyDDoSTable(int(ref.ns), d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	// The rules' comments carry the content's hash: leave them out.
	got := regexp.MustCompile(` comment "[^"]*"`).ReplaceAllString(nft("list", "table", "ip", ddosTable), "")
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
	handle := regexp.MustCompile(`ip daddr 203\.0\.113\.5 counter packets 0 bytes 0 .*# handle (\d+)`).FindStringSubmatch(nft("-a", "list", "chain", "ip", ddosTable, "count"))
	if handle == nil {
		t.Fatal("no counting rule for 203.0.113.5")
	}
	nft("replace", "rule", "ip", ddosTable, "count", "handle", handle[1], "ip", "daddr", "203.0.113.5", "counter", "packets", "7", "bytes", "700")
	counts, err := (&Applier{}).ddosCountersIn(ref)
	if err != nil {
		t.Fatal(err)
	}
	if counts[a] != (dataplane.DDoSCounter{Packets: 7, Bytes: 700}) || len(counts) != 3 {
		t.Fatalf("counters %v, want 7 packets 700 bytes for %v among 3", counts, a)
	}
	// The replaced rule lost its tag: the table is rebuilt, which resets
	// its counters; loaded again unchanged, it is kept as it is.
	if err := applyDDoSTable(int(ref.ns), d); err != nil {
		t.Fatal(err)
	}
	nft("reset", "counters", "table", "ip", ddosTable)
	if err := applyDDoSTable(int(ref.ns), d); err != nil {
		t.Fatal(err)
	}
	before := nft("-a", "list", "table", "ip", ddosTable)
	if err := applyDDoSTable(int(ref.ns), d); err != nil {
		t.Fatal(err)
	}
	if after := nft("-a", "list", "table", "ip", ddosTable); after != before {
		t.Errorf("an unchanged table was rebuilt:\n%s\nthen\n%s", before, after)
	}

	if err := applyDDoSTable(int(ref.ns), nil); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "ip", ddosTable).CombinedOutput(); err == nil {
		t.Errorf("the table is still there without EIPs:\n%s", out)
	}
}
