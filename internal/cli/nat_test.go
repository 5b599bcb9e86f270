package cli_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
)

func TestNATCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)

	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	vsw2 := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.2.0/24"))
	otherVPC := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.9.0.0/16"))
	otherVsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", otherVPC, "--cidr", "10.9.1.0/24"))

	// Create.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--vpc", vpcID}, `"vswitch" not set`},
		{[]string{"--vswitch", vsw}, `"vpc" not set`},
		{[]string{"--vpc", vpcID, "--vswitch", "vsw-nope"}, "Error: InvalidVSwitchId.NotFound: "},
		{[]string{"--vpc", vpcID, "--vswitch", otherVsw}, "Error: InvalidVSwitchId.VpcMismatch: "},
	} {
		if e := r.fail(append([]string{"nat", "create"}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("nat create %v: %s", tc.args, e)
		}
	}
	ngw := strings.TrimSpace(r.ok("nat", "create", "--vpc", vpcID, "--vswitch", vsw, "--name", "egress", "--description", "to the internet"))
	if !strings.HasPrefix(ngw, "ngw-") || strings.Contains(ngw, "\n") {
		t.Fatalf("nat create printed %q", ngw)
	}
	ngw2 := strings.TrimSpace(r.ok("nat", "create", "--vpc", otherVPC, "--vswitch", otherVsw, "--no-default-route", "--no-icmp-reply"))
	if routes := r.ok("route", "list", "--vpc", vpcID); !strings.Contains(routes, "0.0.0.0/0") || !strings.Contains(routes, ngw) {
		t.Errorf("no default route to %s:\n%s", ngw, routes)
	}
	if routes := r.ok("route", "list", "--vpc", otherVPC); strings.Contains(routes, "0.0.0.0/0") {
		t.Errorf("--no-default-route added one:\n%s", routes)
	}
	// The route the gateway did not get, added by hand.
	rte := strings.TrimSpace(r.ok("route", "add", "--vpc", otherVPC, "--destination", "0.0.0.0/0", "--nat-gateway", ngw2))
	if routes := r.ok("route", "list", "--vpc", otherVPC); !strings.HasPrefix(rte, "rte-") || !strings.Contains(routes, "0.0.0.0/0") || !strings.Contains(routes, ngw2) {
		t.Errorf("route add --nat-gateway %s printed %q; routes:\n%s", ngw2, rte, routes)
	}

	out := r.ok("nat", "list")
	for _, want := range []string{"NatGatewayId", ngw, "egress", vpcID, vsw, "10.0.1.", "Available", ngw2, otherVsw} {
		if !strings.Contains(out, want) {
			t.Errorf("nat list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("nat", "list", "--vpc", otherVPC); strings.Contains(out, ngw+" ") || !strings.Contains(out, ngw2) {
		t.Errorf("nat list --vpc %s:\n%s", otherVPC, out)
	}
	if gws := list(r.okJSON("nat", "list"), "NatGateways", "NatGateway"); len(gws) != 2 {
		t.Errorf("nat list -o json: %d gateways, want 2", len(gws))
	}
	if g := r.okJSON("nat", "show", ngw2); g["IcmpReplyEnabled"] != false {
		t.Errorf("--no-icmp-reply: %v", g["IcmpReplyEnabled"])
	}

	// EIPs: associated by the ngw- prefix or by --type Nat.
	allocate := func(name string) (id, addr string) {
		t.Helper()
		f := strings.Fields(r.ok("eip", "allocate", "--name", name))
		if len(f) != 2 {
			t.Fatalf("eip allocate printed %q", f)
		}
		return f[0], f[1]
	}
	e1, a1 := allocate("snat")
	e2, a2 := allocate("batch")
	e3, a3 := allocate("mapped")
	e4, a4 := allocate("spare")
	r.ok("eip", "associate", e1, ngw)
	r.ok("eip", "associate", e2, ngw, "--type", "nat")
	r.ok("eip", "associate", e3, ngw)
	if e := r.fail("eip", "associate", e4, ngw, "--private-ip", "10.0.1.9"); !strings.Contains(e, "Error: InvalidParameter") {
		t.Errorf("associate with a gateway and a private address: %s", e)
	}
	if e := r.fail("eip", "associate", e4, ngw, "--type", "Router"); !strings.Contains(e, "Error: InvalidInstanceType.ValueNotSupported: ") {
		t.Errorf("associate --type Router: %s", e)
	}
	if out := r.ok("eip", "list"); !strings.Contains(out, "Nat") || !strings.Contains(out, ngw) {
		t.Errorf("eip list does not show the gateway:\n%s", out)
	}

	// SNAT entries.
	snat1 := strings.TrimSpace(r.ok("nat", "snat", "add", ngw, "--source", vsw, "--ip", a1))
	if !strings.HasPrefix(snat1, "snat-") || strings.Contains(snat1, "\n") {
		t.Fatalf("nat snat add printed %q", snat1)
	}
	snat2 := strings.TrimSpace(r.ok("nat", "snat", "add", ngw, "--source", "10.0.2.0/24", "--ip", e2+","+a1, "--name", "batch"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--source", "10.0.3.0/24", "--ip", e4}, "EIP " + e4 + " is not associated with NAT gateway " + ngw},
		{[]string{"--source", "10.0.3.0/24", "--ip", a4}, "Error: InvalidSnatIp.NotFound: "},
		{[]string{"--source", "10.0.3.0/24", "--ip", "nonsense"}, "Error: InvalidSnatIp.Malformed: "},
		{[]string{"--source", vsw, "--ip", a2}, "Error: Forbidden.SourceVSwitchId.Duplicated: "},
		{[]string{"--source", "192.168.0.0/24", "--ip", a2}, "Error: NOT_ALLOW_USE_SOURCECIDR: "},
		{[]string{"--source", otherVsw, "--ip", a2}, "Error: "},
		{[]string{"--ip", a2}, `"source" not set`},
		{[]string{"--source", vsw2}, `"ip" not set`},
	} {
		if e := r.fail(append([]string{"nat", "snat", "add", ngw}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("nat snat add %v: %s", tc.args, e)
		}
	}
	if e := r.fail("nat", "snat", "add", "ngw-nope", "--source", vsw, "--ip", a1); !strings.Contains(e, "Error: InvalidNatGatewayId.NotFound: ") {
		t.Errorf("snat add to an unknown gateway: %s", e)
	}
	out = r.ok("nat", "snat", "list", ngw)
	for _, want := range []string{"SnatEntryId", snat1, vsw, "10.0.1.0/24", a1, snat2, "batch", "10.0.2.0/24", a2 + "," + a1, "Available"} {
		if !strings.Contains(out, want) {
			t.Errorf("nat snat list lacks %q:\n%s", want, out)
		}
	}
	if es := list(r.okJSON("nat", "snat", "list", ngw), "SnatTableEntries", "SnatTableEntry"); len(es) != 2 {
		t.Errorf("nat snat list -o json: %d entries, want 2", len(es))
	}

	// Forward entries.
	fwd1 := strings.TrimSpace(r.ok("nat", "forward", "add", ngw, "--external-ip", a2, "--external-port", "8080", "--protocol", "tcp",
		"--internal-ip", "10.0.1.7", "--internal-port", "80", "--name", "web"))
	if !strings.HasPrefix(fwd1, "fwd-") || strings.Contains(fwd1, "\n") {
		t.Fatalf("nat forward add printed %q", fwd1)
	}
	fwd2 := strings.TrimSpace(r.ok("nat", "forward", "add", ngw, "--external-ip", e3, "--protocol", "ANY", "--internal-ip", "10.0.2.8"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--external-ip", a2, "--external-port", "53", "--protocol", "sctp", "--internal-ip", "10.0.1.7", "--internal-port", "53"}, "invalid --protocol"},
		{[]string{"--external-ip", a2, "--protocol", "udp", "--internal-ip", "10.0.1.7", "--internal-port", "53"}, "--external-port is required"},
		{[]string{"--external-ip", a2, "--external-port", "53", "--protocol", "udp", "--internal-ip", "10.0.1.7"}, "--internal-port is required"},
		{[]string{"--external-ip", a2, "--external-port", "8080", "--protocol", "tcp", "--internal-ip", "10.0.1.9", "--internal-port", "81"}, "Error: InvalidForwardEntry.Duplicated: "},
		{[]string{"--external-ip", a3, "--external-port", "22", "--protocol", "tcp", "--internal-ip", "10.0.1.9", "--internal-port", "22"}, "Error: InvalidForwardEntry.Duplicated: "},
		{[]string{"--external-ip", a2, "--external-port", "22", "--protocol", "tcp", "--internal-ip", "10.9.1.5", "--internal-port", "22"}, "Error: Forbidden.InternalIpOutOfVpcCIDR: "},
		{[]string{"--external-ip", a4, "--external-port", "22", "--protocol", "tcp", "--internal-ip", "10.0.1.7", "--internal-port", "22"}, "Error: InvalidIp.NotInNatgw: "},
		{[]string{"--external-ip", a2, "--external-port", "1000/1010", "--protocol", "tcp", "--internal-ip", "10.0.1.7", "--internal-port", "1000/1010"}, "Error: OperationUnsupported.PortRange: "},
		{[]string{"--external-ip", a2, "--external-port", "any", "--protocol", "tcp", "--internal-ip", "10.0.1.7", "--internal-port", "22"}, "Error: InvalidExternalPort.Malformed: "},
		{[]string{"--external-ip", a1, "--protocol", "any", "--internal-ip", "10.0.1.7"}, "Error: Forbidden.ExternalIp.UsedInSnatTable: "},
		{[]string{"--external-ip", e4, "--protocol", "any", "--internal-ip", "10.0.1.7"}, "is not associated with NAT gateway"},
	} {
		if e := r.fail(append([]string{"nat", "forward", "add", ngw}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("nat forward add %v: %s", tc.args, e)
		}
	}
	out = r.ok("nat", "forward", "list", ngw)
	for _, want := range []string{"ForwardEntryId", fwd1, "web", "TCP", a2, "8080", "10.0.1.7", "80", fwd2, "Any", a3, "10.0.2.8"} {
		if !strings.Contains(out, want) {
			t.Errorf("nat forward list lacks %q:\n%s", want, out)
		}
	}

	// Changing entries: only the flags given change; the API checks the rest.
	r.ok("nat", "forward", "set", ngw, fwd1, "--external-port", "8081", "--name", "web2")
	if out := r.ok("nat", "forward", "list", ngw); !strings.Contains(out, "8081") || !strings.Contains(out, "web2") || !strings.Contains(out, "10.0.1.7") {
		t.Errorf("nat forward set --external-port 8081 --name web2:\n%s", out)
	}
	if e := r.fail("nat", "forward", "set", ngw, fwd1, "--protocol", "any"); !strings.Contains(e, "Error: ") {
		t.Errorf("nat forward set --protocol any with ports: %s", e)
	}
	if e := r.fail("nat", "forward", "set", ngw, fwd1); !strings.Contains(e, "give at least one of") {
		t.Errorf("nat forward set without flags: %s", e)
	}
	r.ok("nat", "forward", "set", ngw, fwd1, "--external-port", "8080", "--name", "web")
	r.ok("nat", "snat", "set", ngw, snat2, "--name", "renamed", "--ip", a1)
	if out := r.ok("nat", "snat", "list", ngw); !strings.Contains(out, "renamed") {
		t.Errorf("nat snat set --name renamed:\n%s", out)
	}
	if e := r.fail("nat", "snat", "set", ngw, snat2, "--ip", "nonsense"); !strings.Contains(e, "Error: InvalidSnatIp.Malformed: ") {
		t.Errorf("nat snat set --ip nonsense: %s", e)
	}
	if e := r.fail("nat", "snat", "set", ngw, snat1); !strings.Contains(e, "give --ip or --name") {
		t.Errorf("nat snat set without flags: %s", e)
	}
	r.ok("nat", "snat", "set", ngw, snat2, "--name", "batch", "--ip", e2+","+a1)

	// Show: the gateway, its EIPs and how they are used, and its entries.
	show := r.ok("nat", "show", ngw)
	for _, want := range []string{"NatGatewayId:", ngw, "egress", "to the internet", vpcID, vsw, "local-a", "10.0.1.", "Enhanced", "internet",
		"IcmpReplyEnabled:", "stb-", "ftb-", e1, a1, "UsedBySnatTable", e3, "UsedByForwardTable", snat1, snat2, fwd1, fwd2, "8080"} {
		if !strings.Contains(show, want) {
			t.Errorf("nat show lacks %q:\n%s", want, show)
		}
	}
	js := r.okJSON("nat", "show", ngw)
	if js["NatGatewayId"] != ngw || len(list(js, "SnatTableEntries", "SnatTableEntry")) != 2 ||
		len(list(js, "ForwardTableEntries", "ForwardTableEntry")) != 2 || len(list(js, "IpLists", "IpList")) != 3 {
		t.Errorf("nat show -o json: %v", js)
	}
	var je map[string]any
	if err := json.Unmarshal([]byte(r.fail("nat", "show", "ngw-nope", "-o", "json")), &je); err != nil || je["Code"] != "InvalidNatGatewayId.NotFound" {
		t.Errorf("show an unknown gateway -o json: %v %v", je, err)
	}

	// Set.
	r.ok("nat", "set", ngw2, "--name", "second", "--icmp-reply", "on")
	if g := r.okJSON("nat", "show", ngw2); g["Name"] != "second" || g["IcmpReplyEnabled"] != true {
		t.Errorf("after set: %v %v", g["Name"], g["IcmpReplyEnabled"])
	}
	if e := r.fail("nat", "set", ngw2); !strings.Contains(e, "nothing to change") {
		t.Errorf("set without settings: %s", e)
	}
	if e := r.fail("nat", "set", ngw2, "--icmp-reply", "maybe"); !strings.Contains(e, "invalid --icmp-reply") {
		t.Errorf("set --icmp-reply maybe: %s", e)
	}

	// What entries use stays; the gateway's vSwitch and VPC stay.
	if e := r.fail("eip", "unassociate", e1); !strings.Contains(e, "Error: InvalidIpStatus.HasBeenUsedBySnatTable: ") {
		t.Errorf("unassociate an SNAT address: %s", e)
	}
	if e := r.fail("nat", "delete", ngw); !strings.Contains(e, "Error: DependencyViolation.SnatEntry: ") {
		t.Errorf("delete a gateway with entries: %s", e)
	}
	if e := r.fail("vswitch", "delete", vsw); !strings.Contains(e, "DependencyViolation") || !strings.Contains(e, ngw) {
		t.Errorf("delete the gateway's vSwitch: %s", e)
	}

	// Only its account sees it.
	otherCreds := env.NewAccount(t, "other")
	other := newRunner(t, env)
	other.vars = maps.Clone(r.vars)
	other.vars[cli.EnvAccessKeyID], other.vars[cli.EnvAccessSecret] = otherCreds.AccessKeyID, otherCreds.Secret
	for _, args := range [][]string{{"nat", "show", ngw}, {"nat", "snat", "list", ngw}, {"nat", "forward", "delete", ngw, fwd1}, {"nat", "delete", ngw}} {
		if e := other.fail(args...); !strings.Contains(e, "Error: InvalidNatGatewayId.NotFound: ") {
			t.Errorf("another account: %v: %s", args, e)
		}
	}
	if out := other.ok("nat", "list"); strings.Contains(out, ngw) {
		t.Errorf("another account lists the gateway:\n%s", out)
	}

	// Removal.
	r.ok("nat", "snat", "delete", ngw, snat1)
	if e := r.fail("nat", "snat", "delete", ngw, snat1); !strings.Contains(e, "Error: InvalidSnatEntryId.NotFound: ") {
		t.Errorf("delete a deleted SNAT entry: %s", e)
	}
	r.ok("nat", "forward", "delete", ngw, fwd1)
	if e := r.fail("nat", "forward", "delete", ngw, "fwd-nope"); !strings.Contains(e, "Error: InvalidForwardEntryId.NotFound: ") {
		t.Errorf("delete an unknown forward entry: %s", e)
	}
	js = r.okJSON("nat", "show", ngw)
	if s, f := list(js, "SnatTableEntries", "SnatTableEntry"), list(js, "ForwardTableEntries", "ForwardTableEntry"); len(s) != 1 || len(f) != 1 ||
		s[0]["SnatEntryId"] != snat2 || f[0]["ForwardEntryId"] != fwd2 {
		t.Errorf("entries after delete: %v %v", s, f)
	}
	r.ok("nat", "delete", ngw, "--force")
	if out := r.ok("nat", "list"); strings.Contains(out, ngw) {
		t.Errorf("deleted gateway still listed:\n%s", out)
	}
	for _, e := range list(r.okJSON("eip", "list"), "EipAddresses", "EipAddress") {
		if id := fmt.Sprint(e["AllocationId"]); (id == e1 || id == e2 || id == e3) && (e["Status"] != "Available" || e["InstanceId"] != "") {
			t.Errorf("EIP %s after the gateway's forced deletion: %v %v", id, e["Status"], e["InstanceId"])
		}
	}
	if routes := r.ok("route", "list", "--vpc", vpcID); strings.Contains(routes, ngw) {
		t.Errorf("route to a deleted gateway:\n%s", routes)
	}
	r.ok("nat", "delete", ngw2)
	r.ok("vswitch", "delete", vsw)
}

// TestNATFirewallCommands: "nat firewall add|list|move|delete" drive a
// gateway's NAT firewall by the gateway's ID; errors reach the user with
// their code; another account sees nothing; deleting the gateway deletes
// the policies.
func TestNATFirewallCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	ngw := strings.TrimSpace(r.ok("nat", "create", "--vpc", vpcID, "--vswitch", vsw))
	book := strings.TrimSpace(r.ok("firewall", "book", "add", "--name", "app", "--type", "ip", "--entries", "10.0.1.0/24", "--description", "app hosts"))

	add := func(args ...string) string {
		t.Helper()
		id := strings.TrimSpace(r.ok(append([]string{"nat", "firewall", "add", ngw}, args...)...))
		if len(id) != 36 || strings.Count(id, "-") != 4 {
			t.Fatalf("nat firewall add printed %q", id)
		}
		return id
	}
	mail := add("--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "0.0.0.0/0", "--port", "25", "--description", "no direct mail")
	partner := add("--action", "accept", "--proto", "TCP", "--source", "app", "--source-type", "group", "--destination", "192.0.2.0/24",
		"--port", "443", "--order", "1", "--description", "app to the partner API")
	icmp := add("--action", "log", "--proto", "icmp", "--source", "10.0.1.7", "--destination", "0.0.0.0/0", "--disabled", "--description", "count pings")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{ngw, "--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "*.example.com", "--destination-type", "domain", "--description", "d"}, "Error: OperationUnsupported.Destination: "},
		{[]string{ngw, "--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/33", "--destination", "0.0.0.0/0", "--description", "d"}, "Error: IllegalParam.Source: "},
		{[]string{ngw, "--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "0.0.0.0/0", "--order", "9", "--description", "d"}, "Error: IllegalParam.NewOrder: "},
		{[]string{"ngw-nope", "--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "0.0.0.0/0", "--description", "d"}, "Error: InvalidNatGatewayId.NotFound: "},
		{[]string{ngw, "--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "0.0.0.0/0"}, `"description" not set`},
		{[]string{"--action", "drop", "--proto", "tcp", "--source", "10.0.0.0/16", "--destination", "0.0.0.0/0", "--description", "d"}, "accepts 1 arg"},
	} {
		if e := r.fail(append([]string{"nat", "firewall", "add"}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("nat firewall add %v: %s", tc.args, e)
		}
	}

	order := func() []string {
		t.Helper()
		js := r.okJSON("nat", "firewall", "list", ngw)
		pols, _ := js["Policys"].([]any)
		var ids []string
		for i, v := range pols {
			p := v.(map[string]any)
			if fmt.Sprint(p["Order"]) != fmt.Sprint(i+1) || p["NatGatewayId"] != ngw {
				t.Errorf("policy %v: order %v at %d, gateway %v", p["AclUuid"], p["Order"], i+1, p["NatGatewayId"])
			}
			ids = append(ids, p["AclUuid"].(string))
		}
		return ids
	}
	if got := order(); fmt.Sprint(got) != fmt.Sprint([]string{partner, mail, icmp}) {
		t.Errorf("order: %v", got)
	}
	out := r.ok("nat", "firewall", "list", ngw)
	for _, want := range []string{"Order", "Action", "HitTimes", "group:app", "192.0.2.0/24", "443", "25", "all", "10.0.1.7/32", "false", "count pings", mail} {
		if !strings.Contains(out, want) {
			t.Errorf("nat firewall list lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.Contains(lines[1], "partner API") {
		t.Errorf("nat firewall list order:\n%s", out)
	}
	r.ok("nat", "firewall", "move", ngw, icmp, "--order", "1")
	if got := order(); fmt.Sprint(got) != fmt.Sprint([]string{icmp, partner, mail}) {
		t.Errorf("after move: %v", got)
	}
	if e := r.fail("nat", "firewall", "move", ngw, icmp); !strings.Contains(e, `"order" not set`) {
		t.Errorf("move without --order: %s", e)
	}
	if e := r.fail("nat", "firewall", "move", ngw, icmp, "--order", "4"); !strings.Contains(e, "Error: IllegalParam.NewOrder: ") {
		t.Errorf("move past the end: %s", e)
	}
	if e := r.fail("firewall", "book", "delete", book); !strings.Contains(e, "Error: DependencyViolation.AddressBook: ") || !strings.Contains(e, partner) {
		t.Errorf("delete a book a NAT firewall policy uses: %s", e)
	}
	r.ok("nat", "firewall", "delete", ngw, icmp)
	if got := order(); fmt.Sprint(got) != fmt.Sprint([]string{partner, mail}) {
		t.Errorf("after delete: %v", got)
	}
	if e := r.fail("nat", "firewall", "delete", ngw, icmp); !strings.Contains(e, "Error: ResourceNotFound.ControlPolicy: ") {
		t.Errorf("delete a deleted policy: %s", e)
	}

	// Another account sees neither the gateway nor its policies.
	bobCreds := env.NewAccount(t, "bob")
	bob := newRunner(t, env)
	bob.vars = maps.Clone(r.vars)
	bob.vars[cli.EnvAccessKeyID], bob.vars[cli.EnvAccessSecret] = bobCreds.AccessKeyID, bobCreds.Secret
	if e := bob.fail("nat", "firewall", "list", ngw); !strings.Contains(e, "Error: InvalidNatGatewayId.NotFound: ") {
		t.Errorf("bob lists alice's: %s", e)
	}
	if e := bob.fail("nat", "firewall", "delete", ngw, mail); !strings.Contains(e, "Error: InvalidNatGatewayId.NotFound: ") {
		t.Errorf("bob deletes alice's: %s", e)
	}

	// Deleting the gateway deletes its policies: the book they used is
	// free.
	r.ok("nat", "delete", ngw)
	r.ok("firewall", "book", "delete", book)
}
