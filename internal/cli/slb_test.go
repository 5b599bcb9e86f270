package cli_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
	"github.com/palisade-project/palisade/internal/model"
)

func TestSLBCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)

	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpcID, "--name", "web"))
	i1 := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--private-ip", "10.0.1.10"))
	i2 := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--private-ip", "10.0.1.11"))
	otherVPC := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.9.0.0/16"))
	otherVsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", otherVPC, "--cidr", "10.9.1.0/24"))
	otherSG := strings.TrimSpace(r.ok("sg", "create", "--vpc", otherVPC, "--name", "other"))
	i3 := strings.TrimSpace(r.ok("instance", "create", "--vswitch", otherVsw, "--sg", otherSG))

	// Create.
	if e := r.fail("slb", "create", "--name", "x"); !strings.Contains(e, `"vswitch" not set`) {
		t.Errorf("create without --vswitch: %s", e)
	}
	if e := r.fail("slb", "create", "--vswitch", vsw, "--address", "10.0.9.9"); !strings.Contains(e, "Error: InvalidPrivateIpAddress.Mismatch: ") {
		t.Errorf("create with an address outside the vSwitch: %s", e)
	}
	if e := r.fail("slb", "create", "--vswitch", "vsw-nope"); !strings.Contains(e, "Error: InvalidVSwitchId.NotFound: ") {
		t.Errorf("create in an unknown vSwitch: %s", e)
	}
	lb := strings.TrimSpace(r.ok("slb", "create", "--vswitch", vsw, "--address", "10.0.1.100", "--name", "web"))
	if !strings.HasPrefix(lb, "lb-") || strings.Contains(lb, "\n") {
		t.Fatalf("slb create printed %q", lb)
	}
	lb2 := strings.TrimSpace(r.ok("slb", "create", "--vswitch", otherVsw))
	out := r.ok("slb", "list")
	for _, want := range []string{"LoadBalancerId", lb, "web", "10.0.1.100", vpcID, vsw, "local-a", "active", lb2} {
		if !strings.Contains(out, want) {
			t.Errorf("slb list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("slb", "list", "--vpc", otherVPC); strings.Contains(out, lb) || !strings.Contains(out, lb2) {
		t.Errorf("slb list --vpc %s:\n%s", otherVPC, out)
	}
	if lbs := list(r.okJSON("slb", "list"), "LoadBalancers", "LoadBalancer"); len(lbs) != 2 {
		t.Errorf("slb list -o json: %d load balancers, want 2", len(lbs))
	}

	// Listeners: TCP 80 (rr) and UDP 80 (health check off) share the port.
	r.ok("slb", "listener", "add", lb, "--protocol", "tcp", "--port", "80", "--backend-port", "8080", "--scheduler", "rr",
		"--interval", "5", "--healthy-threshold", "2", "--description", "http")
	r.ok("slb", "listener", "add", lb, "--protocol", "UDP", "--port", "80", "--backend-port", "5353", "--health-check", "off")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--protocol", "http", "--port", "81", "--backend-port", "81"}, "invalid --protocol"},
		{[]string{"--protocol", "tcp", "--port", "80", "--backend-port", "81"}, "Error: ListenerAlreadyExists: "},
		{[]string{"--protocol", "tcp", "--port", "81", "--backend-port", "81", "--scheduler", "wlc"}, "Error: OperationUnsupported.Scheduler: "},
		{[]string{"--protocol", "tcp", "--port", "81", "--backend-port", "81", "--interval", "99"}, "HealthCheckInterval"},
		{[]string{"--protocol", "tcp", "--port", "81"}, `"backend-port" not set`},
	} {
		if e := r.fail(append([]string{"slb", "listener", "add", lb}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("listener add %v: %s", tc.args, e)
		}
	}

	// Backend servers.
	r.ok("slb", "backend", "add", lb, "--server", i1+","+i2, "--weight", "50")
	if e := r.fail("slb", "backend", "add", lb, "--server", i3); !strings.Contains(e, "Error: OperationDenied.BackendServerVpc: ") {
		t.Errorf("backend of another VPC: %s", e)
	}
	if e := r.fail("slb", "backend", "add", lb, "--server", i1); !strings.Contains(e, "Error: BackendServerAlreadyExists: ") {
		t.Errorf("backend added twice: %s", e)
	}
	if e := r.fail("slb", "backend", "set", lb, "--server", i2); !strings.Contains(e, `"weight" not set`) {
		t.Errorf("backend set without --weight: %s", e)
	}
	r.ok("slb", "backend", "set", lb, "--server", i2, "--weight", "0")

	show := r.ok("slb", "show", lb)
	for _, want := range []string{"LoadBalancerName:", "web", "10.0.1.100", "intranet", vsw, "local-a",
		"tcp", "8080", "rr", "5353", "stopped", "http", i1, i2, "10.0.1.10", "10.0.1.11", "50"} {
		if !strings.Contains(show, want) {
			t.Errorf("slb show lacks %q:\n%s", want, show)
		}
	}
	js := r.okJSON("slb", "show", lb)
	if ls, _ := js["Listeners"].([]any); len(ls) != 2 || len(list(js, "BackendServers", "BackendServer")) != 2 {
		t.Errorf("slb show -o json: %v", js)
	}
	for _, b := range list(js, "BackendServers", "BackendServer") {
		if want := map[string]string{i1: "50", i2: "0"}[fmt.Sprint(b["ServerId"])]; fmt.Sprint(b["Weight"]) != want {
			t.Errorf("backend %v: weight %v, want %s", b["ServerId"], b["Weight"], want)
		}
	}

	// Start: the port is shared, so the protocol must be named.
	if e := r.fail("slb", "listener", "start", lb, "--port", "80"); !strings.Contains(e, "Error: MissingParam.ListenerProtocol: ") {
		t.Errorf("start a shared port without --protocol: %s", e)
	}
	if e := r.fail("slb", "listener", "start", lb, "--port", "443", "--protocol", "tcp"); !strings.Contains(e, "Error: InvalidParameter") {
		t.Errorf("start a listener that does not exist: %s", e)
	}
	r.ok("slb", "listener", "start", lb, "--port", "80", "--protocol", "tcp")

	// Health: the running TCP listener is abnormal until the agent reports
	// a server normal; the stopped UDP listener is unavailable.
	healthOf := func(args ...string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, b := range list(r.okJSON(append([]string{"slb", "health", lb}, args...)...), "BackendServers", "BackendServer") {
			out[fmt.Sprintf("%v/%v/%v", b["Protocol"], b["ListenerPort"], b["ServerId"])] = fmt.Sprint(b["ServerHealthStatus"])
		}
		return out
	}
	want := map[string]string{"tcp/80/" + i1: "abnormal", "tcp/80/" + i2: "abnormal", "udp/80/" + i1: "unavailable", "udp/80/" + i2: "unavailable"}
	if got := healthOf(); !maps.Equal(got, want) {
		t.Errorf("health: %v, want %v", got, want)
	}
	env.PutRecord(t, model.PrefixLBHealth+lb, model.LBHealth{LoadBalancerID: lb, UpdatedAt: time.Now().UTC(),
		Listeners: []model.LBListenerHealth{{Protocol: "tcp", Port: 80, Servers: []model.LBServerHealth{{ServerID: i1, Status: model.LBHealthNormal}}}}})
	out = r.ok("slb", "health", lb, "--port", "80", "--protocol", "tcp")
	for _, want := range []string{"Health", "tcp", i1, "10.0.1.10", "8080", "normal", i2, "abnormal"} {
		if !strings.Contains(out, want) {
			t.Errorf("slb health --port 80 --protocol tcp lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "udp") || strings.Contains(out, "unavailable") {
		t.Errorf("slb health --protocol tcp shows the UDP listener:\n%s", out)
	}
	if e := r.fail("slb", "health", lb, "--protocol", "sctp"); !strings.Contains(e, "invalid --protocol") {
		t.Errorf("health --protocol sctp: %s", e)
	}
	r.ok("slb", "listener", "stop", lb, "--port", "80", "--protocol", "tcp")
	if got := healthOf("--port", "80", "--protocol", "tcp"); got["tcp/80/"+i1] != "unavailable" {
		t.Errorf("health of a stopped listener: %v", got)
	}

	// Removal.
	r.ok("slb", "listener", "delete", lb, "--port", "80", "--protocol", "udp")
	r.ok("slb", "listener", "delete", lb, "--port", "80") // the one left on the port
	r.ok("slb", "backend", "remove", lb, "--server", i2)
	if e := r.fail("slb", "backend", "remove", lb, "--server", i3); !strings.Contains(e, "Error: ResourceNotFound.BackendServer: ") {
		t.Errorf("remove a server that is no backend: %s", e)
	}
	js = r.okJSON("slb", "show", lb)
	if ls, _ := js["Listeners"].([]any); len(ls) != 0 {
		t.Errorf("listeners after delete: %v", js["Listeners"])
	}
	if bs := list(js, "BackendServers", "BackendServer"); len(bs) != 1 || bs[0]["ServerId"] != i1 {
		t.Errorf("backends after remove: %v", bs)
	}

	// Only its account sees it.
	otherCreds := env.NewAccount(t, "other")
	other := newRunner(t, env)
	other.vars = maps.Clone(r.vars)
	other.vars[cli.EnvAccessKeyID], other.vars[cli.EnvAccessSecret] = otherCreds.AccessKeyID, otherCreds.Secret
	if e := other.fail("slb", "show", lb); !strings.Contains(e, "Error: InvalidLoadBalancerId.NotFound: ") {
		t.Errorf("another account shows the load balancer: %s", e)
	}
	if out := other.ok("slb", "list"); strings.Contains(out, lb) {
		t.Errorf("another account lists the load balancer:\n%s", out)
	}

	// Deletion: the vSwitch is held until the load balancer goes.
	if e := r.fail("vswitch", "delete", vsw); !strings.Contains(e, "DependencyViolation") || !strings.Contains(e, lb) {
		t.Errorf("delete the load balancer's vSwitch: %s", e)
	}
	r.ok("slb", "delete", lb)
	var je map[string]any
	if err := json.Unmarshal([]byte(r.fail("slb", "show", lb, "-o", "json")), &je); err != nil || je["Code"] != "InvalidLoadBalancerId.NotFound" {
		t.Errorf("show a deleted load balancer -o json: %v %v", je, err)
	}
	if out := r.ok("slb", "list"); strings.Contains(out, lb) {
		t.Errorf("deleted load balancer still listed:\n%s", out)
	}
}

func TestSLBACLCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)

	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	lb := strings.TrimSpace(r.ok("slb", "create", "--vswitch", vsw))

	// Lists and entries.
	if e := r.fail("slb", "acl", "create"); !strings.Contains(e, `"name" not set`) {
		t.Errorf("create without --name: %s", e)
	}
	acl := strings.TrimSpace(r.ok("slb", "acl", "create", "--name", "office"))
	if !strings.HasPrefix(acl, "acl-") || strings.Contains(acl, "\n") {
		t.Fatalf("slb acl create printed %q", acl)
	}
	if e := r.fail("slb", "acl", "create", "--name", "office"); !strings.Contains(e, "Error: AclNameExist: ") {
		t.Errorf("create a taken name: %s", e)
	}
	acl2 := strings.TrimSpace(r.ok("slb", "acl", "create", "--name", "branch"))
	r.ok("slb", "acl", "add", acl, "--entry", "10.0.0.0/8,192.0.2.7", "--comment", "lan")
	r.ok("slb", "acl", "add", acl, "--entry", "198.51.100.0/24")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--entry", "10.1.2.3/16"}, "Error: InvalidParameter: "},
		{[]string{"--entry", "192.0.2.7/32"}, "Error: Duplicated.AclEntry: "},
		{[]string{}, `"entry" not set`},
	} {
		if e := r.fail(append([]string{"slb", "acl", "add", acl}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("acl add %v: %s", tc.args, e)
		}
	}
	if e := r.fail("slb", "acl", "remove", acl, "--entry", "10.99.0.0/16"); !strings.Contains(e, "Error: ResourceNotFound.AclEntry: ") {
		t.Errorf("remove a stranger: %s", e)
	}
	r.ok("slb", "acl", "remove", acl, "--entry", "198.51.100.0/24")
	r.ok("slb", "acl", "rename", acl2, "--name", "branch-2")
	out := r.ok("slb", "acl", "list")
	for _, want := range []string{"AclId", acl, "office", acl2, "branch-2", "ipv4"} {
		if !strings.Contains(out, want) {
			t.Errorf("slb acl list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("slb", "acl", "list", "--name", "bran"); strings.Contains(out, acl+" ") || !strings.Contains(out, acl2) {
		t.Errorf("slb acl list --name bran:\n%s", out)
	}
	if acls := list(r.okJSON("slb", "acl", "list"), "Acls", "Acl"); len(acls) != 2 {
		t.Errorf("slb acl list -o json: %d lists, want 2", len(acls))
	}

	// Listeners use the list.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--acl", acl}, "--acl needs --acl-type"},
		{[]string{"--acl-type", "white"}, "--acl-type needs --acl"},
		{[]string{"--acl", acl, "--acl-type", "grey"}, "invalid --acl-type"},
		{[]string{"--acl", "acl-nope", "--acl-type", "white"}, "Error: AclNotExist: "},
	} {
		args := append([]string{"slb", "listener", "add", lb, "--protocol", "tcp", "--port", "80", "--backend-port", "8080"}, tc.args...)
		if e := r.fail(args...); !strings.Contains(e, tc.want) {
			t.Errorf("listener add %v: %s", tc.args, e)
		}
	}
	r.ok("slb", "listener", "add", lb, "--protocol", "tcp", "--port", "80", "--backend-port", "8080", "--acl", acl, "--acl-type", "white")
	r.ok("slb", "listener", "add", lb, "--protocol", "udp", "--port", "80", "--backend-port", "8080")
	r.ok("slb", "listener", "add", lb, "--protocol", "udp", "--port", "53", "--backend-port", "53")
	if e := r.fail("slb", "listener", "set", lb, "--port", "80", "--acl", acl, "--acl-type", "black"); !strings.Contains(e, "give --protocol") {
		t.Errorf("set a shared port without --protocol: %s", e)
	}
	if e := r.fail("slb", "listener", "set", lb, "--port", "81", "--acl-off"); !strings.Contains(e, "no listener on port 81") {
		t.Errorf("set a port without listener: %s", e)
	}
	if e := r.fail("slb", "listener", "set", lb, "--port", "53"); !strings.Contains(e, "nothing to change") {
		t.Errorf("set without settings: %s", e)
	}
	if e := r.fail("slb", "listener", "set", lb, "--port", "53", "--acl-off", "--acl", acl); !strings.Contains(e, "--acl-off") {
		t.Errorf("set --acl-off with --acl: %s", e)
	}
	if e := r.fail("slb", "listener", "set", lb, "--port", "53", "--acl-type", "black"); !strings.Contains(e, "Error: MissingParameter: ") {
		t.Errorf("set a type without a list: %s", e)
	}
	r.ok("slb", "listener", "set", lb, "--port", "53", "--acl", acl2, "--acl-type", "black", "--scheduler", "rr")
	r.ok("slb", "listener", "set", lb, "--port", "53", "--acl", acl) // the list alone: the type stays
	show := r.ok("slb", "show", lb)
	for _, want := range []string{"Acl", "white " + acl, "black " + acl, "off"} {
		if !strings.Contains(show, want) {
			t.Errorf("slb show lacks %q:\n%s", want, show)
		}
	}
	out = r.ok("slb", "acl", "show", acl)
	for _, want := range []string{"AclName:", "office", "TotalAclEntry:", "10.0.0.0/8", "192.0.2.7/32", "lan", lb, "tcp", "white", "udp", "53", "black"} {
		if !strings.Contains(out, want) {
			t.Errorf("slb acl show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "198.51.100.0/24") {
		t.Errorf("slb acl show shows a removed entry:\n%s", out)
	}
	js := r.okJSON("slb", "acl", "show", acl)
	if es, ls := list(js, "AclEntrys", "AclEntry"), list(js, "RelatedListeners", "RelatedListener"); len(es) != 2 || len(ls) != 2 {
		t.Errorf("slb acl show -o json: %v", js)
	}

	// A list in use stays; another account sees nothing.
	if e := r.fail("slb", "acl", "delete", acl); !strings.Contains(e, "Error: AclInUsed: ") || !strings.Contains(e, lb) {
		t.Errorf("delete a list in use: %s", e)
	}
	otherCreds := env.NewAccount(t, "other")
	other := newRunner(t, env)
	other.vars = maps.Clone(r.vars)
	other.vars[cli.EnvAccessKeyID], other.vars[cli.EnvAccessSecret] = otherCreds.AccessKeyID, otherCreds.Secret
	if e := other.fail("slb", "acl", "show", acl); !strings.Contains(e, "Error: AclNotExist: ") {
		t.Errorf("another account shows the list: %s", e)
	}
	if out := other.ok("slb", "acl", "list"); strings.Contains(out, acl) {
		t.Errorf("another account lists the list:\n%s", out)
	}

	// Off, then the list goes.
	r.ok("slb", "listener", "set", lb, "--port", "80", "--protocol", "tcp", "--acl-off")
	r.ok("slb", "listener", "set", lb, "--port", "53", "--acl-off")
	r.ok("slb", "acl", "delete", acl)
	if out := r.ok("slb", "acl", "list"); strings.Contains(out, acl) {
		t.Errorf("deleted list still listed:\n%s", out)
	}
	if ls, _ := r.okJSON("slb", "show", lb)["Listeners"].([]any); len(ls) != 3 {
		t.Errorf("listeners: %v", ls)
	} else {
		for _, l := range ls {
			if m, _ := l.(map[string]any); m["AclStatus"] != "off" || m["AclId"] != nil {
				t.Errorf("listener after off: %v", m)
			}
		}
	}
}
