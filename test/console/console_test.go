// Package console tests the web console in a real browser: Debian's
// Chromium driven by playwright-core (e2e.mjs), against a server started
// in-process. Needs node, /usr/bin/chromium and `npm ci` in this
// directory; without them the test skips, or fails when
// PALISADE_REQUIRE_TOOLS=1 (scripts/test.sh sets it).
package console

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

const chromiumPath = "/usr/bin/chromium"

// needTools skips (or fails, with PALISADE_REQUIRE_TOOLS=1) when the
// browser test cannot run here.
func needTools(t *testing.T) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("PALISADE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s and PALISADE_REQUIRE_TOOLS=1", what)
		}
		t.Skipf("%s; set PALISADE_REQUIRE_TOOLS=1 to make this a failure", what)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing(chromiumPath + " is missing (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing("test/console/node_modules is missing (run `npm ci` in test/console)")
	}
	return node
}

type result struct {
	VpcId           string
	VSwitchId       string
	SecurityGroupId string
	Instances       []string
	Verdict         string
}

func TestConsoleInBrowser(t *testing.T) {
	node := needTools(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	bob := env.NewAccount(t, "bob")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tmp := t.TempDir() // Chromium's profile and temp files: removed even on failure
	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Env = append(os.Environ(),
		"PALISADE_CONSOLE_URL=http://"+env.Endpoint+"/console/",
		"PALISADE_ACCESS_KEY_ID="+env.Admin.AccessKeyID,
		"PALISADE_ACCESS_KEY_SECRET="+env.Admin.Secret,
		"TMPDIR="+tmp,
		"HOME="+tmp,
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	// Its own process group, so that a timeout kills Chromium too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group, if any
	}
	if err != nil {
		t.Fatalf("e2e.mjs failed (%v):\n%s", err, out)
	}
	t.Logf("e2e.mjs:\n%s", out)
	if strings.Contains(string(out), env.Admin.Secret) {
		t.Errorf("the script's output contains the secret")
	}
	var res result
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatalf("RESULT line: %v: %s", err, line)
			}
		}
	}
	if res.VpcId == "" || res.SecurityGroupId == "" || len(res.Instances) != 2 {
		t.Fatalf("no complete RESULT line in the output:\n%s", out)
	}

	// What the browser made is in the store, as the SDK sees it.
	req := vpc.CreateDescribeVpcsRequest()
	req.VpcId = res.VpcId
	resp, err := env.VPC(t, env.Admin).DescribeVpcs(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Vpcs.Vpc) != 1 || resp.Vpcs.Vpc[0].VpcName != "console-vpc" || resp.Vpcs.Vpc[0].CidrBlock != "10.20.0.0/16" {
		t.Fatalf("DescribeVpcs %s: %+v", res.VpcId, resp.Vpcs.Vpc)
	}
	areq := ecs.CreateDescribeSecurityGroupAttributeRequest()
	areq.SecurityGroupId = res.SecurityGroupId
	attr, err := env.ECS(t, env.Admin).DescribeSecurityGroupAttribute(areq)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range attr.Permissions.Permission {
		if p.PortRange == "22/22" || p.PortRange == "90/80" {
			t.Errorf("rule %s %s is still there after the revoke", p.SecurityGroupRuleId, p.PortRange)
		}
	}
	// And it is the admin's only: bob does not see it.
	bresp, err := env.VPC(t, bob).DescribeVpcs(vpc.CreateDescribeVpcsRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range bresp.Vpcs.Vpc {
		if v.VpcId == res.VpcId {
			t.Fatalf("bob sees the admin's VPC %s", v.VpcId)
		}
	}
}
