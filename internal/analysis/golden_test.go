package analysis

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func tcp(id, dir string, port int, peer string, policy string, prio int) model.Rule {
	r := model.Rule{ID: id, Direction: dir, Protocol: model.ProtoTCP, Ports: model.PortRange{From: port, To: port}, Policy: policy, Priority: prio}
	if len(peer) > 3 && peer[:3] == "sg-" {
		r.PeerGroupID = peer
	} else {
		r.PeerCidr = pfx(peer)
	}
	return r
}

// fixedWorld is the world of the golden files: a web tier, a database
// tier behind a network ACL, an admin host, an unused group, an ENI that
// accepts nothing and a stopped instance.
func fixedWorld() *World {
	w := &World{Limits: Limits{RulesPerGroup: 6, GroupsPerENI: 10, VpcsPerAccount: 10}}
	w.VPCs = []model.VPC{
		{ID: "vpc-prod", CidrBlock: pfx("10.0.0.0/16")},
		{ID: "vpc-other", CidrBlock: pfx("10.0.0.0/16")},
	}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-web", VpcID: "vpc-prod", CidrBlock: pfx("10.0.1.0/24")},
		{ID: "vsw-db", VpcID: "vpc-prod", CidrBlock: pfx("10.0.2.0/24"), NetworkAclID: "nacl-db"},
		{ID: "vsw-admin", VpcID: "vpc-prod", CidrBlock: pfx("10.0.3.0/24")},
		{ID: "vsw-other", VpcID: "vpc-other", CidrBlock: pfx("10.0.1.0/24")},
	}
	w.ACLs = []model.NetworkACL{{ID: "nacl-db", VpcID: "vpc-prod",
		Ingress: []model.ACLEntry{
			{ID: "nae-in-web", Name: "web", Policy: model.PolicyAccept, Protocol: "tcp", Ports: model.PortRange{From: 5432, To: 5432}, Cidr: pfx("10.0.1.0/24")},
			{ID: "nae-in-vpc", Name: "vpc", Policy: model.PolicyAccept, Protocol: "all", Ports: model.PortRange{From: -1, To: -1}, Cidr: pfx("10.0.0.0/16")},
			{ID: "nae-in-late", Name: "late-drop", Policy: model.PolicyDrop, Protocol: "tcp", Ports: model.PortRange{From: 5432, To: 5432}, Cidr: pfx("10.0.3.0/24")},
		},
		Egress: []model.ACLEntry{
			{ID: "nae-out-web", Name: "replies-web", Policy: model.PolicyAccept, Protocol: "tcp", Ports: model.PortRange{From: 1024, To: 65535}, Cidr: pfx("10.0.1.0/24")},
		},
	}}
	w.Groups = []model.SecurityGroup{
		{ID: "sg-web", VpcID: "vpc-prod", Name: "web", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-web-ssh", model.Ingress, 22, "0.0.0.0/0", model.PolicyAccept, 100),
			tcp("sgr-web-https", model.Ingress, 443, "0.0.0.0/0", model.PolicyAccept, 1),
			tcp("sgr-web-block", model.Ingress, 22, "198.51.100.0/24", model.PolicyDrop, 1),
		}},
		{ID: "sg-db", VpcID: "vpc-prod", Name: "db", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept, Rules: []model.Rule{
			tcp("sgr-db-web", model.Ingress, 5432, "sg-web", model.PolicyAccept, 1),
			tcp("sgr-db-admin", model.Ingress, 5432, "10.0.3.0/24", model.PolicyAccept, 1),
			{ID: "sgr-db-deny", Direction: model.Ingress, Protocol: model.ProtoALL, Ports: model.PortRange{From: -1, To: -1}, PeerCidr: pfx("0.0.0.0/0"), Policy: model.PolicyDrop, Priority: 100},
			tcp("sgr-db-redis", model.Ingress, 6379, "0.0.0.0/0", model.PolicyAccept, 100),
			tcp("sgr-db-empty", model.Ingress, 5432, "sg-empty", model.PolicyAccept, 2),
		}},
		{ID: "sg-admin", VpcID: "vpc-prod", Name: "admin", Type: model.GroupTypeBasic, Rules: []model.Rule{
			tcp("sgr-admin-ssh", model.Ingress, 22, "10.0.0.0/16", model.PolicyAccept, 1),
			tcp("sgr-admin-ssh2", model.Ingress, 22, "10.0.0.0/16", model.PolicyAccept, 1),
		}},
		{ID: "sg-empty", VpcID: "vpc-prod", Name: "empty", Type: model.GroupTypeBasic},
		{ID: "sg-locked", VpcID: "vpc-prod", Name: "locked", Type: model.GroupTypeAdvanced, Rules: []model.Rule{
			tcp("sgr-locked-out", model.Egress, 443, "0.0.0.0/0", model.PolicyAccept, 1),
		}},
	}
	eni := func(id, inst, vsw, vpc, addr string, groups ...string) model.ENI {
		return model.ENI{ID: id, InstanceID: inst, VSwitchID: vsw, VpcID: vpc, PrimaryIP: ip(addr), SecurityGroupIDs: groups, Type: model.ENITypePrimary}
	}
	w.ENIs = []model.ENI{
		eni("eni-web1", "i-web1", "vsw-web", "vpc-prod", "10.0.1.10", "sg-web"),
		eni("eni-db1", "i-db1", "vsw-db", "vpc-prod", "10.0.2.10", "sg-db"),
		eni("eni-db2", "i-db2", "vsw-db", "vpc-prod", "10.0.2.11", "sg-db"),
		eni("eni-admin", "i-admin", "vsw-admin", "vpc-prod", "10.0.3.10", "sg-admin"),
		eni("eni-locked", "i-locked", "vsw-admin", "vpc-prod", "10.0.3.20", "sg-locked"),
		eni("eni-other", "i-other", "vsw-other", "vpc-other", "10.0.1.10"),
	}
	inst := func(id, vpc, eni, status string) model.Instance {
		return model.Instance{ID: id, Name: id[2:], VpcID: vpc, PrimaryENIID: eni, Status: status}
	}
	w.Instances = []model.Instance{
		inst("i-web1", "vpc-prod", "eni-web1", model.InstanceRunning),
		inst("i-db1", "vpc-prod", "eni-db1", model.InstanceRunning),
		inst("i-db2", "vpc-prod", "eni-db2", model.InstanceStopped),
		inst("i-admin", "vpc-prod", "eni-admin", model.InstanceRunning),
		inst("i-locked", "vpc-prod", "eni-locked", model.InstanceRunning),
		inst("i-other", "vpc-other", "eni-other", model.InstanceRunning),
	}
	w.EIPs = []model.EIP{
		{ID: "eip-web1", Address: ip("198.18.0.10"), ENIID: "eni-web1", PrivateIP: ip("10.0.1.10"), InstanceID: "i-web1", Status: model.EIPInUse},
		{ID: "eip-free", Address: ip("198.18.0.11"), Status: model.EIPAvailable},
	}
	w.WAF = []WAFSteer{
		{ProtectionID: "waf-web1", InstanceID: "i-web1", Port: 443, Protocol: "HTTPS", Mode: "block", Paranoia: 1},
		{ProtectionID: "waf-db1", InstanceID: "i-db1", Port: 8080, Protocol: "HTTP", Mode: "monitor", Paranoia: 2}, // no EIP
	}
	return w
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it after review):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

