package dataplane_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// lbEnv is one vSwitch with a client and a server (the sink) whose groups
// hold 1,000 rules each, and an internal load balancer whose TCP listener
// on lbPort has the server as its one backend (port tcpPort, no health
// check), so the same server is reached directly and through the load
// balancer.
type lbEnv struct {
	w                  *kworld
	client             string
	clientIP, serverIP netip.Addr
	vip                netip.Addr
	sink               *sink
}

var (
	lbOnce sync.Once
	lbE    *lbEnv
	lbErr  error
)

const lbPort = 80

func getLBEnv(b *testing.B) *lbEnv {
	b.Helper()
	needKernel(b)
	lbOnce.Do(func() { lbE, lbErr = buildLBEnv() })
	if lbErr != nil {
		b.Fatal(lbErr)
	}
	return lbE
}

func buildLBEnv() (*lbEnv, error) {
	w := newKWorld(randTag())
	cleanups = append(cleanups, w.close)
	e := &lbEnv{w: w, clientIP: netip.MustParseAddr("10.79.1.10"), serverIP: netip.MustParseAddr("10.79.1.20"), vip: netip.MustParseAddr("10.79.1.100")}
	vpcID, vswID, err := w.vpc("l", "10.79.1.0/24")
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(21, 22))
	gc, gs := "sg-"+w.tag+"lc", "sg-"+w.tag+"ls"
	if err := w.group(gc, vpcID, append(randomRules(r, w.tag+"lc", model.Egress, 999), matchRule("sgr-"+w.tag+"lcm", model.Egress, e.serverIP))); err != nil {
		return nil, err
	}
	if err := w.group(gs, vpcID, append(randomRules(r, w.tag+"ls", model.Ingress, 999), matchRule("sgr-"+w.tag+"lsm", model.Ingress, e.clientIP))); err != nil {
		return nil, err
	}
	if e.client, _, err = w.instance("lc", vpcID, vswID, e.clientIP, gc); err != nil {
		return nil, err
	}
	server, _, err := w.instance("ls", vpcID, vswID, e.serverIP, gs)
	if err != nil {
		return nil, err
	}
	lbID := "lb-" + w.tag
	if err := w.put(map[string]any{model.PrefixLoadBalancer + lbID: model.LoadBalancer{ID: lbID, VpcID: vpcID, VSwitchID: vswID, ZoneID: zone,
		Address: e.vip, AddressType: model.LBAddressIntranet, Status: model.LBStatusActive,
		Listeners: []model.LBListener{{Protocol: model.LBProtocolTCP, Port: lbPort, BackendPort: tcpPort, Scheduler: model.LBSchedulerWRR, Status: model.ListenerRunning}},
		Backends:  []model.LBBackend{{ServerID: server, Type: model.LBBackendECS, Weight: 100}}}}); err != nil {
		return nil, err
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if e.sink, err = startSink(server); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, e.sink.close)
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(e.serverIP, tcpPort), netip.AddrPortFrom(e.vip, lbPort)} {
		if err := probeRetry(func() error {
			c, err := probe.DialTCP(w.ctx, e.client, dst, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			return nil, fmt.Errorf("client -> %s: %w", dst, err)
		}
	}
	return e, nil
}

// BenchmarkLBConnRate: new TCP connections per second from a client to a
// server of its vSwitch (1,000-rule groups on both ENIs), directly and
// through an internal load balancer whose listener has that server as its
// backend, alternating round by round (counterbalanced); it reports the
// median of the rounds' ratios (through the load balancer / direct), by
// rate and by CPU cost per connection.
func BenchmarkLBConnRate(b *testing.B) {
	e := getLBEnv(b)
	direct := &unix.SockaddrInet4{Port: tcpPort, Addr: e.serverIP.As4()}
	viaLB := &unix.SockaddrInet4{Port: lbPort, Addr: e.vip.As4()}
	const conns = 20_000
	var rate, cpu []float64
	var retrans, fails int64
	for round := range b.N {
		var cr, cc [2]float64
		for _, i := range counterbalanced(round, 2) {
			c, err := dialN(e.client, []*unix.SockaddrInet4{direct, viaLB}[i], e.sink, conns)
			if err != nil {
				b.Fatal(err)
			}
			cr[i], cc[i] = c.rate, c.cpuPerConn
			retrans += c.synRetrans
			fails += c.fails
		}
		rate = append(rate, cr[1]/cr[0])
		cpu = append(cpu, cc[0]/cc[1])
		b.Logf("round: direct %.0f conns/s (%.1f µs CPU each); through the load balancer %.0f conns/s (%.1f µs)", cr[0], cc[0], cr[1], cc[1])
	}
	b.ReportMetric(median(rate), "conns-ratio")
	b.ReportMetric(median(cpu), "conn-cpu-ratio")
	b.ReportMetric(float64(retrans), "syn-retrans")
	b.ReportMetric(float64(fails), "failed-conns")
}
