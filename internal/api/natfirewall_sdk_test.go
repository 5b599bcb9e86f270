package api_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// nfwPolicy is a valid CreateNatFirewallControlPolicy request: drop TCP
// port from the VPC (10.0.0.0/16) to dst, labelled by its description.
func nfwPolicy(gw, order, label, dst, port string) *cloudfw.CreateNatFirewallControlPolicyRequest {
	req := cloudfw.CreateCreateNatFirewallControlPolicyRequest()
	req.NatGatewayId, req.Direction, req.NewOrder, req.Description = gw, "out", order, label
	req.AclAction, req.Proto, req.ApplicationNameList = "drop", "TCP", &[]string{"ANY"}
	req.Source, req.SourceType, req.Destination, req.DestinationType = "10.0.0.0/16", "net", dst, "net"
	req.DestPortType, req.DestPort = "port", port
	return req
}

func nfwAdd(t *testing.T, c *cloudfw.Client, req *cloudfw.CreateNatFirewallControlPolicyRequest) string {
	t.Helper()
	resp, err := c.CreateNatFirewallControlPolicy(req)
	if err != nil {
		t.Fatalf("CreateNatFirewallControlPolicy %s: %v", req.Description, err)
	}
	if len(resp.AclUuid) != 36 || resp.RequestId == "" {
		t.Fatalf("CreateNatFirewallControlPolicy: %+v", resp)
	}
	return resp.AclUuid
}

func nfwList(t *testing.T, c *cloudfw.Client, gw string) []cloudfw.DataItemInDescribeNatFirewallControlPolicy {
	t.Helper()
	req := cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
	req.NatGatewayId, req.Direction, req.CurrentPage, req.PageSize = gw, "out", "1", "100"
	resp, err := c.DescribeNatFirewallControlPolicy(req)
	if err != nil {
		t.Fatalf("DescribeNatFirewallControlPolicy %s: %v", gw, err)
	}
	if resp.TotalCount != strconv.Itoa(len(resp.Policys)) || resp.RequestId == "" {
		t.Errorf("DescribeNatFirewallControlPolicy: TotalCount %q for %d policies", resp.TotalCount, len(resp.Policys))
	}
	return resp.Policys
}

// nfwOrder returns the descriptions of a gateway's policies in order,
// checking that their orders are 1..n and that each names the gateway.
func nfwOrder(t *testing.T, c *cloudfw.Client, gw string) []string {
	t.Helper()
	out := []string{}
	for i, p := range nfwList(t, c, gw) {
		if p.Order != i+1 || p.NatGatewayId != gw {
			t.Errorf("%s: %s has order %d at position %d, gateway %q", gw, p.Description, p.Order, i+1, p.NatGatewayId)
		}
		out = append(out, p.Description)
	}
	return out
}

func wantNfwOrder(t *testing.T, c *cloudfw.Client, gw string, want ...string) {
	t.Helper()
	if got := nfwOrder(t, c, gw); !slices.Equal(got, want) {
		t.Errorf("%s policies: %v, want %v", gw, got, want)
	}
}

