package kernel_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestPrivateLinkSDK drives PrivateLink through the official SDK end to
// end with two accounts whose VPCs (and instances' addresses) are the
// same: the provider's service, backed by its instance, is invisible to
// the consumer until the provider adds it as a user; the consumer's
// endpoint carries nothing until the provider accepts the connection,
// then reaches the instance, which sees a transit address; deleting the
// endpoint ends it.
func TestPrivateLinkSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	provCreds := env.NewAccount(t, "provider")
	prov := &world{t: t, env: env, ecs: env.ECS(t, provCreds), vpc: env.VPC(t, provCreds),
		ids: map[string]string{}, addr: map[string]netip.Addr{}, sgs: map[string]string{}, rule: map[string]string{}}
	cons := newWorld(t, env)

	pvpc := prov.mustVPC("10.6.0.0/16")
	pvsw := prov.mustVSwitch(pvpc, "10.6.1.0/24")
	prov.mustGroup("svc", pvpc, "normal", "")
	prov.authorize("svc", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "100.64.0.0/10", policy: "accept", priority: 1})
	prov.run("backend", pvsw, "10.6.1.10", "svc")
	prov.waitRunning()

	cvpc := cons.mustVPC("10.6.0.0/16")
	cvsw := cons.mustVSwitch(cvpc, "10.6.1.0/24")
	cons.mustGroup("client", cvpc, "normal", "")
	cons.mustGroup("endpoint", cvpc, "normal", "")
	cons.authorize("endpoint", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.6.1.0/24", policy: "accept", priority: 1})
	cons.run("client", cvsw, "10.6.1.10", "client")
	cons.waitRunning()
	serveWho(t, prov.ids["backend"], "backend", 8080)

	ppl, cpl := env.PrivateLink(t, provCreds), env.PrivateLink(t, env.Admin)
	sreq := privatelink.CreateCreateVpcEndpointServiceRequest()
	sreq.ServiceResourceType = "ecs"
	sreq.Resource = &[]privatelink.CreateVpcEndpointServiceResource{{ResourceType: "ecs", ResourceId: prov.ids["backend"], ZoneId: "local-a"}}
	sresp, err := ppl.CreateVpcEndpointService(sreq)
	if err != nil {
		t.Fatalf("CreateVpcEndpointService: %v", err)
	}
	svc := sresp.ServiceId

	ereq := privatelink.CreateCreateVpcEndpointRequest()
	ereq.VpcId, ereq.ServiceId, ereq.SecurityGroupId = cvpc, svc, &[]string{cons.sgs["endpoint"]}
	ereq.Zone = &[]privatelink.CreateVpcEndpointZone{{ZoneId: "local-a", VSwitchId: cvsw, Ip: "10.6.1.50"}}
	if _, err := cpl.CreateVpcEndpoint(ereq); err == nil {
		t.Fatal("CreateVpcEndpoint for a service that has not added the consumer: accepted")
	} else if _, code := apitest.ServerErr(t, err); code != "EndpointServiceNotFound" {
		t.Fatalf("CreateVpcEndpoint before the consumer is a user: %v, want EndpointServiceNotFound", err)
	}
	ureq := privatelink.CreateAddUserToVpcEndpointServiceRequest()
	ureq.ServiceId, ureq.UserId = svc, requests.Integer(env.Admin.AccountID)
	if _, err := ppl.AddUserToVpcEndpointService(ureq); err != nil {
		t.Fatalf("AddUserToVpcEndpointService: %v", err)
	}
	eresp, err := cpl.CreateVpcEndpoint(ereq)
	if err != nil {
		t.Fatalf("CreateVpcEndpoint: %v", err)
	}
	if eresp.ConnectionStatus == "Connected" {
		t.Errorf("a new endpoint of a service that does not auto-accept is %s", eresp.ConnectionStatus)
	}
	ep := netip.MustParseAddrPort("10.6.1.50:8080")
	cons.settle()
	if err := tcpProbe(cons.ids["client"], 0, ep, 500*time.Millisecond); err == nil {
		t.Error("client -> endpoint before the provider accepted: connected")
	}

	areq := privatelink.CreateEnableVpcEndpointConnectionRequest()
	areq.ServiceId, areq.EndpointId = svc, eresp.EndpointId
	if _, err := ppl.EnableVpcEndpointConnection(areq); err != nil {
		t.Fatalf("EnableVpcEndpointConnection: %v", err)
	}
	cons.settle()
	var name, peer string
	for range 5 { // ARP
		if name, peer, err = dialWho(cons.ids["client"], ep, time.Second); err == nil {
			break
		}
	}
	if err != nil || name != "backend" || !strings.HasPrefix(peer, "100.64.") {
		t.Fatalf("client -> endpoint once accepted: %q %q %v, want the backend seeing a 100.64.0.0/10 address", name, peer, err)
	}

	// The consumer VPC's resolver answers the endpoint's domain, through
	// the instance's own resolv.conf (ip netns exec mounts it); names of
	// the zone it does not know do not exist.
	if eresp.EndpointDomain == "" {
		t.Fatal("CreateVpcEndpoint returned no EndpointDomain")
	}
	if out, err := exec.Command("ip", "netns", "exec", cons.ids["client"], "getent", "ahostsv4", eresp.EndpointDomain).CombinedOutput(); err != nil || !strings.Contains(string(out), ep.Addr().String()) {
		t.Errorf("getent %s in the consumer's instance: %v %q, want %s", eresp.EndpointDomain, err, out, ep.Addr())
	}
	bogus := "ep-nosuchendpoint." + strings.SplitN(eresp.EndpointDomain, ".", 2)[1]
	if out, err := exec.Command("ip", "netns", "exec", cons.ids["client"], "getent", "ahostsv4", bogus).CombinedOutput(); err == nil {
		t.Errorf("getent %s: %q, want no such name", bogus, out)
	}
	// The provider's VPC has no such endpoint: its resolver does not know it.
	if out, err := exec.Command("ip", "netns", "exec", prov.ids["backend"], "getent", "ahostsv4", eresp.EndpointDomain).CombinedOutput(); err == nil {
		t.Errorf("getent %s in the provider's VPC: %q, want no such name", eresp.EndpointDomain, out)
	}

	dreq := privatelink.CreateDeleteVpcEndpointRequest()
	dreq.EndpointId = eresp.EndpointId
	if _, err := cpl.DeleteVpcEndpoint(dreq); err != nil {
		t.Fatalf("DeleteVpcEndpoint: %v", err)
	}
	cons.settle()
	if err := tcpProbe(cons.ids["client"], 0, ep, 500*time.Millisecond); err == nil {
		t.Error("client -> endpoint after it was deleted: connected")
	}
	if _, err := probe.DialTCP(t.Context(), cons.ids["client"], ep, 300*time.Millisecond); err == nil {
		t.Error("a connection to a deleted endpoint")
	}
	if out, err := exec.Command("ip", "netns", "exec", cons.ids["client"], "getent", "ahostsv4", eresp.EndpointDomain).CombinedOutput(); err == nil {
		t.Errorf("getent %s after the endpoint was deleted: %q, want no such name", eresp.EndpointDomain, out)
	}
}
