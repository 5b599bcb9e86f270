package kernel_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	antiddos "github.com/aliyun/alibaba-cloud-sdk-go/services/antiddos-public"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// flooder sends UDP datagrams from the internet (the root namespace) with
// a forged source address through a raw socket, at a steady rate, until
// stopped.
type flooder struct {
	stop chan struct{}
	done sync.WaitGroup
	sent atomic.Int64
}

// floodPacket is an IPv4 packet from src to dst: a UDP datagram with
// payload bytes, or (syn) a bare TCP SYN.
func floodPacket(src netip.Addr, dst netip.AddrPort, payload int, syn bool) []byte {
	l4 := 8 + payload
	proto := byte(unix.IPPROTO_UDP)
	if syn {
		l4, proto = 20, unix.IPPROTO_TCP
	}
	pkt := make([]byte, 20+l4)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	copy(pkt[12:16], src.AsSlice())
	copy(pkt[16:20], dst.Addr().AsSlice())
	binary.BigEndian.PutUint16(pkt[20:], 40000)
	binary.BigEndian.PutUint16(pkt[22:], dst.Port())
	if syn {
		binary.BigEndian.PutUint32(pkt[24:], 12345) // sequence
		pkt[32], pkt[33] = 5<<4, 0x02               // header length, SYN
		binary.BigEndian.PutUint16(pkt[34:], 65535) // window
	} else {
		binary.BigEndian.PutUint16(pkt[24:], uint16(l4))
	}
	return pkt
}

func startFlood(t *testing.T, src netip.Addr, dst netip.AddrPort, payload, pps int) *flooder {
	t.Helper()
	return startRawFlood(t, floodPacket(src, dst, payload, false), dst.Addr(), pps)
}

// startRawFlood sends pkt to dst pps times a second until stopped.
func startRawFlood(t *testing.T, pkt []byte, dst netip.Addr, pps int) *flooder {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	f := &flooder{stop: make(chan struct{})}
	f.done.Go(func() {
		defer unix.Close(fd)
		start := time.Now()
		for {
			select {
			case <-f.stop:
				return
			default:
			}
			due := int64(time.Since(start).Seconds() * float64(pps))
			for f.sent.Load() < due {
				if err := unix.Sendto(fd, pkt, 0, to); err == nil {
					f.sent.Add(1)
				} else {
					break
				}
			}
			time.Sleep(500 * time.Microsecond)
		}
	})
	t.Cleanup(f.close)
	return f
}

func (f *flooder) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.done.Wait()
}

