package dataplane_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// discardPort is a TCP server that reads and drops everything (throughput).
const discardPort = 5003

// eipEnv is one VPC with a client and a server on one vSwitch; the server
// has an EIP, so the root namespace (the internet) reaches it through the
// VPC's uplink, DNAT and the server's security group.
type eipEnv struct {
	w              *kworld
	vpcID          string
	client, server string
	serverIP, eip  netip.Addr
	discard        net.Listener
	discardWG      sync.WaitGroup
	sink           *sink
}

var (
	eipOnce sync.Once
	eipE    *eipEnv
	eipErr  error
)

func getEIPEnv(b *testing.B) *eipEnv {
	b.Helper()
	needKernel(b)
	eipOnce.Do(func() { eipE, eipErr = buildEIPEnv() })
	if eipErr != nil {
		b.Fatal(eipErr)
	}
	return eipE
}

func buildEIPEnv() (*eipEnv, error) {
	w := newKWorld(randTag())
	cleanups = append(cleanups, w.close)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	e := &eipEnv{w: w, serverIP: netip.MustParseAddr("10.79.1.20"),
		eip: netip.AddrFrom4([4]byte{198, 19, byte(200 + r.IntN(50)), byte(2 + r.IntN(250))})}
	vpcID, vswID, err := w.vpc("e", "10.79.0.0/16")
	e.vpcID = vpcID
	if err != nil {
		return nil, err
	}
	gid := "sg-" + w.tag + "e"
	open := model.Rule{ID: "sgr-" + w.tag + "open", Direction: model.Ingress, Protocol: model.ProtoALL,
		Ports: model.PortRange{From: -1, To: -1}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0"),
		Policy: model.PolicyAccept, Priority: 1}
	if err := w.group(gid, vpcID, []model.Rule{open}); err != nil {
		return nil, err
	}
	if e.client, _, err = w.instance("ec", vpcID, vswID, netip.MustParseAddr("10.79.1.10"), gid); err != nil {
		return nil, err
	}
	var serverENI string
	if e.server, serverENI, err = w.instance("es", vpcID, vswID, e.serverIP, gid); err != nil {
		return nil, err
	}
	eip := model.EIP{ID: "eip-" + w.tag, Address: e.eip, ENIID: serverENI, PrivateIP: e.serverIP,
		InstanceID: e.server, InstanceType: "EcsInstance", VpcID: vpcID, ZoneID: zone, Status: model.EIPInUse}
	if err := w.put(map[string]any{model.PrefixEIP + eip.ID: eip}); err != nil {
		return nil, err
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	srv, err := startSink(e.server)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, srv.close)
	e.sink = srv
	if err := probe.InNetns(e.server, func() error {
		var err error
		e.discard, err = net.Listen("tcp4", fmt.Sprintf(":%d", discardPort))
		return err
	}); err != nil {
		return nil, err
	}
	e.discardWG.Go(func() {
		for {
			c, err := e.discard.Accept()
			if err != nil {
				return
			}
			e.discardWG.Go(func() { _, _ = io.Copy(io.Discard, c); c.Close() })
		}
	})
	cleanups = append(cleanups, func() { e.discard.Close() })
	return e, nil
}

// inNS runs fn in the named namespace, or where the caller is for "" (the
// root namespace: the internet side).
func inNS(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	return probe.InNetns(ns, fn)
}

// throughput sends bulk data over one TCP connection from ns to dst for d
// and returns Gbit/s.
func throughput(ns string, dst netip.AddrPort, d time.Duration) (float64, error) {
	var c net.Conn
	if err := inNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp4", dst.String(), 2*time.Second)
		return err
	}); err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	var sent int64
	start := time.Now()
	for time.Since(start) < d {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return 0, err
		}
	}
	return float64(sent) * 8 / time.Since(start).Seconds() / 1e9, nil
}

// BenchmarkEIPPath compares, round by round, the internet side (the root
// namespace) reaching the server through its EIP with the client instance
// reaching it in the same vSwitch: new TCP connections per second and bulk
// TCP throughput. It reports the medians of the per-round ratios (run with
// -benchtime 7x for seven rounds).
func BenchmarkEIPPath(b *testing.B) {
	e := getEIPEnv(b)
	const conns = 20_000
	const bulk = 2 * time.Second
	private := &unix.SockaddrInet4{Port: tcpPort, Addr: e.serverIP.As4()}
	public := &unix.SockaddrInet4{Port: tcpPort, Addr: e.eip.As4()}
	if err := inNS("", func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(e.eip, tcpPort).String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		b.Fatalf("the internet side cannot reach the EIP %s: %v", e.eip, err)
	}
	var connRatio, tputRatio []float64
	for range b.N {
		vm, err := dialN(e.client, private, e.sink, conns)
		if err != nil {
			b.Fatal(err)
		}
		inet, err := dialN("", public, e.sink, conns)
		if err != nil {
			b.Fatal(err)
		}
		tVM, err := throughput(e.client, netip.AddrPortFrom(e.serverIP, discardPort), bulk)
		if err != nil {
			b.Fatal(err)
		}
		tInet, err := throughput("", netip.AddrPortFrom(e.eip, discardPort), bulk)
		if err != nil {
			b.Fatal(err)
		}
		connRatio = append(connRatio, inet.rate/vm.rate)
		tputRatio = append(tputRatio, tInet/tVM)
		b.Logf("round: vSwitch %.0f conns/s %.2f Gbit/s; EIP %.0f conns/s %.2f Gbit/s (SYNs sent again: %d, %d)", vm.rate, tVM, inet.rate, tInet, vm.synRetrans, inet.synRetrans)
	}
	b.ReportMetric(median(connRatio), "conns-ratio")
	b.ReportMetric(median(tputRatio), "tput-ratio")
}