var goldenReach = []struct {
	name string
	q    ReachQuery
}{
	{"web-to-db", ReachQuery{From: "i-web1", To: "i-db1", Protocol: "tcp", Port: 5432}},
	{"admin-to-db-reply-blocked", ReachQuery{From: "i-admin", To: "i-db1", Protocol: "tcp", Port: 5432}},
	{"internet-to-web-ssh", ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22}},
	{"internet-to-eip-https", ReachQuery{From: "203.0.113.7", To: "198.18.0.10", Protocol: "tcp", Port: 443}},
	{"internet-to-admin-no-eip", ReachQuery{From: "203.0.113.7", To: "i-admin", Protocol: "tcp", Port: 22}},
	{"internet-cidr-to-web-ssh", ReachQuery{From: "198.0.0.0/7", To: "eni-web1", Protocol: "tcp", Port: 22}},
	{"web-to-db-redis", ReachQuery{From: "i-web1", To: "10.0.2.10", Protocol: "tcp", Port: 6379}},
	{"web-to-stopped-db", ReachQuery{From: "i-web1", To: "i-db2", Protocol: "tcp", Port: 5432}},
	{"locked-egress", ReachQuery{From: "i-locked", To: "8.8.8.8", Protocol: "udp", Port: 53}},
	{"cross-vpc", ReachQuery{From: "i-other", To: "i-web1", Protocol: "icmp"}},
	{"db-inner-group", ReachQuery{From: "i-db1", To: "eni-db2", Protocol: "tcp", Port: 9999, SourcePort: 40000}},
}

