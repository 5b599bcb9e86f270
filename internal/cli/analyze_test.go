package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

// TestAnalyzeCommands runs reach, matrix and audit against a server: a web
// instance with SSH open to the world, a database reachable from the web
// group only, and what-if changes that are answered but not applied.
func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func TestAnalyzeCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpc := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vswWeb := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", "10.0.1.0/24"))
	vswDB := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", "10.0.2.0/24"))
	web := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "web"))
	db := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "db"))
	r.ok("sg", "rule", "add", web, "--protocol", "tcp", "--port", "22", "--cidr", "0.0.0.0/0")
	r.ok("sg", "rule", "add", db, "--protocol", "tcp", "--port", "5432", "--group", web)
	iWeb := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vswWeb, "--sg", web, "--name", "web", "--private-ip", "10.0.1.10"))
	iDB := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vswDB, "--sg", db, "--name", "db", "--private-ip", "10.0.2.10"))

	out := r.ok("analyze", "reach", "--from", iWeb, "--to", iDB, "--protocol", "tcp", "--port", "5432")
	if !strings.Contains(out, "REACHABLE") || !strings.Contains(out, "sg-ingress") || !strings.Contains(out, "of "+db) {
		t.Errorf("reach web -> db:\n%s", out)
	}
	out = r.ok("analyze", "reach", "--from", iDB, "--to", iWeb, "--protocol", "tcp", "--port", "5432")
	if !strings.Contains(out, "UNREACHABLE") || !strings.Contains(out, "deny ingress by default") {
		t.Errorf("reach db -> web:\n%s", out)
	}
	// The internet reaches an instance through its EIP only.
	j := r.okJSON("analyze", "reach", "--from", "203.0.113.5", "--to", iWeb, "--port", "22")
	if j["Verdict"] != "unreachable" {
		t.Errorf("reach from the internet without an EIP: %v", j)
	}
	eip := r.okJSON("eip", "allocate")
	eipID, eipAddr := str(eip, "AllocationId"), str(eip, "EipAddress")
	r.ok("eip", "associate", eipID, iWeb)
	j = r.okJSON("analyze", "reach", "--from", "203.0.113.5", "--to", eipAddr, "--port", "22")
	if j["Verdict"] != "reachable" || j["Reachable"] != true {
		t.Errorf("reach json through the EIP %s: %v", eipAddr, j)
	}
	// What-if: answered as if applied, not applied.
	out = r.ok("analyze", "reach", "--from", iDB, "--to", iWeb, "--protocol", "tcp", "--port", "5432", "--add-rule", web+",ingress,tcp,5432,"+db)
	if !strings.Contains(out, "REACHABLE") || !strings.Contains(out, "what-if") {
		t.Errorf("reach with --add-rule:\n%s", out)
	}
	if out := r.ok("analyze", "reach", "--from", iDB, "--to", iWeb, "--protocol", "tcp", "--port", "5432"); !strings.Contains(out, "UNREACHABLE") {
		t.Errorf("the what-if change was applied:\n%s", out)
	}
	if e := r.fail("analyze", "reach", "--from", "i-nope", "--to", iWeb, "--port", "22"); !strings.Contains(e, "InvalidInstanceId.NotFound") {
		t.Errorf("unknown instance: %s", e)
	}
	if e := r.fail("analyze", "reach", "--from", iDB, "--to", iWeb); !strings.Contains(e, "MissingParameter") {
		t.Errorf("tcp without port: %s", e)
	}

	// Matrix: table, csv, json.
	out = r.ok("analyze", "matrix", "--vpc", vpc, "--ports", "22,5432")
	if !strings.Contains(out, "tcp:5432") || !strings.Contains(out, iWeb) {
		t.Errorf("matrix:\n%s", out)
	}
	csv := r.ok("analyze", "matrix", "--vpc", vpc, "--ports", "22,5432", "--output", "csv")
	if !strings.Contains(csv, iWeb+",10.0.1.10,"+iDB+",10.0.2.10,tcp:5432,true,true") ||
		!strings.Contains(csv, iDB+",10.0.2.10,"+iWeb+",10.0.1.10,tcp:5432,false,false") {
		t.Errorf("matrix csv:\n%s", csv)
	}
	m := r.okJSON("analyze", "matrix", "--vpc", vpc, "--ports", "5432")
	if m["Reachable"] != json.Number("1") && m["Reachable"] != float64(1) {
		t.Errorf("matrix json: %v", m)
	}
	if e := r.fail("vpc", "list", "--output", "csv"); !strings.Contains(e, "invalid --output") {
		t.Errorf("csv outside matrix: %s", e)
	}

	// Audit: SSH open to the world is high; --fail-on sets the exit code.
	out, _, code := r.run("audit", "--vpc", vpc, "--fail-on", "high")
	if code != 2 || !strings.Contains(out, "[HIGH] sensitive-port-open "+web) {
		t.Errorf("audit exit %d:\n%s", code, out)
	}
	file := filepath.Join(t.TempDir(), "change.yaml")
	var ruleID string
	g := r.okJSON("sg", "show", web)
	b, _ := json.Marshal(g)
	for _, part := range strings.Split(string(b), "\"") {
		if strings.HasPrefix(part, "sgr-") {
			ruleID = part
		}
	}
	if err := os.WriteFile(file, []byte("- {action: remove, group: "+web+", rule_id: "+ruleID+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = r.run("audit", "--vpc", vpc, "--fail-on", "high", "--what-if", file)
	if code != 0 || strings.Contains(out, "[HIGH]") || !strings.Contains(out, "what-if (not applied): remove ingress rule "+ruleID) {
		t.Errorf("audit with what-if exit %d:\n%s", code, out)
	}
	if e := r.fail("audit", "--fail-on", "urgent"); !strings.Contains(e, "--fail-on") {
		t.Errorf("bad --fail-on: %s", e)
	}

	// Isolation: another account sees none of it.
	other := env.NewAccount(t, "other")
	r2 := newRunner(t, env)
	r2.vars["ALIBABA_CLOUD_ACCESS_KEY_ID"], r2.vars["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = other.AccessKeyID, other.Secret
	if e := r2.fail("analyze", "reach", "--from", iWeb, "--to", iDB, "--port", "5432"); !strings.Contains(e, "NotFound") {
		t.Errorf("other account reach: %s", e)
	}
	if e := r2.fail("analyze", "matrix", "--vpc", vpc); !strings.Contains(e, "InvalidVpcId.NotFound") {
		t.Errorf("other account matrix: %s", e)
	}
	if out := r2.ok("audit"); !strings.Contains(out, "0 groups") {
		t.Errorf("other account audit:\n%s", out)
	}
}

// TestAnalyzePortFlags: --port and --source-port given as 0 are refused
// by the server (InvalidParameter, naming the valid range), not taken for
// "not given"; not given, --port is still required for tcp and
// --source-port still defaults to 49152.
func TestAnalyzePortFlags(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpc := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "web"))
	a := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--name", "ia"))
	b := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--name", "ib"))
	reach := []string{"analyze", "reach", "--from", a, "--to", b}
	for _, c := range []struct {
		args []string
		want []string // in stderr
	}{
		{append(reach, "--port", "0"), []string{"InvalidParameter", `"Port"`, "0 is not a valid destination port", "1-65535"}},
		{append(reach, "--port", "65536"), []string{"InvalidParameter", `"Port"`, "1-65535"}},
		{append(reach, "--port", "22", "--source-port", "0"), []string{"InvalidParameter", `"SourcePort"`, "1-65535", "default 49152"}},
		{append(reach, "--port", "22", "--source-port", "-5"), []string{"InvalidParameter", `"SourcePort"`, "1-65535"}},
		{append(reach, "--protocol", "icmp", "--port", "0"), []string{"InvalidParameter", `"Port"`}},
		{reach, []string{"MissingParameter", `"Port"`}},
		{[]string{"analyze", "matrix", "--vpc", vpc, "--source-port", "0"}, []string{"InvalidParameter", `"SourcePort"`, "1-65535"}},
	} {
		e := r.fail(c.args...)
		for _, w := range c.want {
			if !strings.Contains(e, w) {
				t.Errorf("palisade %s: stderr %q lacks %q", strings.Join(c.args, " "), e, w)
			}
		}
	}
	for _, c := range []struct {
		args  []string
		sport string
	}{
		{append(reach, "--port", "22"), "49152"},
		{append(reach, "--port", "22", "--source-port", "1"), "1"},
		{append(reach, "--port", "65535", "--source-port", "65535"), "65535"},
		{append(reach, "--protocol", "icmp"), "0"},
		{[]string{"analyze", "matrix", "--vpc", vpc}, "49152"},
	} {
		if got := fmt.Sprint(r.okJSON(c.args...)["SourcePort"]); got != c.sport {
			t.Errorf("palisade %s: SourcePort %s, want %s", strings.Join(c.args, " "), got, c.sport)
		}
	}
}

