package kernel_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/store"
)

// TestUnrepliedFlowRejudged checks the verdict cache of flows that are not
// established (policy.GenSet): an unreplied UDP stream is stamped with the
// program's generation once both security-group chains let it through;
// a new program (loaded here without the agent's conntrack cut, so only
// the generation can stop the stream) makes the stamp stale and the next
// datagram of the same 5-tuple meets the new rules; allowing it again lets
// it through again.
func TestUnrepliedFlowRejudged(t *testing.T) {
	r := newRig(t, "vc", time.Hour)
	vsw := r.vswitch("v", "10.77.1.0/24")
	allow := model.Rule{ID: "sgr-udp7000", Direction: model.Ingress, Protocol: model.ProtoUDP,
		Ports: model.PortRange{From: 7000, To: 7000}, PeerCidr: netip.MustParsePrefix("10.77.0.0/16"),
		Policy: model.PolicyAccept, Priority: 1}
	group := func(rules ...model.Rule) model.SecurityGroup {
		return model.SecurityGroup{ID: r.groupID("g"), VpcID: r.vpc, Type: model.GroupTypeBasic,
			InnerAccessPolicy: model.InnerDrop, Rules: rules}
	}
	r.put(model.PrefixSecurityGroup+r.groupID("g"), group(allow))
	a := r.instance("a", vsw, "10.77.1.10", r.groupID("g"))
	b := r.instance("b", vsw, "10.77.1.11", r.groupID("g"))
	r.reconcile()

	// b reads datagrams and never answers, so the flow stays unreplied.
	var recv net.PacketConn
	if err := probe.InNetns(b.inst, func() error {
		var err error
		recv, err = net.ListenPacket("udp4", b.addr.String()+":7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	var send net.Conn
	if err := probe.InNetns(a.inst, func() error {
		var err error
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: a.addr.AsSlice(), Port: 41000}}
		send, err = d.Dial("udp4", netip.AddrPortFrom(b.addr, 7000).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { send.Close() })
	// arrives sends one datagram and says whether b got it.
	seq := 0
	arrives := func() bool {
		t.Helper()
		seq++
		msg := fmt.Sprintf("d%d", seq)
		if _, err := send.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		for {
			recv.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := recv.ReadFrom(buf)
			if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) == msg {
				return true
			}
		}
	}
	for i := range 3 {
		if !arrives() {
			t.Fatalf("datagram %d of the allowed stream did not arrive", i)
		}
	}
	gen := r.generation()
	if mark := r.flowMark(41000); mark != gen {
		t.Fatalf("unreplied flow has conntrack mark %#x, want the program's generation %#x", mark, gen)
	}

	// The rule goes; the new program is loaded without cutting conntrack.
	r.put(model.PrefixSecurityGroup+r.groupID("g"), group())
	r.loadOnly()
	if r.generation() == gen {
		t.Fatal("the generation did not change with the program")
	}
	if mark := r.flowMark(41000); mark != gen {
		t.Fatalf("flow mark %#x changed before any packet (want the old %#x): the test would not test the cache", mark, gen)
	}
	for i := range 3 {
		if arrives() {
			t.Fatalf("datagram %d of a stream the new program denies arrived (stale verdict cache)", i)
		}
	}

	// Allowed again: the same 5-tuple passes and is stamped anew.
	r.put(model.PrefixSecurityGroup+r.groupID("g"), group(allow))
	r.loadOnly()
	if !arrives() {
		t.Fatal("datagram of the stream allowed again did not arrive")
	}
	if mark, gen := r.flowMark(41000), r.generation(); mark != gen {
		t.Fatalf("flow mark %#x, want the new generation %#x", mark, gen)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// loadOnly compiles the store's program for the rig's VPC and loads it,
// without the agent's conntrack cut.
func (r *rig) loadOnly() {
	r.t.Helper()
	var d *agent.Desired
	if err := r.st.View(r.ctx, func(tx store.ReadTxn) error {
		var err error
		d, err = agent.Build(tx, rigZone, linux.VethName)
		return err
	}); err != nil {
		r.t.Fatal(err)
	}
	if err := r.fw.Load(r.ctx, r.vpc, d.Programs[r.vpc]); err != nil {
		r.t.Fatal(err)
	}
}

// generation reads the verdict-cache generation of the loaded program.
func (r *rig) generation() uint32 {
	r.t.Helper()
	out, err := r.vpcExec("nft", "list", "set", "inet", "palisade", "sg_gen")
	if err != nil {
		r.t.Fatal(err)
	}
	m := regexp.MustCompile(`elements = \{ (0x[0-9a-f]+) \}`).FindStringSubmatch(out)
	if m == nil {
		r.t.Fatalf("no generation in:\n%s", out)
	}
	g, err := strconv.ParseUint(m[1], 0, 32)
	if err != nil {
		r.t.Fatal(err)
	}
	return uint32(g)
}

// flowMark is the conntrack mark of the UDP flow from source port sport.
func (r *rig) flowMark(sport int) uint32 {
	r.t.Helper()
	out, err := r.vpcExec("conntrack", "-L", "-p", "udp", "--sport", strconv.Itoa(sport))
	if err != nil {
		r.t.Fatal(err)
	}
	m := regexp.MustCompile(`mark=(\d+)`).FindStringSubmatch(out)
	if m == nil || strings.Count(out, "udp ") != 1 {
		r.t.Fatalf("want one flow with a mark from port %d, conntrack lists:\n%s", sport, out)
	}
	v, err := strconv.ParseUint(m[1], 10, 32)
	if err != nil {
		r.t.Fatal(err)
	}
	return uint32(v)
}
