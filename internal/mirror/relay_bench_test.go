package mirror

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"
)

// benchNetns makes a network namespace whose veth tgt0 takes copies to
// 10.99.0.2 (a permanent neighbour; the other end, tgt1, drops them as a
// target that reads nothing would), and returns its path.
func benchNetns(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (a network namespace)")
	}
	name := fmt.Sprintf("pmrbench-%06d", rand.IntN(1000000))
	// Registered first, so that a failed setup leaves nothing behind.
	b.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	for _, c := range [][]string{
		{"ip", "netns", "add", name},
		{"ip", "-n", name, "link", "add", "tgt0", "type", "veth", "peer", "name", "tgt1"},
		{"ip", "-n", name, "addr", "add", "10.99.0.1/24", "dev", "tgt0"},
		{"ip", "-n", name, "link", "set", "tgt0", "up"},
		{"ip", "-n", name, "link", "set", "tgt1", "up"},
		{"ip", "-n", name, "neigh", "add", "10.99.0.2", "lladdr", "02:00:00:00:00:02", "dev", "tgt0", "nud", "permanent"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", c, err, out)
		}
	}
	return "/run/netns/" + name
}

// BenchmarkRelay measures the copies per second the relay between hosts
// delivers (a relay datagram over loopback, checked, and sent from the
// target's namespace) against the local path's last step alone (the
// same copy sent from the namespace's raw socket), in one run: the
// relay's price per copy. Copies are 64-byte datagrams' (106 bytes with
// their headers), sent as fast as the sender can, then at 60,000 a
// second; the relay's losses (its socket's queue overflowing) are
// reported too.
//
//	go test -run '^$' -bench Relay -benchtime 200000x -count 5 ./internal/mirror/
func BenchmarkRelay(b *testing.B) {
	path := benchNetns(b)
	src, target := netip.MustParseAddr("10.98.0.10"), netip.MustParseAddr("10.99.0.2")
	pkt := relayCopy(src.String(), target.String(), 4242)

	b.Run("local", func(b *testing.B) {
		inj, err := openInjector(path)
		if err != nil {
			b.Fatal(err)
		}
		defer inj.close()
		var id uint16
		next := func() uint16 { id++; return id }
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			if err := inj.send(pkt, target, 1500, next); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "copies/s")
	})

	// relay sends b.N copies through a relay pair, at most perSecond
	// a second (0: as fast as the sender can).
	relay := func(b *testing.B, perSecond int) {
		recv, err := ListenRelay(netip.MustParseAddrPort("127.0.0.1:0"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer recv.Close()
		if err := recv.Update([]RelayTarget{{SessionID: "tms-bench", NetnsPath: path, VNI: 4242, Target: target, TargetIf: "tgt0",
			Sources: map[netip.Addr]netip.Addr{src: netip.MustParseAddr("127.0.0.1")}}}); err != nil {
			b.Fatal(err)
		}
		send, err := ListenRelay(netip.MustParseAddrPort("127.0.0.1:0"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer send.Close()
		to := netip.MustParseAddrPort(recv.LocalAddr().String())
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if perSecond > 0 && i%(perSecond/100) == 0 {
				// Batches every 10 ms, as the source's NFLOG hands
				// packets over.
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))))
			}
			if err := send.Send("tms-bench", pkt, to); err != nil {
				b.Fatal(err)
			}
		}
		// The receiver drains what is queued; the clock stops with the
		// last delivery.
		last, lastAt := uint64(0), time.Now()
		for {
			st := recv.Stats()
			done := st.Delivered + st.Refused + st.DeliverErrors // Received counts a copy before its delivery
			if done >= uint64(b.N) || done == st.Received && time.Since(lastAt) > 200*time.Millisecond {
				break
			}
			if done != last {
				last, lastAt = done, time.Now()
			}
			time.Sleep(time.Millisecond)
		}
		st := recv.Stats()
		elapsed := time.Since(start)
		if st.Refused > 0 || st.DeliverErrors > 0 {
			b.Fatalf("relay stats %+v: want every received copy delivered", st)
		}
		b.ReportMetric(float64(st.Delivered)/elapsed.Seconds(), "copies/s")
		b.ReportMetric(100*float64(uint64(b.N)-st.Delivered)/float64(b.N), "lost-%")
	}
	b.Run("relay", func(b *testing.B) { relay(b, 0) })
	// The most a source host hands over: its mirror copies about 60,000
	// packets a second on two vCPUs (BENCHMARKS.md).
	b.Run("relay-60k", func(b *testing.B) { relay(b, 60000) })
}