// TestAnalyzeReachEIPHairpin: from an instance to an EIP (of its own VPC,
// of another VPC, of another account) is unreachable, the route naming
// the missing EIP hairpin, as the data plane drops such traffic.
func TestAnalyzeReachEIPHairpin(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	mk := func(r *runner, cidr string) (vpc, inst string) {
		vpc = strings.TrimSpace(r.ok("vpc", "create", "--cidr", cidr))
		vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", strings.Replace(cidr, "0.0/16", "1.0/24", 1)))
		sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "open"))
		r.ok("sg", "rule", "add", sg, "--protocol", "tcp", "--port", "80", "--cidr", "0.0.0.0/0")
		return vpc, strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg))
	}
	eip := func(r *runner, inst string) string {
		e := r.okJSON("eip", "allocate")
		r.ok("eip", "associate", str(e, "AllocationId"), inst)
		return str(e, "EipAddress")
	}
	vpc1, a := mk(r, "10.1.0.0/16")
	_, b := mk(r, "10.2.0.0/16")
	eipA, eipB := eip(r, a), eip(r, b)
	other := env.NewAccount(t, "other")
	r2 := newRunner(t, env)
	r2.vars["ALIBABA_CLOUD_ACCESS_KEY_ID"], r2.vars["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] = other.AccessKeyID, other.Secret
	vpcO, o := mk(r2, "10.3.0.0/16")
	eipO := eip(r2, o)
	for _, c := range []struct{ to, want string }{
		{eipA, "EIP hairpin is not supported: traffic from inside a VPC to EIP " + eipA},
		{eipB, "EIP hairpin is not supported: traffic from inside a VPC to EIP " + eipB + " leaves through the uplink of " + vpc1},
		{eipO, "EIP hairpin is not supported: traffic from inside a VPC to " + eipO + ", an address of the EIP pool"},
	} {
		out := r.ok("analyze", "reach", "--from", a, "--to", c.to, "--port", "80")
		if !strings.Contains(out, "UNREACHABLE") || !strings.Contains(out, c.want) || strings.Contains(out, "never reach each other") {
			t.Errorf("reach %s -> %s:\n%s", a, c.to, out)
		}
		for _, leak := range []string{o, vpcO, other.AccountID} {
			if strings.Contains(out, leak) {
				t.Errorf("reach %s -> %s names %s of another account:\n%s", a, c.to, leak, out)
			}
		}
	}
	// The internet still reaches the instance through its EIP.
	if out := r.ok("analyze", "reach", "--from", "203.0.113.5", "--to", eipA, "--port", "80"); !strings.Contains(out, "REACHABLE") || strings.Contains(out, "UNREACHABLE") {
		t.Errorf("internet -> %s:\n%s", eipA, out)
	}
}