// TestNatFirewallSDK drives the NAT firewall through the official V1
// SDK: every field of a policy, ordering, retries, moves, modify, the
// order range, paging and filters, hits, tenant isolation, books in use,
// and DeleteNatGateway taking the policies with it.
func TestNatFirewallSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	c, bc := env.Cloudfw(t, alice), env.Cloudfw(t, bob)
	va := env.VPC(t, alice)
	n := newNatNet(t, va, "10.0.0.0/16", "10.0.1.0/24", "")
	gw := createNatGateway(t, va, n.vpc, n.vsw, nil).id
	gw2 := createNatGateway(t, va, n.vpc, n.vsw, func(r *vpc.CreateNatGatewayRequest) { r.IsCreateDefaultRoute = requests.NewBoolean(false) }).id
	cfwAddBook(t, c, "app", "ip", "10.0.1.0/24,10.0.2.7")
	cfwAddBook(t, c, "mail", "port", "25,465/465,587")

	// A policy with books, log, disabled: every field decoded.
	req := nfwPolicy(gw, "-1", "app to mail", "0.0.0.0/0", "")
	req.AclAction, req.Source, req.SourceType, req.DestPortType, req.DestPortGroup, req.Release = "log", "app", "group", "group", "mail", "false"
	req.IpVersion, req.DomainResolveType = "4", requests.NewInteger(0)
	first := nfwAdd(t, c, req)
	list := nfwList(t, c, gw)
	if len(list) != 1 {
		t.Fatalf("policies: %+v", list)
	}
	p := list[0]
	if p.AclUuid != first || p.NatGatewayId != gw || p.Order != 1 || p.AclAction != "log" || p.Source != "app" || p.SourceType != "group" ||
		p.SourceGroupType != "ip" || !slices.Equal(p.SourceGroupCidrs, []string{"10.0.1.0/24", "10.0.2.7/32"}) ||
		p.Destination != "0.0.0.0/0" || p.DestinationType != "net" || len(p.DestinationGroupCidrs) != 0 || p.Proto != "TCP" ||
		p.DestPortType != "group" || p.DestPortGroup != "mail" || !slices.Equal(p.DestPortGroupPorts, []string{"25", "465", "587"}) ||
		!slices.Equal(p.ApplicationNameList, []string{"ANY"}) || p.Release != "false" || p.SpreadCnt != "1" || p.DomainResolveType != 0 ||
		p.HitTimes != 0 || p.HitLastTime != 0 || p.CreateTime == 0 || p.ModifyTime < p.CreateTime || p.Description != "app to mail" {
		t.Errorf("DataItem: %+v", p)
	}

	// Ordering: insert at 1, append (-1 and n+1), insert in the middle;
	// the other gateway numbers its own.
	a := nfwAdd(t, c, nfwPolicy(gw, "1", "a", "0.0.0.0/0", "22"))
	nfwAdd(t, c, nfwPolicy(gw, "-1", "b", "192.0.2.0/24", "80/80"))
	nfwAdd(t, c, nfwPolicy(gw, "4", "c", "0.0.0.0/0", "0/0"))
	nfwAdd(t, c, nfwPolicy(gw, "2", "d", "0.0.0.0/0", "443"))
	nfwAdd(t, c, nfwPolicy(gw2, "1", "elsewhere", "0.0.0.0/0", "22"))
	wantNfwOrder(t, c, gw, "a", "d", "app to mail", "b", "c")
	wantNfwOrder(t, c, gw2, "elsewhere")
	for _, p := range nfwList(t, c, gw) {
		if want := map[string]string{"a": "22", "d": "443", "b": "80", "c": "0/0", "app to mail": ""}[p.Description]; p.DestPort != want {
			t.Errorf("%s: DestPort %q, want %q", p.Description, p.DestPort, want)
		}
	}
	if again := nfwAdd(t, c, nfwPolicy(gw, "1", "a", "0.0.0.0/0", "22")); again != a {
		t.Errorf("retry: %s, want %s", again, a)
	}

	// Move (the SDK's request has no Direction).
	mv := cloudfw.CreateModifyNatFirewallControlPolicyPositionRequest()
	mv.NatGatewayId, mv.AclUuid, mv.NewOrder = gw, a, requests.NewInteger(5)
	if _, err := c.ModifyNatFirewallControlPolicyPosition(mv); err != nil {
		t.Fatal(err)
	}
	wantNfwOrder(t, c, gw, "d", "app to mail", "b", "c", "a")
	mv.NewOrder = requests.NewInteger(-1)
	if _, err := c.ModifyNatFirewallControlPolicyPosition(mv); err != nil {
		t.Fatal(err)
	}
	wantNfwOrder(t, c, gw, "d", "app to mail", "b", "c", "a")
	mv.NewOrder = requests.NewInteger(6)
	_, err := c.ModifyNatFirewallControlPolicyPosition(mv)
	wantSDKErr(t, "move past the end", err, 400, "IllegalParam.NewOrder", "1 to 5")

	// Delete: the rest move up.
	del := cloudfw.CreateDeleteNatFirewallControlPolicyRequest()
	del.NatGatewayId, del.Direction, del.AclUuid = gw, "out", first
	if _, err := c.DeleteNatFirewallControlPolicy(del); err != nil {
		t.Fatal(err)
	}
	wantNfwOrder(t, c, gw, "d", "b", "c", "a")
	_, err = c.DeleteNatFirewallControlPolicy(del)
	wantSDKErr(t, "delete twice", err, 404, "ResourceNotFound.ControlPolicy", "")
	pr := cloudfw.CreateDescribeNatFirewallPolicyPriorUsedRequest()
	pr.NatGatewayId, pr.Direction, pr.IpVersion = gw, "out", "4"
	if resp, err := c.DescribeNatFirewallPolicyPriorUsed(pr); err != nil || resp.Start != 1 || resp.End != 4 {
		t.Errorf("DescribeNatFirewallPolicyPriorUsed: %+v %v", resp, err)
	}

	// Modify (no Direction in the SDK's request): the fields given
	// change, the rest and the order stay.
	mod := cloudfw.CreateModifyNatFirewallControlPolicyRequest()
	mod.NatGatewayId, mod.AclUuid, mod.AclAction, mod.Proto, mod.Destination, mod.DestinationType = gw, a, "accept", "ICMP", "203.0.113.9/24", "net"
	mod.OpsStatus, mod.DomainResolveType = "1", "0"
	if _, err := c.ModifyNatFirewallControlPolicy(mod); err != nil {
		t.Fatal(err)
	}
	list = nfwList(t, c, gw)
	if m := list[3]; m.AclUuid != a || m.AclAction != "accept" || m.Proto != "ICMP" || m.DestPort != "0/0" || m.Destination != "203.0.113.0/24" ||
		m.Source != "10.0.0.0/16" || m.Description != "a" || m.Release != "true" || m.Order != 4 {
		t.Errorf("modified: %+v", m)
	}

	// Filters and paging.
	q := cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
	q.NatGatewayId, q.AclAction = gw, "accept"
	if resp, err := c.DescribeNatFirewallControlPolicy(q); err != nil || resp.TotalCount != "1" || len(resp.Policys) != 1 || resp.Policys[0].AclUuid != a {
		t.Errorf("AclAction filter: %+v %v", resp, err)
	}
	q = cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
	q.NatGatewayId, q.Proto, q.Destination, q.Description, q.Release = gw, "tcp", "192.0.2", "b", "true"
	if resp, err := c.DescribeNatFirewallControlPolicy(q); err != nil || resp.TotalCount != "1" || resp.Policys[0].Description != "b" {
		t.Errorf("Proto/Destination/Description filter: %+v %v", resp, err)
	}
	q = cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
	q.NatGatewayId, q.CurrentPage, q.PageSize = gw, "2", "3"
	if resp, err := c.DescribeNatFirewallControlPolicy(q); err != nil || resp.TotalCount != "4" || len(resp.Policys) != 1 || resp.Policys[0].Description != "a" {
		t.Errorf("page 2: %+v %v", resp, err)
	}
	q.CurrentPage = "9"
	if resp, err := c.DescribeNatFirewallControlPolicy(q); err != nil || resp.TotalCount != "4" || len(resp.Policys) != 0 {
		t.Errorf("page 9: %+v %v", resp, err)
	}

	// Hits, as an agent reports them, show in the list.
	last := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	hits, _ := json.Marshal([]model.FirewallHits{{PolicyID: a, Hits: 7, LastHit: last}})
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "PalisadeReportFirewallHits", map[string]string{"Hits": string(hits)}); err != nil {
		t.Fatalf("PalisadeReportFirewallHits: %v", err)
	}
	if m := nfwList(t, c, gw)[3]; m.AclUuid != a || m.HitTimes != 7 || m.HitLastTime != last.Unix() {
		t.Errorf("hits: %+v", m)
	}

	// Another account sees none of it: alice's gateway is not found, its
	// own has no policies.
	bq := cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
	bq.NatGatewayId = gw
	_, err = bc.DescribeNatFirewallControlPolicy(bq)
	wantSDKErr(t, "bob lists alice's", err, 404, "InvalidNatGatewayId.NotFound", "")
	_, err = bc.CreateNatFirewallControlPolicy(nfwPolicy(gw, "1", "bob's", "0.0.0.0/0", "22"))
	wantSDKErr(t, "bob adds to alice's", err, 404, "InvalidNatGatewayId.NotFound", "")
	vb := env.VPC(t, bob)
	bn := newNatNet(t, vb, "10.0.0.0/16", "10.0.1.0/24", "")
	bgw := createNatGateway(t, vb, bn.vpc, bn.vsw, nil).id
	wantNfwOrder(t, bc, bgw)
	nfwAdd(t, bc, nfwPolicy(bgw, "1", "bob's", "0.0.0.0/0", "22"))
	wantNfwOrder(t, bc, bgw, "bob's")
	wantNfwOrder(t, c, gw, "d", "b", "c", "a")

	// A book that a NAT-firewall policy uses cannot be deleted, and
	// DescribeAddressBook counts the policy.
	books, err := c.DescribeAddressBook(cloudfw.CreateDescribeAddressBookRequest())
	if err != nil {
		t.Fatal(err)
	}
	var appBook string
	for _, b := range books.Acls {
		if b.GroupName == "app" {
			appBook = b.GroupUuid
		}
	}
	usesApp := nfwPolicy(gw2, "1", "uses app", "0.0.0.0/0", "25")
	usesApp.Source, usesApp.SourceType = "app", "group"
	user := nfwAdd(t, c, usesApp)
	books, err = c.DescribeAddressBook(cloudfw.CreateDescribeAddressBookRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range books.Acls {
		if b.GroupUuid == appBook && b.ReferenceCount != 1 {
			t.Errorf("app book ReferenceCount %d, want 1", b.ReferenceCount)
		}
	}
	db := cloudfw.CreateDeleteAddressBookRequest()
	db.GroupUuid = appBook
	_, err = c.DeleteAddressBook(db)
	wantSDKErr(t, "delete a book in use", err, 403, "DependencyViolation.AddressBook", user)

	// Deleting the gateway deletes its policies (and frees the book).
	dg := vpc.CreateDeleteNatGatewayRequest()
	dg.NatGatewayId = gw2
	if _, err := va.DeleteNatGateway(dg); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	dg.NatGatewayId, dg.Force = gw, requests.NewBoolean(true)
	if _, err := va.DeleteNatGateway(dg); err != nil {
		t.Fatalf("DeleteNatGateway Force: %v", err)
	}
	left := 0
	for k := range env.Snapshot(t) {
		if strings.HasPrefix(k, model.PrefixNatFirewallPolicy) {
			left++
		}
		if k == model.PrefixFirewallHits+a {
			t.Errorf("the hits of %s are left", a)
		}
	}
	if left != 1 { // bob's
		t.Errorf("%d NAT-firewall policies in the store, want bob's only", left)
	}
	if _, err := c.DeleteAddressBook(db); err != nil {
		t.Errorf("delete the book once its user is gone: %v", err)
	}
	_, err = c.DescribeNatFirewallControlPolicy(bq)
	wantSDKErr(t, "describe a deleted gateway", err, 404, "InvalidNatGatewayId.NotFound", "")
}

