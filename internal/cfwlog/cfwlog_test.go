package cfwlog

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

// ipv4 is an IPv4 packet from src to dst of protocol proto with l4 after
// a header of ihl 32-bit words.
func ipv4(ihl int, proto byte, src, dst string, l4 ...byte) []byte {
	b := make([]byte, ihl*4)
	b[0] = 4<<4 | byte(ihl)
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, l4...)
}

func TestParse(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	prefix := dataplane.FirewallLogPrefix("acl-1")
	rec := func(proto uint8, sport, dport uint16) model.FirewallTrafficLog {
		return model.FirewallTrafficLog{Time: at, PolicyID: "acl-1", VpcID: "vpc-1", Proto: proto,
			Src: netip.MustParseAddr("203.0.113.7"), Dst: netip.MustParseAddr("198.18.0.5"), SrcPort: sport, DstPort: dport}
	}
	for _, tc := range []struct {
		name   string
		prefix string
		pkt    []byte
		want   model.FirewallTrafficLog
		ok     bool
	}{
		{"tcp", prefix, ipv4(5, 6, "203.0.113.7", "198.18.0.5", 0xc3, 0x50, 0x1f, 0x90), rec(6, 50000, 8080), true},
		{"udp with IP options", prefix, ipv4(6, 17, "203.0.113.7", "198.18.0.5", 0x00, 0x35, 0x00, 0x35), rec(17, 53, 53), true},
		{"icmp: no ports", prefix, ipv4(5, 1, "203.0.113.7", "198.18.0.5", 8, 0, 0, 0), rec(1, 0, 0), true},
		{"tcp cut before its ports", prefix, ipv4(5, 6, "203.0.113.7", "198.18.0.5", 0xc3), rec(6, 0, 0), true},
		{"another NFLOG prefix", "palisade sg in", ipv4(5, 6, "203.0.113.7", "198.18.0.5", 0, 1, 0, 2), model.FirewallTrafficLog{}, false},
		{"no policy in the prefix", dataplane.FirewallLogPrefix(""), ipv4(5, 6, "203.0.113.7", "198.18.0.5"), model.FirewallTrafficLog{}, false},
		{"ipv6", prefix, append([]byte{6 << 4}, make([]byte, 39)...), model.FirewallTrafficLog{}, false},
		{"short", prefix, []byte{0x45, 0, 0}, model.FirewallTrafficLog{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse("vpc-1", at, tc.prefix, tc.pkt)
			if ok != tc.ok || got != tc.want {
				t.Errorf("Parse = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(dataplane.FirewallLogPrefix("p"), ipv4(5, 6, "10.0.0.1", "10.0.0.2", 1, 2, 3, 4))
	f.Add("x", []byte{0x4f})
	f.Fuzz(func(t *testing.T, prefix string, pkt []byte) {
		r, ok := Parse("vpc", time.Unix(0, 0), prefix, pkt)
		if ok && (r.PolicyID == "" || !r.Src.Is4() || !r.Dst.Is4()) {
			t.Fatalf("accepted %q %x as %+v", prefix, pkt, r)
		}
	})
}

func TestBuffer(t *testing.T) {
	b := NewBuffer(3)
	b.Add(model.FirewallTrafficLog{PolicyID: "a"}, model.FirewallTrafficLog{PolicyID: "b"})
	b.Add(model.FirewallTrafficLog{PolicyID: "c"}, model.FirewallTrafficLog{PolicyID: "d"}, model.FirewallTrafficLog{PolicyID: "e"})
	recs, dropped := b.Take()
	if len(recs) != 3 || recs[0].PolicyID != "a" || recs[2].PolicyID != "c" || dropped != 2 {
		t.Fatalf("Take = %v, %d; want a, b, c and 2 dropped", recs, dropped)
	}
	if recs, dropped := b.Take(); len(recs) != 0 || dropped != 0 {
		t.Fatalf("second Take = %v, %d; want nothing", recs, dropped)
	}
}

// TestListener: a rule that logs like a firewall rule in a namespace of
// its own; the datagrams it logs become records of that namespace's VPC.
func TestListener(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	ns := "cfwlog-" + hex.EncodeToString(tag[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	nft := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table ip t {\n\tchain o {\n\t\ttype filter hook output priority 0;\n\t\tudp dport 9999 log prefix \"" +
		dataplane.FirewallLogPrefix("acl-9") + "\" group 9 snaplen 64\n\t}\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	buf := NewBuffer(100)
	l, err := Listen("vpc-x", filepath.Join("/run/netns", ns), buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Stale() {
		t.Fatal("a fresh listener is stale")
	}
	send := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		orig, err := netns.Get()
		if err != nil {
			return err
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			return err
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			return err
		}
		defer netns.Set(orig) //nolint:errcheck
		c, err := net.Dial("udp4", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	}
	if err := send(); err != nil {
		t.Fatal(err)
	}
	var recs []model.FirewallTrafficLog
	for deadline := time.Now().Add(3 * time.Second); len(recs) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		recs, _ = buf.Take()
	}
	if len(recs) != 1 {
		t.Fatalf("records %+v, want the one datagram", recs)
	}
	r := recs[0]
	if r.PolicyID != "acl-9" || r.VpcID != "vpc-x" || r.Proto != 17 || r.DstPort != 9999 || r.Dst != netip.MustParseAddr("127.0.0.1") ||
		time.Since(r.Time) > time.Minute || time.Since(r.Time) < 0 {
		t.Errorf("record %+v, want acl-9's datagram to 127.0.0.1:9999 just now", r)
	}
	if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	if !l.Stale() {
		t.Error("the namespace was made anew, but the listener is not stale")
	}
}
