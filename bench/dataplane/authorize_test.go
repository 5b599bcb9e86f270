package dataplane_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

const authPort = 8080

// synProber opens a fresh non-blocking TCP connection to dst from namespace
// ns every interval (each attempt sends one new SYN; a dropped SYN would
// only be retried after 1 s, so fresh attempts are what resolve the time)
// and reports the time the first one completes.
type synProber struct {
	stop chan struct{}
	done chan time.Time
}

func startSYNProber(ns string, dst netip.AddrPort, interval time.Duration) (*synProber, error) {
	p := &synProber{stop: make(chan struct{}), done: make(chan time.Time, 1)}
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread dies with the goroutine: it stays in ns
		h, err := netns.GetFromPath("/run/netns/" + ns)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		ready <- err
		if err != nil {
			return
		}
		sa := &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
		type attempt struct {
			fd    int
			start time.Time
		}
		var pending []attempt
		defer func() {
			for _, a := range pending {
				unix.Close(a.fd)
			}
		}()
		next := time.Now()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			if now := time.Now(); !now.Before(next) {
				next = now.Add(interval)
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err == nil {
					_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
					if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
						unix.Close(fd)
					} else {
						pending = append(pending, attempt{fd, now})
					}
				}
			}
			// Attempts older than 200 ms are given up (their SYN was dropped).
			keep := pending[:0]
			for _, a := range pending {
				if time.Since(a.start) > 200*time.Millisecond {
					unix.Close(a.fd)
				} else {
					keep = append(keep, a)
				}
			}
			pending = keep
			fds := make([]unix.PollFd, len(pending))
			for i, a := range pending {
				fds[i] = unix.PollFd{Fd: int32(a.fd), Events: unix.POLLOUT}
			}
			wait := max(0, time.Until(next))
			n, err := unix.Poll(fds, int(wait.Milliseconds()))
			if err != nil || n == 0 {
				continue
			}
			for i := len(fds) - 1; i >= 0; i-- {
				if fds[i].Revents == 0 {
					continue
				}
				soErr, _ := unix.GetsockoptInt(int(fds[i].Fd), unix.SOL_SOCKET, unix.SO_ERROR)
				if soErr == 0 {
					p.done <- time.Now()
					return
				}
				unix.Close(pending[i].fd)
				pending = append(pending[:i], pending[i+1:]...)
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *synProber) close() { close(p.stop) }

// BenchmarkAuthorizeToFirstPacket runs a server with its local agent
// (apitest.WithAgent), two instances in one vSwitch, and a target group
// that admits nothing on TCP 8080. Each round a prober in the client sends
// a fresh SYN to the target's port 8080 every millisecond; the time from
// the successful return of AuthorizeSecurityGroup (the SDK call) to the
// first connection that completes is one sample. The rule is then revoked
// and the round waits until the port is closed again. Goal: p99 < 100 ms.
func BenchmarkAuthorizeToFirstPacket(b *testing.B) {
	needKernel(b)
	tag := randTag()
	env := apitest.Start(b, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag),
		apitest.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))))
	ec, vc := env.ECS(b, env.Admin), env.VPC(b, env.Admin)

	vreq := vpc.CreateCreateVpcRequest()
	vreq.CidrBlock = "10.66.0.0/16"
	vresp, err := vc.CreateVpc(vreq)
	if err != nil {
		b.Fatal(err)
	}
	sreq := vpc.CreateCreateVSwitchRequest()
	sreq.VpcId, sreq.CidrBlock, sreq.ZoneId = vresp.VpcId, "10.66.1.0/24", "local-a"
	sresp, err := vc.CreateVSwitch(sreq)
	if err != nil {
		b.Fatal(err)
	}
	group := func(name string) string {
		req := ecs.CreateCreateSecurityGroupRequest()
		req.VpcId, req.SecurityGroupName, req.SecurityGroupType = vresp.VpcId, name, "normal"
		resp, err := ec.CreateSecurityGroup(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp.SecurityGroupId
	}
	clientSG, targetSG := group("client"), group("target")
	run := func(name, ip, sg string) string {
		req := ecs.CreateRunInstancesRequest()
		req.ImageId, req.InstanceType, req.VSwitchId, req.PrivateIpAddress, req.InstanceName = "palisade", "ecs.t6", sresp.VSwitchId, ip, name
		req.SecurityGroupIds = &[]string{sg}
		resp, err := ec.RunInstances(req)
		if err != nil {
			b.Fatal(err)
		}
		return resp.InstanceIdSets.InstanceIdSet[0]
	}
	client := run("client", "10.66.1.10", clientSG)
	target := run("target", "10.66.1.20", targetSG)
	dst := netip.MustParseAddrPort("10.66.1.20:8080")

	// Wait until both instances exist in the kernel.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := ecs.CreateDescribeInstancesRequest()
		req.PageSize = requests.NewInteger(10)
		resp, err := ec.DescribeInstances(req)
		if err != nil {
			b.Fatal(err)
		}
		running := 0
		for _, i := range resp.Instances.Instance {
			if i.Status == "Running" {
				running++
			}
		}
		if running == 2 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("instances not Running after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv, err := probe.Serve(target, []int{authPort}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)

	perm := func() (proto, ports, peer, pol, prio string) {
		return "tcp", "8080/8080", "10.66.1.10/32", "accept", "1"
	}
	authorize := func() {
		proto, ports, peer, pol, prio := perm()
		req := ecs.CreateAuthorizeSecurityGroupRequest()
		req.SecurityGroupId = targetSG
		req.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: proto, PortRange: ports, SourceCidrIp: peer, Policy: pol, Priority: prio}}
		if _, err := ec.AuthorizeSecurityGroup(req); err != nil {
			b.Fatal(err)
		}
	}
	revoke := func() {
		proto, ports, peer, pol, prio := perm()
		req := ecs.CreateRevokeSecurityGroupRequest()
		req.SecurityGroupId = targetSG
		req.Permissions = &[]ecs.RevokeSecurityGroupPermissions{{IpProtocol: proto, PortRange: ports, SourceCidrIp: peer, Policy: pol, Priority: prio}}
		if _, err := ec.RevokeSecurityGroup(req); err != nil {
			b.Fatal(err)
		}
	}
	// settle waits until the agent applied the store as it is now.
	settle := func() { env.Settle(b) }
	denied := func() bool {
		c, err := probe.DialTCP(context.Background(), client, dst, 300*time.Millisecond)
		if err == nil {
			c.Close()
			return false
		}
		return probe.IsTimeout(err)
	}

	var lat []float64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		settle()
		if !denied() {
			b.Fatal("port 8080 open before authorize")
		}
		p, err := startSYNProber(client, dst, time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the prober is sending
		b.StartTimer()
		authorize()
		t0 := time.Now()
		var t1 time.Time
		select {
		case t1 = <-p.done:
		case <-time.After(10 * time.Second):
			p.close()
			b.Fatal("no connection within 10 s of AuthorizeSecurityGroup")
		}
		b.StopTimer()
		p.close()
		lat = append(lat, float64(t1.Sub(t0).Microseconds())/1000)
		revoke()
		settle()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(lat, 50), "p50-ms")
	b.ReportMetric(percentile(lat, 99), "p99-ms")
	b.ReportMetric(percentile(lat, 100), "max-ms")
	if len(lat) > 1 {
		b.Logf("samples (ms): %v", lat)
	}
}