// TestNatFirewallBadInputSDK: every refusal, with its code and status,
// changes nothing in the store.
func TestNatFirewallBadInputSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	c := env.Cloudfw(t, alice)
	va, vb := env.VPC(t, alice), env.VPC(t, bob)
	n := newNatNet(t, va, "10.0.0.0/16", "10.0.1.0/24", "")
	gw := createNatGateway(t, va, n.vpc, n.vsw, nil).id
	bn := newNatNet(t, vb, "10.0.0.0/16", "10.0.1.0/24", "")
	bgw := createNatGateway(t, vb, bn.vpc, bn.vsw, nil).id
	cfwAddBook(t, c, "web", "port", "80")
	pol := nfwAdd(t, c, nfwPolicy(gw, "1", "p", "0.0.0.0/0", "22"))

	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	add := map[string]string{
		"NatGatewayId": gw, "Direction": "out", "NewOrder": "-1", "AclAction": "drop", "Proto": "TCP", "Source": "10.0.1.0/24", "SourceType": "net",
		"Destination": "0.0.0.0/0", "DestinationType": "net", "DestPortType": "port", "DestPort": "25", "ApplicationNameList.1": "ANY", "Description": "d",
	}
	one := map[string]string{"NatGatewayId": gw, "Direction": "out", "AclUuid": pol}
	const (
		addP  = "CreateNatFirewallControlPolicy"
		modP  = "ModifyNatFirewallControlPolicy"
		delP  = "DeleteNatFirewallControlPolicy"
		move  = "ModifyNatFirewallControlPolicyPosition"
		prior = "DescribeNatFirewallPolicyPriorUsed"
		desc  = "DescribeNatFirewallControlPolicy"
	)
	tests := []struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}{
		{"no gateway", addP, alice, with(add, "NatGatewayId", ""), 400, "MissingParameter"},
		{"unknown gateway", addP, alice, with(add, "NatGatewayId", "ngw-nope"), 404, "InvalidNatGatewayId.NotFound"},
		{"bob's gateway", addP, alice, with(add, "NatGatewayId", bgw), 404, "InvalidNatGatewayId.NotFound"},
		{"alice's gateway for bob", addP, bob, add, 404, "InvalidNatGatewayId.NotFound"},
		{"no direction", addP, alice, with(add, "Direction", ""), 400, "MissingParameter"},
		{"direction in", addP, alice, with(add, "Direction", "in"), 400, "IllegalParam.Direction"},
		{"bad direction", addP, alice, with(add, "Direction", "both"), 400, "IllegalParam.Direction"},
		{"no order", addP, alice, with(add, "NewOrder", ""), 400, "MissingParameter"},
		{"order past the end", addP, alice, with(add, "NewOrder", "3"), 400, "IllegalParam.NewOrder"},
		{"no action", addP, alice, with(add, "AclAction", ""), 400, "MissingParameter"},
		{"bad action", addP, alice, with(add, "AclAction", "deny"), 400, "IllegalParam.AclAction"},
		{"bad cidr", addP, alice, with(add, "Source", "10.0.0.0/40"), 400, "IllegalParam.Source"},
		{"ipv6 destination", addP, alice, with(add, "Destination", "2001:db8::/64"), 400, "IllegalParam.Destination"},
		{"domain source", addP, alice, with(add, "SourceType", "domain", "Source", "example.com"), 400, "OperationUnsupported.SourceType"},
		{"wildcard domain", addP, alice, with(add, "DestinationType", "domain", "Destination", "*.example.com"), 400, "OperationUnsupported.Destination"},
		{"bad domain", addP, alice, with(add, "DestinationType", "domain", "Destination", "-bad-.example.com"), 400, "IllegalParam.Destination"},
		{"domain resolve type 0", addP, alice, with(add, "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "0"), 400, "OperationUnsupported.DomainResolveType"},
		{"domain resolve type 2", addP, alice, with(add, "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "2"), 400, "OperationUnsupported.DomainResolveType"},
		{"domain resolve type 3", addP, alice, with(add, "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "3"), 400, "IllegalParam.DomainResolveType"},
		{"location", addP, alice, with(add, "DestinationType", "location", "Destination", "CN"), 400, "OperationUnsupported.DestinationType"},
		{"unknown book", addP, alice, with(add, "SourceType", "group", "Source", "nope"), 404, "ResourceNotFound.AddressBook"},
		{"port book as address", addP, alice, with(add, "SourceType", "group", "Source", "web"), 400, "IllegalParam.Source"},
		{"icmp port", addP, alice, with(add, "Proto", "ICMP"), 400, "IllegalParam.DestPort"},
		{"application", addP, alice, with(add, "ApplicationNameList.1", "SMTP"), 400, "OperationUnsupported.ApplicationName"},
		{"ipv6", addP, alice, with(add, "IpVersion", "6"), 400, "OperationUnsupported.IpVersion"},
		{"no description", addP, alice, with(add, "Description", ""), 400, "MissingParameter"},
		{"dry run", addP, alice, with(add, "DryRun", "true"), 400, "InvalidParameter"},
		{"modify no gateway", modP, alice, with(one, "NatGatewayId", "", "AclAction", "accept"), 400, "MissingParameter"},
		{"modify no id", modP, alice, with(one, "AclUuid", "", "AclAction", "accept"), 400, "MissingParameter"},
		{"modify in", modP, alice, with(one, "Direction", "in", "AclAction", "accept"), 400, "IllegalParam.Direction"},
		{"modify on bob's gateway", modP, alice, with(one, "NatGatewayId", bgw, "AclAction", "accept"), 404, "InvalidNatGatewayId.NotFound"},
		{"modify by bob", modP, bob, with(one, "AclAction", "accept"), 404, "InvalidNatGatewayId.NotFound"},
		{"modify unknown", modP, alice, with(one, "AclUuid", "00000000-0000-4000-8000-000000000000", "AclAction", "accept"), 404, "ResourceNotFound.ControlPolicy"},
		{"modify type only", modP, alice, with(one, "DestinationType", "group"), 400, "MissingParameter"},
		{"modify to a domain without it", modP, alice, with(one, "DestinationType", "domain"), 400, "MissingParameter"},
		{"modify to a wildcard", modP, alice, with(one, "DestinationType", "domain", "Destination", "*.example.com"), 400, "OperationUnsupported.Destination"},
		{"modify to a domain, FQDN", modP, alice, with(one, "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "0"), 400, "OperationUnsupported.DomainResolveType"},
		{"delete no direction", delP, alice, with(one, "Direction", ""), 400, "MissingParameter"},
		{"delete in", delP, alice, with(one, "Direction", "in"), 400, "IllegalParam.Direction"},
		{"delete no gateway", delP, alice, with(one, "NatGatewayId", ""), 400, "MissingParameter"},
		{"delete by bob", delP, bob, one, 404, "InvalidNatGatewayId.NotFound"},
		{"move no order", move, alice, one, 400, "MissingParameter"},
		{"move bad order", move, alice, with(one, "NewOrder", "0"), 400, "IllegalParam.NewOrder"},
		{"move no id", move, alice, with(one, "AclUuid", "", "NewOrder", "1"), 400, "MissingParameter"},
		{"move by bob", move, bob, with(one, "NewOrder", "1"), 404, "InvalidNatGatewayId.NotFound"},
		{"prior used no direction", prior, alice, map[string]string{"NatGatewayId": gw}, 400, "MissingParameter"},
		{"prior used in", prior, alice, map[string]string{"NatGatewayId": gw, "Direction": "in"}, 400, "IllegalParam.Direction"},
		{"prior used no gateway", prior, alice, map[string]string{"Direction": "out"}, 400, "MissingParameter"},
		{"prior used ipv6", prior, alice, map[string]string{"NatGatewayId": gw, "Direction": "out", "IpVersion": "6"}, 400, "OperationUnsupported.IpVersion"},
		{"describe no gateway", desc, alice, nil, 400, "MissingParameter"},
		{"describe in", desc, alice, map[string]string{"NatGatewayId": gw, "Direction": "in"}, 400, "IllegalParam.Direction"},
		{"describe bad proto", desc, alice, map[string]string{"NatGatewayId": gw, "Proto": "GRE"}, 400, "IllegalParam.Proto"},
		{"describe page size 101", desc, alice, map[string]string{"NatGatewayId": gw, "PageSize": "101"}, 400, "InvalidParameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.who, api.VersionCloudfw, tc.action, tc.params)
			if err == nil {
				t.Fatalf("%s %v succeeded", tc.action, tc.params)
			}
			st, code := apitest.ServerErr(t, err)
			if code != tc.code || st != tc.status {
				t.Errorf("%s: got %d %s, want %d %s (%v)", tc.action, st, code, tc.status, tc.code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("%s changed the store on error", tc.action)
			}
		})
	}
	// The refusal of Direction in says where inbound connections meet a
	// firewall.
	_, err := c.CreateNatFirewallControlPolicy(func() *cloudfw.CreateNatFirewallControlPolicyRequest {
		r := nfwPolicy(gw, "1", "in", "0.0.0.0/0", "22")
		r.Direction = "in"
		return r
	}())
	wantSDKErr(t, "direction in", err, 400, "IllegalParam.Direction", "Internet firewall")
}
