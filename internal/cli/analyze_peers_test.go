package cli_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

// TestAnalyzeMatrixIncludePeers: --include-peers adds the instances of a
// peered VPC and names each instance's VPC in the table and the CSV; a
// route on one side only is "first packet passes" until the route back
// exists.
func TestAnalyzeMatrixIncludePeers(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	net := func(cidr, vsw, ip string) (vpc, inst string) {
		vpc = strings.TrimSpace(r.ok("vpc", "create", "--cidr", cidr))
		sw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", vsw))
		sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "app"))
		r.ok("sg", "rule", "add", sg, "--protocol", "tcp", "--port", "22", "--cidr", "10.0.0.0/8")
		inst = strings.TrimSpace(r.ok("instance", "create", "--vswitch", sw, "--sg", sg, "--private-ip", ip))
		return vpc, inst
	}
	a, iA := net("10.0.0.0/16", "10.0.1.0/24", "10.0.1.10")
	b, iB := net("10.2.0.0/16", "10.2.1.0/24", "10.2.1.10")
	pcc := strings.TrimSpace(r.ok("peering", "create", "--vpc", a, "--accepting-vpc", b))
	r.ok("route", "add", "--vpc", a, "--destination", "10.2.0.0/16", "--peering", pcc)

	if out := r.ok("analyze", "matrix", "--vpc", a, "--ports", "22"); strings.Contains(out, iB) || strings.Contains(out, "VPC  ") {
		t.Errorf("without --include-peers:\n%s", out)
	}
	out := r.ok("analyze", "matrix", "--vpc", a, "--ports", "22", "--include-peers")
	for _, want := range []string{"VPC " + a + " and its peered " + b + ": 2 instances", iB, "VPC", "no route back over the peering"} {
		if !strings.Contains(out, want) {
			t.Errorf("with --include-peers, no %q:\n%s", want, out)
		}
	}
	csv := r.ok("analyze", "matrix", "--vpc", a, "--ports", "22", "--include-peers", "--output", "csv")
	if !strings.HasPrefix(csv, "from_instance,from_address,from_vpc,to_instance,to_address,to_vpc,") ||
		!strings.Contains(csv, iA+",10.0.1.10,"+a+","+iB+",10.2.1.10,"+b+",tcp:22,false,true") ||
		!strings.Contains(csv, iB+",10.2.1.10,"+b+","+iA+",10.0.1.10,"+a+",tcp:22,false,false") {
		t.Errorf("csv, route on one side:\n%s", csv)
	}
	r.ok("route", "add", "--vpc", b, "--destination", "10.0.0.0/16", "--peering", pcc)
	csv = r.ok("analyze", "matrix", "--vpc", a, "--ports", "22", "--include-peers", "--output", "csv")
	if !strings.Contains(csv, iA+",10.0.1.10,"+a+","+iB+",10.2.1.10,"+b+",tcp:22,true,true") ||
		!strings.Contains(csv, iB+",10.2.1.10,"+b+","+iA+",10.0.1.10,"+a+",tcp:22,true,true") {
		t.Errorf("csv, routes both ways:\n%s", csv)
	}
	m := r.okJSON("analyze", "matrix", "--vpc", b, "--ports", "22", "--include-peers")
	insts, _ := m["Instances"].([]any)
	if len(insts) != 2 || str(insts[0].(map[string]any), "VpcID") != b || str(insts[1].(map[string]any), "VpcID") != a {
		t.Errorf("json from %s: %v", b, m)
	}
	if help := r.ok("analyze", "matrix", "--help"); !strings.Contains(help, "--include-peers") || !strings.Contains(help, "another\naccount's peer VPC") {
		t.Errorf("help:\n%s", help)
	}
}
