package cli_test

import (
	"encoding/json"
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