// TestAntiDDoS drives Anti-DDoS Basic through the official antiddos-public
// SDK against real floods from the internet to an instance's EIP: a UDP
// flood over the scrubbing threshold turns the IP to "defense", the
// flooding source is held to its per-source rate while a clean client's
// connections pass, and scrubbing ends after the quiet period; a flood
// over the blackhole threshold blackholes the IP (nothing reaches it)
// until the blackhole's time has passed since the attack stopped; the
// event list records all of it.
func TestAntiDDoS(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)),
		apitest.WithDDoS(model.DDoSConfig{BlackholeMbps: 40, BlackholeSeconds: 1800, QuietSeconds: 900, TimeScale: 450})) // 4 s and 2 s
	w := &eipWorld{world: newWorld(t, env)}
	w.vpcID = w.mustVPC("10.11.0.0/16")
	vsw := w.mustVSwitch(w.vpcID, "10.11.1.0/24")
	w.mustGroup("pub", w.vpcID, "normal", "")
	w.authorize("pub", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("pub", ruleSpec{proto: "udp", ports: "9000/9000", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("pub", ruleSpec{proto: "udp", ports: "53/53", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("web", vsw, "10.11.1.11", "pub")
	w.waitRunning()
	id, eip := w.allocate()
	w.associate(id, "web")
	w.waitInUse(id)
	w.settle()
	serveWho(t, w.ids["web"], "web", 8080)
	w.mustReach(netip.AddrPortFrom(eip, 8080), "web").Close()

	// A UDP sink in the instance counts what the scrubbing lets through.
	var received atomic.Int64
	var pc net.PacketConn
	if err := probe.InNetns(w.ids["web"], func() error {
		var err error
		pc, err = net.ListenPacket("udp4", ":9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var sinkDone sync.WaitGroup
	sinkDone.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			received.Add(1)
		}
	})
	t.Cleanup(func() { pc.Close(); sinkDone.Wait() })

	dd := env.AntiDDoS(t, env.Admin)
	thr := antiddos.CreateModifyIpDefenseThresholdRequest()
	thr.InstanceId, thr.InternetIp = w.ids["web"], eip.String()
	thr.Bps, thr.Pps = requests.NewInteger(1), requests.NewInteger(2000)
	if _, err := dd.ModifyIpDefenseThreshold(thr); err != nil {
		t.Fatalf("ModifyIpDefenseThreshold: %v", err)
	}
	w.settle()
	ipStatus := func() string {
		req := antiddos.CreateDescribeInstanceIpAddressRequest()
		req.DdosRegionId, req.InstanceType, req.InstanceIp = apitest.Region, "ecs", eip.String()
		resp, err := dd.DescribeInstanceIpAddress(req)
		if err != nil {
			t.Fatalf("DescribeInstanceIpAddress: %v", err)
		}
		for _, in := range resp.InstanceList {
			for _, c := range in.IpAddressConfig {
				if c.InstanceIp == eip.String() {
					return c.IpStatus
				}
			}
		}
		t.Fatalf("DescribeInstanceIpAddress: %s not listed: %+v", eip, resp.InstanceList)
		return ""
	}
	waitStatus := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			got := ipStatus()
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("IpStatus of %s is %q after %v, want %q", eip, got, within, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if s := ipStatus(); s != model.DDoSNormal {
		t.Fatalf("IpStatus before any attack: %q", s)
	}

	// Scrubbing: 15,000 small datagrams per second from one source.
	attacker := netip.MustParseAddr("198.18.7.7")
	flood := startFlood(t, attacker, netip.AddrPortFrom(eip, 9000), 64, 15_000)
	waitStatus(model.DDoSDefense, 5*time.Second)
	time.Sleep(time.Second) // the scrubbing rules are in
	sent0, got0 := flood.sent.Load(), received.Load()
	c := w.mustReach(netip.AddrPortFrom(eip, 8080), "web") // a clean client still gets through
	c.Close()
	time.Sleep(2 * time.Second)
	sent, got := flood.sent.Load()-sent0, received.Load()-got0
	t.Logf("while scrubbed: %d datagrams sent, %d received", sent, got)
	if sent < 15_000 {
		t.Fatalf("the flood sent only %d datagrams in 2 s", sent)
	}
	if got > sent/3 || got == 0 {
		t.Errorf("scrubbing let %d of %d datagrams through; want the source held to its rate (about 2,000/s), not cut off", got, sent)
	}
	flood.close()
	waitStatus(model.DDoSNormal, 6*time.Second)

	// A DNS query flood (6,000 queries a second from one source, over the
	// 2,000 pps threshold): the source is held to its DNS rate, a tenth of
	// what it may send in other datagrams.
	var dnsReceived atomic.Int64
	var dnsPC net.PacketConn
	if err := probe.InNetns(w.ids["web"], func() error {
		var err error
		dnsPC, err = net.ListenPacket("udp4", ":53")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sinkDone.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := dnsPC.ReadFrom(buf); err != nil {
				return
			}
			dnsReceived.Add(1)
		}
	})
	t.Cleanup(func() { dnsPC.Close() })
	flood = startFlood(t, attacker, netip.AddrPortFrom(eip, 53), 64, 6000)
	waitStatus(model.DDoSDefense, 5*time.Second)
	time.Sleep(time.Second) // the scrubbing rules are in
	sent0, got0 = flood.sent.Load(), dnsReceived.Load()
	time.Sleep(2 * time.Second)
	sent, got = flood.sent.Load()-sent0, dnsReceived.Load()-got0
	t.Logf("DNS flood while scrubbed: %d queries sent, %d received", sent, got)
	if sent < 6000 {
		t.Fatalf("the DNS flood sent only %d queries in 2 s", sent)
	}
	// 200 a second and a burst of 400 (the meter's), with room for timing.
	if got == 0 || got > 1000 {
		t.Errorf("scrubbing let %d of %d DNS queries through in 2 s; want the source held to about 200/s", got, sent)
	}
	flood.close()
	waitStatus(model.DDoSNormal, 6*time.Second)

	// Blackhole: 6,000 datagrams of 1,400 bytes per second (about 68
	// Mbit/s) is over the operator's 40 Mbit/s.
	flood = startFlood(t, attacker, netip.AddrPortFrom(eip, 9000), 1400, 6000)
	waitStatus(model.DDoSBlackhole, 5*time.Second)
	w.settle()
	w.mustNotReach(netip.AddrPortFrom(eip, 8080), "blackholed")
	flood.close()
	stopped := time.Now()
	time.Sleep(time.Second)
	w.mustNotReach(netip.AddrPortFrom(eip, 8080), "still blackholed a second after the attack")
	waitStatus(model.DDoSNormal, 8*time.Second)
	if since := time.Since(stopped); since < 3*time.Second {
		t.Errorf("the blackhole was lifted %v after the attack stopped, want its 4 s", since)
	}
	w.settle()
	w.mustReach(netip.AddrPortFrom(eip, 8080), "web").Close()

	// A SYN flood under the thresholds (1,500 packets/s, all SYNs, to a
	// port the security group closes, so nothing answers) matches the
	// flood pattern: scrubbing starts all the same, and ends after it.
	flood = startRawFlood(t, floodPacket(attacker, netip.AddrPortFrom(eip, 8081), 0, true), eip, 1500)
	waitStatus(model.DDoSDefense, 5*time.Second)
	flood.close()
	waitStatus(model.DDoSNormal, 6*time.Second)

	ev := antiddos.CreateDescribeDdosEventListRequest()
	ev.DdosRegionId, ev.InstanceId, ev.InstanceType, ev.InternetIp = apitest.Region, w.ids["web"], "ecs", eip.String()
	ev.PageSize = requests.NewInteger(50)
	resp, err := dd.DescribeDdosEventList(ev)
	if err != nil {
		t.Fatalf("DescribeDdosEventList: %v", err)
	}
	var defense, blackhole int
	for _, e := range resp.DdosEventList.DdosEvent {
		if e.EndTime == 0 || e.DdosStatus != model.DDoSNormal {
			t.Errorf("event %+v still open after both attacks", e)
		}
		switch e.DdosType {
		case model.DDoSDefense:
			defense++
		case model.DDoSBlackhole:
			blackhole++
			if e.UnBlackholeTime < e.StartTime+4 {
				t.Errorf("blackhole %+v: UnBlackholeTime before its 4 s", e)
			}
		}
	}
	if defense < 2 || blackhole != 1 {
		t.Errorf("events %+v: want the two scrubbings and one blackhole", resp.DdosEventList.DdosEvent)
	}
}
