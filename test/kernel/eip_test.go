package kernel_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// eipTimeout bounds every probe: a failure must be a silent drop.
const eipTimeout = 1500 * time.Millisecond

// whoServer answers each line on a TCP connection with "<name> <peer>":
// who it is and the address it sees the client at.
type whoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// serveWho listens on IPv4 port (0: any) in namespace ns ("" for the
// test's own, the root namespace: the "internet").
func serveWho(t *testing.T, ns, name string, port int) *whoServer {
	t.Helper()
	return serveWhoOn(t, "tcp4", ns, name, port)
}

// serveWho6 is serveWho on IPv6.
func serveWho6(t *testing.T, ns, name string, port int) *whoServer {
	t.Helper()
	return serveWhoOn(t, "tcp6", ns, name, port)
}

// serveWhoOn is serveWho on network tcp4 or tcp6.
func serveWhoOn(t *testing.T, network, ns, name string, port int) *whoServer {
	t.Helper()
	s := &whoServer{}
	listen := func() error {
		var err error
		s.ln, err = net.Listen(network, fmt.Sprintf(":%d", port))
		return err
	}
	var err error
	if ns == "" {
		err = listen()
	} else {
		err = probe.InNetns(ns, listen)
	}
	if err != nil {
		t.Fatalf("listen in %q: %v", ns, err)
	}
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := fmt.Fprintf(c, "%s %s\n", name, c.RemoteAddr()); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *whoServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ask sends one line on c and returns who answered and the peer address
// it saw.
func ask(c net.Conn) (name, peer string, err error) {
	if err := c.SetDeadline(time.Now().Add(eipTimeout)); err != nil {
		return "", "", err
	}
	if _, err := c.Write([]byte("who\n")); err != nil {
		return "", "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", "", err
	}
	name, peer, _ = strings.Cut(strings.TrimSpace(line), " ")
	return name, peer, nil
}

// dialRoot connects from the root namespace (the internet).
func dialRoot(dst netip.AddrPort) (net.Conn, error) {
	return (&net.Dialer{Timeout: eipTimeout}).Dial("tcp4", dst.String())
}

type eipWorld struct {
	*world
	vpcID string
}

// allocate takes a random address of the default pool (allocateEIP).
func (w *eipWorld) allocate() (id string, addr netip.Addr) {
	w.t.Helper()
	return allocateEIP(w.t, w.vpc)
}

// allocateEIP takes a random address of the default pool, so that test
// runs sharing the host (each with its own control plane) rarely want the
// same route in the root namespace.
func allocateEIP(t testing.TB, c *vpc.Client) (id string, addr netip.Addr) {
	t.Helper()
	for try := 0; ; try++ {
		b := make([]byte, 2)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		// 198.18.0.0/20: .0.1 is the pool's gateway, .15.255 its broadcast.
		req := vpc.CreateAllocateEipAddressRequest()
		req.IpAddress = fmt.Sprintf("198.18.%d.%d", b[0]&0x0f, 2+int(b[1])%253)
		resp, err := c.AllocateEipAddress(req)
		if err != nil && try < 5 {
			continue // taken by this test already
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.AllocationId, netip.MustParseAddr(resp.EipAddress)
	}
}

func (w *eipWorld) associate(id, instance string) {
	w.t.Helper()
	req := vpc.CreateAssociateEipAddressRequest()
	req.AllocationId, req.InstanceId = id, w.ids[instance]
	if _, err := w.vpc.AssociateEipAddress(req); err != nil {
		w.t.Fatalf("associate %s with %s: %v", id, instance, err)
	}
}

func (w *eipWorld) unassociate(id, instance string) {
	w.t.Helper()
	req := vpc.CreateUnassociateEipAddressRequest()
	req.AllocationId, req.InstanceId = id, w.ids[instance]
	if _, err := w.vpc.UnassociateEipAddress(req); err != nil {
		w.t.Fatalf("unassociate %s from %s: %v", id, instance, err)
	}
}

func (w *eipWorld) release(id string) {
	w.t.Helper()
	req := vpc.CreateReleaseEipAddressRequest()
	req.AllocationId = id
	if _, err := w.vpc.ReleaseEipAddress(req); err != nil {
		w.t.Fatalf("release %s: %v", id, err)
	}
}

func (w *eipWorld) status(id string) string {
	w.t.Helper()
	req := vpc.CreateDescribeEipAddressesRequest()
	req.AllocationId = id
	resp, err := w.vpc.DescribeEipAddresses(req)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(resp.EipAddresses.EipAddress) != 1 {
		w.t.Fatalf("describe %s: %d results", id, len(resp.EipAddresses.EipAddress))
	}
	return resp.EipAddresses.EipAddress[0].Status
}

func (w *eipWorld) waitInUse(id string) {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for w.status(id) != model.EIPInUse {
		if time.Now().After(deadline) {
			w.t.Fatalf("EIP %s not InUse after 10 s (status %s)", id, w.status(id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchStatus records every status the store holds for the EIP from now on.
func (w *eipWorld) watchStatus(id string) func() []string {
	st := w.env.App.Service().Store()
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	events, err := st.Watch(ctx, model.PrefixEIP+id, st.Revision())
	if err != nil {
		w.t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	go func() {
		for ev := range events {
			var e model.EIP
			if json.Unmarshal(ev.Value, &e) == nil && e.ID == id {
				mu.Lock()
				if len(seen) == 0 || seen[len(seen)-1] != e.Status {
					seen = append(seen, e.Status)
				}
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// mustReach connects from the internet to dst and checks who answers and
// that it sees the client's real address.
func (w *eipWorld) mustReach(dst netip.AddrPort, want string) net.Conn {
	w.t.Helper()
	c, err := dialRoot(dst)
	if err != nil {
		w.t.Fatalf("internet -> %v: %v", dst, err)
	}
	name, peer, err := ask(c)
	if err != nil {
		c.Close()
		w.t.Fatalf("internet -> %v: %v", dst, err)
	}
	if name != want {
		w.t.Errorf("internet -> %v: answered by %s, want %s", dst, name, want)
	}
	if peer != c.LocalAddr().String() {
		w.t.Errorf("internet -> %v: instance sees the client as %s, want its real address %s", dst, peer, c.LocalAddr())
	}
	return c
}

// mustNotReach checks that a connection from the internet to dst fails
// silently.
func (w *eipWorld) mustNotReach(dst netip.AddrPort, why string) {
	w.t.Helper()
	c, err := dialRoot(dst)
	if err == nil {
		_, _, err = ask(c)
		c.Close()
		if err == nil {
			w.t.Errorf("internet -> %v (%s): reached, want dropped", dst, why)
			return
		}
	}
	if !probe.IsTimeout(err) {
		w.t.Errorf("internet -> %v (%s): %v, want a silent drop", dst, why, err)
	}
}

// outbound connects from the instance to the internet server and returns
// the connection and the source address the server saw.
func (w *eipWorld) outbound(instance string, dst netip.AddrPort) (net.Conn, string, error) {
	c, err := probe.DialTCP(context.Background(), w.ids[instance], dst, eipTimeout)
	if err != nil {
		return nil, "", err
	}
	name, peer, err := ask(c)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	if name != "internet" {
		c.Close()
		return nil, "", fmt.Errorf("answered by %q", name)
	}
	src, _, _ := strings.Cut(peer, ":")
	return c, src, nil
}

// mustBeDead checks that an established connection no longer carries data.
func mustBeDead(t *testing.T, c net.Conn, what string) {
	t.Helper()
	defer c.Close()
	if _, _, err := ask(c); err == nil {
		t.Errorf("%s: the established connection still carries data", what)
	}
}

// TestEIPInternet drives elastic IPs end to end: the root namespace is the
// internet; instances are reached at their EIPs through their security
// groups, see the real client address, and reach the internet with their
// EIP as source; an instance without EIP has no internet at all; moving or
// releasing an EIP ends the connections of the old mapping; status goes
// Associating -> InUse; cleanup leaves nothing in the root namespace.
func TestEIPInternet(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	var vpcID string
	var eips []netip.Addr
	// Registered before the environment, so it runs after the agent has
	// stopped and Applier.Cleanup has run.
	t.Cleanup(func() {
		if vpcID == "" {
			return
		}
		if out, _ := exec.Command("ip", "-o", "link", "show", linux.UplinkName(vpcID)).CombinedOutput(); strings.Contains(string(out), linux.UplinkName(vpcID)+"@") {
			t.Errorf("cleanup left the uplink in the root namespace: %s", out)
		}
		out, err := exec.Command("ip", "-4", "route", "show", "proto", "0x9a").CombinedOutput()
		if err != nil {
			t.Errorf("ip route: %v: %s", err, out)
		}
		for _, a := range eips {
			if strings.Contains(string(out), a.String()+" ") {
				t.Errorf("cleanup left a route to %s in the root namespace:\n%s", a, out)
			}
		}
	})
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := &eipWorld{world: newWorld(t, env)}

	vpcID = w.mustVPC("10.7.0.0/16")
	w.vpcID = vpcID
	vsw := w.mustVSwitch(vpcID, "10.7.1.0/24")
	w.mustGroup("pub", vpcID, "normal", "")
	w.mustGroup("closed", vpcID, "normal", "")
	w.authorize("pub", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("closed", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.0.0.0/8", policy: "accept", priority: 1})
	w.run("e1", vsw, "10.7.1.11", "pub")
	w.run("e2", vsw, "10.7.1.12", "pub")
	w.run("n1", vsw, "10.7.1.13", "pub") // never gets an EIP
	w.run("c1", vsw, "10.7.1.14", "closed")
	w.waitRunning()
	for _, n := range []string{"e1", "e2", "n1", "c1"} {
		serveWho(t, w.ids[n], n, 8080)
	}

	eip1ID, eip1 := w.allocate()
	eip2ID, eip2 := w.allocate()
	eips = []netip.Addr{eip1, eip2}
	seen := w.watchStatus(eip1ID)
	w.associate(eip1ID, "e1")
	w.associate(eip2ID, "c1")
	w.waitInUse(eip1ID)
	w.waitInUse(eip2ID)
	w.settle()
	if got := seen(); len(got) < 2 || got[0] != model.EIPAssociating || got[len(got)-1] != model.EIPInUse {
		t.Errorf("status of %s went %v, want Associating then InUse", eip1ID, got)
	}

	pub1 := netip.AddrPortFrom(eip1, 8080)
	pub2 := netip.AddrPortFrom(eip2, 8080)

	// Inbound: the security group decides, on the real source address.
	w.mustReach(pub1, "e1").Close()
	w.mustNotReach(pub2, "security group allows 10.0.0.0/8 only")

	// Outbound: the internet server sees the EIP; without EIP nothing leaves.
	inet := serveWho(t, "", "internet", 0)
	probeConn, err := net.Dial("udp4", netip.AddrPortFrom(eip1, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	hostAddr := netip.MustParseAddrPort(probeConn.LocalAddr().String()).Addr()
	probeConn.Close()
	inetAP := netip.AddrPortFrom(hostAddr, uint16(inet.port()))
	t.Logf("internet host address %s; EIPs %s (e1), %s (c1)", hostAddr, eip1, eip2)
	for _, tc := range []struct{ inst, want string }{{"e1", eip1.String()}, {"c1", eip2.String()}} {
		c, src, err := w.outbound(tc.inst, inetAP)
		if err != nil {
			t.Errorf("%s -> internet: %v", tc.inst, err)
			continue
		}
		c.Close()
		if src != tc.want {
			t.Errorf("%s -> internet: left with source %s, want its EIP %s", tc.inst, src, tc.want)
		}
	}
	if _, _, err := w.outbound("n1", inetAP); err == nil || !probe.IsTimeout(err) {
		t.Errorf("n1 (no EIP) -> internet: %v, want a silent drop", err)
	}

	// Inbound to a private address: even a route to it through the uplink
	// (which Palisade never installs) leads nowhere.
	uplink := linux.UplinkName(vpcID)
	for _, n := range []string{"n1", "e1"} {
		dst := w.addr[n].String() + "/32"
		if out, err := exec.Command("ip", "route", "add", dst, "via", "169.254.0.2", "dev", uplink, "onlink").CombinedOutput(); err != nil {
			links, _ := exec.Command("ip", "-o", "link").CombinedOutput()
			t.Fatalf("test route %s: %v: %s\n%s", dst, err, out, links)
		}
		w.mustNotReach(netip.AddrPortFrom(w.addr[n], 8080), "private address, not an EIP")
		_ = exec.Command("ip", "route", "del", dst, "via", "169.254.0.2", "dev", uplink).Run()
	}

	// Unassociate: established connections both ways end.
	in := w.mustReach(pub1, "e1")
	out, _, err := w.outbound("e1", inetAP)
	if err != nil {
		t.Fatalf("e1 -> internet: %v", err)
	}
	w.unassociate(eip1ID, "e1")
	w.settle()
	mustBeDead(t, in, "internet -> e1 via EIP after unassociate")
	mustBeDead(t, out, "e1 -> internet after unassociate")
	if _, _, err := w.outbound("e1", inetAP); err == nil {
		t.Errorf("e1 -> internet after unassociate: still reaches the internet")
	}

	// Move to e2: new connections reach e2. Then swap, in one go (no settle
	// in between): eip1 to e1, eip3 from e1 to e2. Both instances keep an
	// EIP, so only the translation state (conntrack) can end the flows of
	// the old mappings: into e2 via eip1, out of e1 via eip3.
	eip3ID, eip3 := w.allocate()
	eips = append(eips, eip3)
	w.associate(eip1ID, "e2")
	w.associate(eip3ID, "e1")
	w.waitInUse(eip1ID)
	w.waitInUse(eip3ID)
	w.settle()
	toE2 := w.mustReach(pub1, "e2")
	outE1, src, err := w.outbound("e1", inetAP)
	if err != nil {
		t.Fatalf("e1 -> internet via eip3: %v", err)
	}
	if src != eip3.String() {
		t.Errorf("e1 -> internet: source %s, want %s", src, eip3)
	}
	w.unassociate(eip1ID, "e2")
	w.unassociate(eip3ID, "e1")
	w.associate(eip1ID, "e1")
	w.associate(eip3ID, "e2")
	w.waitInUse(eip1ID)
	w.waitInUse(eip3ID)
	w.settle()
	mustBeDead(t, toE2, "internet -> e2 via eip1 after moving eip1 to e1")
	mustBeDead(t, outE1, "e1 -> internet as eip3 after moving eip3 to e2")
	w.mustReach(pub1, "e1").Close()
	w.mustReach(netip.AddrPortFrom(eip3, 8080), "e2").Close()
	if c, src, err := w.outbound("e1", inetAP); err != nil || src != eip1.String() {
		t.Errorf("e1 -> internet after the swap: source %s, err %v; want %s", src, err, eip1)
	} else {
		c.Close()
	}

	// Security groups keep their teeth on internet flows: a drop rule for
	// the port ends the established connection into e1 (group pub), not
	// the one into c1's neighbour group.
	inE1 := w.mustReach(pub1, "e1")
	w.authorize("pub", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "0.0.0.0/0", policy: "drop", priority: 1})
	w.settle()
	mustBeDead(t, inE1, "internet -> e1 after a drop rule for the port")
	w.mustNotReach(pub1, "drop rule")

	// Release: the route goes; the other EIP is untouched.
	inC1, _, err := w.outbound("c1", inetAP)
	if err != nil {
		t.Fatalf("c1 -> internet: %v", err)
	}
	w.unassociate(eip1ID, "e1")
	w.release(eip1ID)
	w.settle()
	routes, _ := exec.Command("ip", "-4", "route", "show", "proto", "0x9a").CombinedOutput()
	if strings.Contains(string(routes), eip1.String()+" ") {
		t.Errorf("route to released %s still in the root namespace:\n%s", eip1, routes)
	}
	if !strings.Contains(string(routes), eip2.String()+" ") {
		t.Errorf("route to %s (still associated) missing:\n%s", eip2, routes)
	}
	if _, _, err := ask(inC1); err != nil {
		t.Errorf("c1 -> internet (EIP untouched) ended by another EIP's release: %v", err)
	}
	inC1.Close()
	// A released address is no longer routed to the VPC (where the packet
	// goes instead is the host's business).
	if c, err := dialRoot(pub1); err == nil {
		if name, _, err := ask(c); err == nil && w.ids[name] != "" {
			t.Errorf("internet -> released %v: answered by instance %s", pub1, name)
		}
		c.Close()
	}
}

// TestEIPOfSecondaryENI: an EIP associated with a secondary ENI in another
// vSwitch than the instance's primary ENI. The internet reaches the
// instance at it: the replies, from the ENI's address, leave through that
// ENI (its source routing table), not through eth0 where the default
// routes are and where anti-spoofing would drop them. A socket bound to
// the ENI's address reaches the internet from the EIP; one the kernel
// chooses for follows the default route out of eth0, which has no EIP.
func TestEIPOfSecondaryENI(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := &eipWorld{world: newWorld(t, env)}
	w.vpcID = w.mustVPC("10.9.0.0/16")
	vsw1 := w.mustVSwitch(w.vpcID, "10.9.1.0/24")
	vsw2 := w.mustVSwitch(w.vpcID, "10.9.2.0/24")
	w.mustGroup("pub", w.vpcID, "normal", "")
	w.authorize("pub", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("m1", vsw1, "10.9.1.11", "pub")
	w.waitRunning()

	creq := ecs.CreateCreateNetworkInterfaceRequest()
	creq.VSwitchId, creq.SecurityGroupId, creq.PrimaryIpAddress = vsw2, w.sgs["pub"], "10.9.2.22"
	cresp, err := w.ecs.CreateNetworkInterface(creq)
	if err != nil {
		t.Fatalf("CreateNetworkInterface: %v", err)
	}
	eni := cresp.NetworkInterfaceId
	areq := ecs.CreateAttachNetworkInterfaceRequest()
	areq.NetworkInterfaceId, areq.InstanceId = eni, w.ids["m1"]
	if _, err := w.ecs.AttachNetworkInterface(areq); err != nil {
		t.Fatalf("AttachNetworkInterface: %v", err)
	}
	id, eip := w.allocate()
	req := vpc.CreateAssociateEipAddressRequest()
	req.AllocationId, req.InstanceId, req.InstanceType = id, eni, "NetworkInterface"
	if _, err := w.vpc.AssociateEipAddress(req); err != nil {
		t.Fatalf("associate %s with %s: %v", id, eni, err)
	}
	w.waitInUse(id)
	w.settle()
	serveWho(t, w.ids["m1"], "m1", 8080)

	w.mustReach(netip.AddrPortFrom(eip, 8080), "m1").Close()

	inet := serveWho(t, "", "internet", 0)
	probeConn, err := net.Dial("udp4", netip.AddrPortFrom(eip, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	inetAP := netip.AddrPortFrom(netip.MustParseAddrPort(probeConn.LocalAddr().String()).Addr(), uint16(inet.port()))
	probeConn.Close()
	var c net.Conn
	err = probe.InNetns(w.ids["m1"], func() error {
		d := net.Dialer{Timeout: eipTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.9.2.22")}}
		var err error
		c, err = d.Dial("tcp4", inetAP.String())
		return err
	})
	if err != nil {
		t.Fatalf("m1 bound to 10.9.2.22 -> internet: %v", err)
	}
	name, peer, err := ask(c)
	c.Close()
	if err != nil || name != "internet" || !strings.HasPrefix(peer, eip.String()+":") {
		t.Errorf("m1 bound to 10.9.2.22 -> internet: %q %q %v, want the internet server seeing %s", name, peer, err, eip)
	}
	if _, _, err := w.outbound("m1", inetAP); err == nil || !probe.IsTimeout(err) {
		t.Errorf("m1 -> internet from eth0 (no EIP): %v, want a silent drop", err)
	}
}
