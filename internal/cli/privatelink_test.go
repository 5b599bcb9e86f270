package cli_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
)

func TestPrivateLinkCommands(t *testing.T) {
	env := apitest.Start(t)
	provider := newRunner(t, env) // the admin account
	consumerCreds := env.NewAccount(t, "consumer")
	consumer := newRunner(t, env)
	consumer.vars = maps.Clone(provider.vars)
	consumer.vars[cli.EnvAccessKeyID], consumer.vars[cli.EnvAccessSecret] = consumerCreds.AccessKeyID, consumerCreds.Secret

	// The provider: two instances behind a service.
	pVPC := strings.TrimSpace(provider.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	pVsw := strings.TrimSpace(provider.ok("vswitch", "create", "--vpc", pVPC, "--cidr", "10.0.1.0/24"))
	pSG := strings.TrimSpace(provider.ok("sg", "create", "--vpc", pVPC, "--name", "backends"))
	i1 := strings.TrimSpace(provider.ok("instance", "create", "--vswitch", pVsw, "--sg", pSG, "--private-ip", "10.0.1.10"))
	i2 := strings.TrimSpace(provider.ok("instance", "create", "--vswitch", pVsw, "--sg", pSG, "--private-ip", "10.0.1.11"))

	svc := strings.TrimSpace(provider.ok("privatelink", "service", "create", "--resource", i1, "--resource", i2, "--description", "orders API"))
	if !strings.HasPrefix(svc, "epsrv-") || strings.Contains(svc, "\n") {
		t.Fatalf("service create printed %q", svc)
	}
	if e := provider.fail("privatelink", "service", "create", "--resource", "i-nope"); !strings.Contains(e, "InvalidInstanceId.NotFound") {
		t.Errorf("service of an unknown instance: %s", e)
	}
	out := provider.ok("privatelink", "service", "list")
	for _, want := range []string{"ServiceId", svc, "com.aliyuncs.privatelink.local." + svc, svc + ".local.privatelink.palisade.local", "local-a", "false", "Active", "orders API"} {
		if !strings.Contains(out, want) {
			t.Errorf("service list lacks %q:\n%s", want, out)
		}
	}

	// The consumer does not see it until it is a user.
	if out := consumer.ok("privatelink", "service", "list", "--usable"); strings.Contains(out, svc) {
		t.Errorf("consumer sees the service before being a user:\n%s", out)
	}
	if e := consumer.fail("privatelink", "service", "show", svc); !strings.Contains(e, "EndpointServiceNotFound") {
		t.Errorf("consumer shows the service: %s", e)
	}
	provider.ok("privatelink", "service", "add-user", svc, consumerCreds.AccountID)
	if e := provider.fail("privatelink", "service", "add-user", svc, "1"); !strings.Contains(e, "ResourceNotFound.User") {
		t.Errorf("add an unknown account: %s", e)
	}
	if out := consumer.ok("privatelink", "service", "list", "--usable"); !strings.Contains(out, svc) {
		t.Errorf("consumer's usable services:\n%s", out)
	}
	if out := consumer.ok("privatelink", "service", "list"); strings.Contains(out, svc) {
		t.Errorf("consumer lists the service as its own:\n%s", out)
	}
	show := provider.ok("privatelink", "service", "show", svc)
	for _, want := range []string{"orders API", i1, i2, "10.0.1.10", "10.0.1.11", consumerCreds.AccountID, "Zones:", "local-a"} {
		if !strings.Contains(show, want) {
			t.Errorf("service show lacks %q:\n%s", want, show)
		}
	}
	js := provider.okJSON("privatelink", "service", "show", svc)
	if res, _ := js["Resources"].([]any); len(res) != 2 || fmt.Sprint(js["Users"]) == "[]" {
		t.Errorf("service show -o json: %v", js)
	}

	// The consumer's endpoint.
	cVPC := strings.TrimSpace(consumer.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	cVsw := strings.TrimSpace(consumer.ok("vswitch", "create", "--vpc", cVPC, "--cidr", "10.0.1.0/24"))
	cSG := strings.TrimSpace(consumer.ok("sg", "create", "--vpc", cVPC, "--name", "clients"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zone", "local-a"}, "use ZONE:VSWITCH"},
		{[]string{"--zone", "local-a:" + cVsw + ":10.0.1.7:x"}, "use ZONE:VSWITCH"},
		{[]string{"--zone", "local-b:" + cVsw}, "InvalidVSwitchId.ZoneMismatch"},
		{[]string{"--zone", "local-a:" + cVsw + ":10.0.9.9"}, "InvalidPrivateIpAddress.Mismatch"},
	} {
		args := append([]string{"privatelink", "endpoint", "create", "--vpc", cVPC, "--service", svc, "--sg", cSG}, tc.args...)
		if e := consumer.fail(args...); !strings.Contains(e, tc.want) {
			t.Errorf("endpoint create %v: %s", tc.args, e)
		}
	}
	if e := consumer.fail("privatelink", "endpoint", "create", "--vpc", cVPC, "--service", svc, "--sg", cSG); !strings.Contains(e, "zone") {
		t.Errorf("endpoint create without --zone: %s", e)
	}
	ep := strings.TrimSpace(consumer.ok("privatelink", "endpoint", "create", "--vpc", cVPC, "--service", "com.aliyuncs.privatelink.local."+svc,
		"--sg", cSG, "--zone", "local-a:"+cVsw+":10.0.1.100", "--name", "orders"))
	if !strings.HasPrefix(ep, "ep-") || strings.Contains(ep, "\n") {
		t.Fatalf("endpoint create printed %q", ep)
	}
	out = consumer.ok("privatelink", "endpoint", "list")
	for _, want := range []string{ep, "orders", cVPC, svc, "Disconnected", ep + "." + svc + ".local.privatelink.palisade.local"} {
		if !strings.Contains(out, want) {
			t.Errorf("endpoint list lacks %q:\n%s", want, out)
		}
	}
	show = consumer.ok("privatelink", "endpoint", "show", ep)
	for _, want := range []string{"local-a", cVsw, "10.0.1.100", "eni-", cSG, "Disconnected", ep + "-local-a." + svc} {
		if !strings.Contains(show, want) {
			t.Errorf("endpoint show lacks %q:\n%s", want, show)
		}
	}
	// Its ENI is listed and refused to eni delete.
	eni := ""
	for _, f := range strings.Fields(show) {
		if strings.HasPrefix(f, "eni-") {
			eni = f
		}
	}
	if e := consumer.fail("eni", "delete", eni); !strings.Contains(e, "OperationDenied.ServiceManagedNetworkInterface") {
		t.Errorf("eni delete of the endpoint's ENI: %s", e)
	}
	if e := provider.fail("privatelink", "endpoint", "show", ep); !strings.Contains(e, "EndpointNotFound") {
		t.Errorf("the provider shows the consumer's endpoint: %s", e)
	}

	// The provider accepts, rejects and accepts again.
	out = provider.ok("privatelink", "connection", "list", svc)
	for _, want := range []string{ep, consumerCreds.AccountID, cVPC, "Disconnected", "local-a=100.64.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("connection list lacks %q:\n%s", want, out)
		}
	}
	if e := consumer.fail("privatelink", "connection", "accept", svc, ep); !strings.Contains(e, "EndpointServiceNotFound") {
		t.Errorf("the consumer accepts: %s", e)
	}
	provider.ok("privatelink", "connection", "accept", svc, ep)
	if out := consumer.ok("privatelink", "endpoint", "show", ep); !strings.Contains(out, "Connected") || strings.Contains(out, "Disconnected") {
		t.Errorf("endpoint after accept:\n%s", out)
	}
	provider.ok("privatelink", "connection", "reject", svc, ep)
	if js := provider.okJSON("privatelink", "connection", "list", svc); !strings.Contains(fmt.Sprint(js["Connections"]), "ConnectionStatus:Disconnected") {
		t.Errorf("connections after reject: %v", js)
	}

	// Dependencies, then deletion.
	if e := provider.fail("privatelink", "service", "delete", svc); !strings.Contains(e, "DependencyViolation.VpcEndpoint") || !strings.Contains(e, ep) {
		t.Errorf("delete a service with an endpoint: %s", e)
	}
	if e := provider.fail("instance", "delete", i1, "--force"); !strings.Contains(e, "DependencyViolation.VpcEndpointService") {
		t.Errorf("delete a service's instance: %s", e)
	}
	provider.ok("privatelink", "service", "remove-user", svc, consumerCreds.AccountID)
	if out := consumer.ok("privatelink", "service", "list", "--usable"); strings.Contains(out, svc) {
		t.Errorf("usable after remove-user:\n%s", out)
	}
	consumer.ok("privatelink", "endpoint", "delete", ep)
	if js := consumer.okJSON("privatelink", "endpoint", "list"); fmt.Sprint(js["Endpoints"]) != "[]" {
		t.Errorf("endpoints after delete: %v", js)
	}
	if out := consumer.ok("eni", "list"); strings.Contains(out, eni) {
		t.Errorf("the endpoint's ENI outlived it:\n%s", out)
	}
	provider.ok("privatelink", "service", "delete", svc)
	if out := provider.ok("privatelink", "service", "list"); strings.Contains(out, svc) {
		t.Errorf("deleted service still listed:\n%s", out)
	}
}

// TestPrivateLinkSLBCommands: service create takes load balancers
// (lb-...) as resources, ServiceResourceType slb; --type slb makes an
// empty one; mixing types is refused by the server; a load balancer that
// backs a service cannot be deleted.
func TestPrivateLinkSLBCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpc := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpc, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpc, "--name", "backends"))
	i1 := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--private-ip", "10.0.1.10"))
	lb := strings.TrimSpace(r.ok("slb", "create", "--vswitch", vsw, "--address", "10.0.1.100"))

	svc := strings.TrimSpace(r.ok("privatelink", "service", "create", "--resource", lb))
	show := r.ok("privatelink", "service", "show", svc)
	for _, want := range []string{lb, "slb", "10.0.1.100", "local-a"} {
		if !strings.Contains(show, want) {
			t.Errorf("service show lacks %q:\n%s", want, show)
		}
	}
	if js := r.okJSON("privatelink", "service", "show", svc); js["ServiceResourceType"] != "slb" {
		t.Errorf("ServiceResourceType: %v", js["ServiceResourceType"])
	}
	if e := r.fail("privatelink", "service", "create", "--resource", lb, "--resource", i1); !strings.Contains(e, "OperationDenied.ServiceResourceType") {
		t.Errorf("mixed resources: %s", e)
	}
	empty := strings.TrimSpace(r.ok("privatelink", "service", "create", "--type", "slb"))
	if js := r.okJSON("privatelink", "service", "show", empty); js["ServiceResourceType"] != "slb" {
		t.Errorf("empty slb service: %v", js)
	}
	if e := r.fail("slb", "delete", lb); !strings.Contains(e, "DependencyViolation.VpcEndpointService") || !strings.Contains(e, svc) {
		t.Errorf("delete the service's load balancer: %s", e)
	}
}