func TestGoldenReach(t *testing.T) {
	a := New(fixedWorld())
	for _, c := range goldenReach {
		t.Run(c.name, func(t *testing.T) {
			r, err := a.Reach(c.q)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteReach(&b, r); err != nil {
				t.Fatal(err)
			}
			golden(t, "reach-"+c.name+".txt", b.Bytes())
		})
	}
	r, err := a.Reach(goldenReach[1].q)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.MarshalIndent(r, "", "  ")
	golden(t, "reach-admin-to-db.json", append(j, '\n'))
}

func TestGoldenAudit(t *testing.T) {
	a := New(fixedWorld())
	r, err := a.Audit(AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteAudit(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.txt", b.Bytes())
	j, _ := json.MarshalIndent(r, "", "  ")
	golden(t, "audit.json", append(j, '\n'))
}

func TestGoldenMatrix(t *testing.T) {
	a := New(fixedWorld())
	ports, _ := ParsePorts("22,443,5432,icmp")
	m, err := a.Matrix(MatrixQuery{VpcID: "vpc-prod", Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteMatrix(&b, m); err != nil {
		t.Fatal(err)
	}
	golden(t, "matrix.txt", b.Bytes())
	golden(t, "matrix.csv", []byte(m.CSV()))
}

// TestWhatIf: a proposed change answers as if applied, and leaves the
// world alone.
func TestWhatIf(t *testing.T) {
	w := fixedWorld()
	q := ReachQuery{From: "i-web1", To: "i-db1", Protocol: "tcp", Port: 6379}
	before, _ := New(w).Reach(q)
	add := tcp("", model.Ingress, 6379, "sg-web", model.PolicyAccept, 1)
	w2, desc, err := w.WithChanges([]Change{{Action: "add", GroupID: "sg-db", Rule: add}, {Action: "remove", GroupID: "sg-web", RuleID: "sgr-web-ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := New(w2).Reach(q)
	if before.Reachable || !after.Reachable {
		t.Fatalf("before %v after %v", before.Verdict, after.Verdict)
	}
	if len(w.Groups[1].Rules) != 5 || len(w.Groups[0].Rules) != 3 {
		t.Fatal("WithChanges modified the original world")
	}
	au, _ := New(w2).Audit(AuditQuery{})
	au.WhatIf = desc
	var b bytes.Buffer
	_ = WriteAudit(&b, au)
	golden(t, "audit-whatif.txt", b.Bytes())
	if _, _, err := w.WithChanges([]Change{{Action: "remove", GroupID: "sg-db", RuleID: "sgr-nope"}}); err == nil {
		t.Fatal("removing an unknown rule succeeded")
	}
}
