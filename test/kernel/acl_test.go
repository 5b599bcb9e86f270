package kernel_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// aclEntry is one entry as UpdateNetworkAclEntries takes it; cidr is the
// source (ingress) or destination (egress).
type aclEntry struct{ name, policy, proto, port, cidr string }

func (w *world) mustACL(vpcID, name string) string {
	w.t.Helper()
	req := vpc.CreateCreateNetworkAclRequest()
	req.VpcId, req.NetworkAclName = vpcID, name
	resp, err := w.vpc.CreateNetworkAcl(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.NetworkAclId
}

// setACL replaces both entry lists of an ACL (order = priority).
func (w *world) setACL(aclID string, ingress, egress []aclEntry) {
	w.t.Helper()
	req := vpc.CreateUpdateNetworkAclEntriesRequest()
	req.NetworkAclId = aclID
	req.UpdateIngressAclEntries, req.UpdateEgressAclEntries = requests.NewBoolean(true), requests.NewBoolean(true)
	in := []vpc.UpdateNetworkAclEntriesIngressAclEntries{}
	for _, e := range ingress {
		in = append(in, vpc.UpdateNetworkAclEntriesIngressAclEntries{NetworkAclEntryName: e.name, Policy: e.policy, Protocol: e.proto, Port: e.port, SourceCidrIp: e.cidr})
	}
	out := []vpc.UpdateNetworkAclEntriesEgressAclEntries{}
	for _, e := range egress {
		out = append(out, vpc.UpdateNetworkAclEntriesEgressAclEntries{NetworkAclEntryName: e.name, Policy: e.policy, Protocol: e.proto, Port: e.port, DestinationCidrIp: e.cidr})
	}
	req.IngressAclEntries, req.EgressAclEntries = &in, &out
	if _, err := w.vpc.UpdateNetworkAclEntries(req); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) associateACL(aclID, vswID string, on bool) {
	w.t.Helper()
	if on {
		req := vpc.CreateAssociateNetworkAclRequest()
		req.NetworkAclId = aclID
		req.Resource = &[]vpc.AssociateNetworkAclResource{{ResourceId: vswID, ResourceType: "VSwitch"}}
		if _, err := w.vpc.AssociateNetworkAcl(req); err != nil {
			w.t.Fatal(err)
		}
		return
	}
	req := vpc.CreateUnassociateNetworkAclRequest()
	req.NetworkAclId = aclID
	req.Resource = &[]vpc.UnassociateNetworkAclResource{{ResourceId: vswID, ResourceType: "VSwitch"}}
	if _, err := w.vpc.UnassociateNetworkAcl(req); err != nil {
		w.t.Fatal(err)
	}
}

// TestACLMatrix drives network ACLs through the SDK and probes every
// ordered pair of four instances (two per vSwitch) on ICMP, TCP 22, TCP 80
// and UDP 53 after each change: an empty associated ACL, the stateless
// reply case (inbound TCP 80 allowed but no outbound entry for the
// ephemeral ports), the outbound entry that fixes it, entry order as
// priority (UpdateNetworkAclEntries swapping a drop and an accept), ACL and
// security group together, and unassociation.
func TestACLMatrix(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := newWorld(t, env)

	v := w.mustVPC("10.0.0.0/16")
	vswA, vswB := w.mustVSwitch(v, "10.0.1.0/24"), w.mustVSwitch(v, "10.0.2.0/24")
	// "open" lets everything in (by rule; basic egress allows all);
	// "only80" lets only TCP 80 in, not even its own members.
	w.mustGroup("open", v, "normal", "Accept")
	w.authorize("open", ruleSpec{proto: "all", ports: "-1/-1", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.mustGroup("only80", v, "normal", "Drop")
	w.authorize("only80", ruleSpec{proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("a1", vswA, "10.0.1.11", "open")
	w.run("a2", vswA, "10.0.1.12", "open")
	w.run("b1", vswB, "10.0.2.11", "open")
	w.run("b2", vswB, "10.0.2.12", "only80")
	w.waitRunning()
	w.settle()
	for name, id := range w.ids {
		srv, err := probe.Serve(id, []int{22, 80}, []int{53})
		if err != nil {
			t.Fatalf("serve in %s: %v", name, err)
		}
		t.Cleanup(srv.Close)
	}
	names := []string{"a1", "a2", "b1", "b2"}
	kinds := []kind{icmp, ssh, http, dns}
	dsts := map[string]netip.Addr{}
	for n, a := range w.addr {
		dsts[n] = a
	}
	var cells []cell
	for _, from := range names {
		for _, to := range names {
			if from != to {
				for _, k := range kinds {
					cells = append(cells, cell{from, to, k})
				}
			}
		}
	}
	vswOf := func(n string) byte { return n[0] }
	// expect builds the matrix: acl(from, to, k) is the ACL verdict for
	// cross-vSwitch cells; the security groups are applied on top.
	expect := func(acl func(from, to string, k kind) bool) map[cell]bool {
		m := map[cell]bool{}
		for _, c := range cells {
			sg := c.to != "b2" || c.k == http
			pass := vswOf(c.from) == vswOf(c.to) || acl(c.from, c.to, c.k)
			if sg && pass {
				m[c] = true
			}
		}
		return m
	}
	none := func(string, string, kind) bool { return false }
	all := func(string, string, kind) bool { return true }

	start := time.Now()
	w.check("no ACL", cells, dsts, expect(all))

	// 1. An empty ACL on vSwitch B denies everything crossing it, both
	// ways; traffic inside each vSwitch is not filtered.
	acl := w.mustACL(v, "b-acl")
	w.associateACL(acl, vswB, true)
	w.settle()
	w.check("empty ACL associated with B", cells, dsts, expect(none))

	// 2. Inbound TCP 80 from A, but no outbound entry: the SYN reaches B,
	// the SYN-ACK (to an ephemeral port of A) does not leave B.
	inHTTP := aclEntry{"http-from-a", "accept", "tcp", "80/80", "10.0.1.0/24"}
	w.setACL(acl, []aclEntry{inHTTP}, nil)
	w.settle()
	w.check("inbound 80 only (stateless: no reply)", cells, dsts, expect(none))
	// The SYN did arrive: B's conntrack saw it, the reply is what died.

	// 3. Outbound to A's ephemeral ports: A reaches B on 80.
	outEph := aclEntry{"ephemeral-to-a", "accept", "tcp", "1024/65535", "10.0.1.0/24"}
	w.setACL(acl, []aclEntry{inHTTP}, []aclEntry{outEph})
	w.settle()
	httpAtoB := func(from, to string, k kind) bool { return vswOf(from) == 'a' && vswOf(to) == 'b' && k == http }
	w.check("inbound 80 and outbound ephemeral", cells, dsts, expect(httpAtoB))

	// 4. Order: a drop for a1's SSH ahead of an accept for A's SSH.
	dropA1 := aclEntry{"no-ssh-a1", "drop", "tcp", "22/22", "10.0.1.11/32"}
	sshA := aclEntry{"ssh-from-a", "accept", "tcp", "22/22", "10.0.1.0/24"}
	w.setACL(acl, []aclEntry{dropA1, sshA, inHTTP}, []aclEntry{outEph})
	w.settle()
	w.check("drop before accept", cells, dsts, expect(func(from, to string, k kind) bool {
		return httpAtoB(from, to, k) || (vswOf(from) == 'a' && vswOf(to) == 'b' && k == ssh && from != "a1")
	}))

	// 5. Swapped: the accept comes first and wins for a1 too. b2 still
	// refuses SSH: its security group allows only TCP 80 (both must allow).
	w.setACL(acl, []aclEntry{sshA, dropA1, inHTTP}, []aclEntry{outEph})
	w.settle()
	sshOrHTTP := func(from, to string, k kind) bool {
		return vswOf(from) == 'a' && vswOf(to) == 'b' && (k == http || k == ssh)
	}
	w.check("accept before drop", cells, dsts, expect(sshOrHTTP))

	// An established connection across the ACL, then an ACL change that
	// denies its replies: the flow is dead (stateless) and cut.
	conn, err := probe.DialTCP(context.Background(), w.ids["a2"], netip.AddrPortFrom(w.addr["b1"], 22), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := probe.Echo(conn, "before", time.Second); err != nil {
		t.Fatalf("a2 -> b1:22 established: %v", err)
	}
	w.setACL(acl, []aclEntry{sshA, dropA1, inHTTP}, nil)
	w.settle()
	if err := probe.Echo(conn, "after", time.Second); err == nil {
		t.Error("a2 -> b1:22 still passes after the outbound entry was removed (ACLs are stateless)")
	}
	w.check("outbound entry removed again", cells, dsts, expect(none))

	// 6. Unassociated: everything the security groups allow is back.
	w.associateACL(acl, vswB, false)
	w.settle()
	w.check("unassociated", cells, dsts, expect(all))
	t.Logf("%d steps of %d probes in %v", 8, len(cells), time.Since(start).Round(time.Millisecond))
}
