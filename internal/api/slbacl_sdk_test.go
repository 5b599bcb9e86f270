package api_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	slbv1 "github.com/aliyun/alibaba-cloud-sdk-go/services/slb"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// lbACLEntrysJSON is an AclEntrys parameter: "entry" or "entry=comment".
func lbACLEntrysJSON(t *testing.T, es ...string) *string {
	t.Helper()
	list := []map[string]string{}
	for _, e := range es {
		ip, c, _ := strings.Cut(e, "=")
		list = append(list, map[string]string{"entry": ip, "comment": c})
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return tea.String(string(b))
}

// lbACLAttr describes a list: its entries ("ip=comment") and related
// listeners ("lb/protocol/port/type").
func lbACLAttr(t *testing.T, c *slb.Client, req *slb.DescribeAccessControlListAttributeRequest) (*slb.DescribeAccessControlListAttributeResponseBody, []string, []string) {
	t.Helper()
	resp, err := c.DescribeAccessControlListAttribute(req)
	if err != nil {
		t.Fatalf("DescribeAccessControlListAttribute: %v", err)
	}
	var es, ls []string
	for _, e := range resp.Body.AclEntrys.AclEntry {
		es = append(es, tea.StringValue(e.AclEntryIP)+"="+tea.StringValue(e.AclEntryComment))
	}
	for _, l := range resp.Body.RelatedListeners.RelatedListener {
		ls = append(ls, tea.StringValue(l.LoadBalancerId)+"/"+tea.StringValue(l.Protocol)+"/"+tea.ToString(tea.Int32Value(l.ListenerPort))+"/"+tea.StringValue(l.AclType))
	}
	return resp.Body, es, ls
}

// TestSLBAccessControlSDK drives the access control lists of listeners
// through the official SDK (slb-20140515/v4, and the V1 SDK's
// services/slb for the answers the kernel tests read): lists and their
// entries, refusals with their codes (none changes the store), listeners
// that use a list as a whitelist or blacklist and how every Describe shows
// it, deletion refused while used, and isolation between accounts.
func TestSLBAccessControlSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	c, bc := env.SLB(t, alice), env.SLB(t, bob)
	n := newNet(t, env, alice, "10.0.0.0/16", "10.0.1.0/24")
	lbResp, err := c.CreateLoadBalancer(&slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(n.vsw)})
	if err != nil {
		t.Fatal(err)
	}
	lb := tea.StringValue(lbResp.Body.LoadBalancerId)

	// Create.
	cr, err := c.CreateAccessControlList(&slb.CreateAccessControlListRequest{AclName: tea.String("office"), AddressIPVersion: tea.String("ipv4"),
		ResourceGroupId: tea.String("rg-1"), Tag: []*slb.CreateAccessControlListRequestTag{{Key: tea.String("env"), Value: tea.String("prod")}}})
	if err != nil {
		t.Fatal(err)
	}
	acl := tea.StringValue(cr.Body.AclId)
	if !strings.HasPrefix(acl, "acl-") || tea.StringValue(cr.Body.RequestId) == "" {
		t.Fatalf("created %+v", cr.Body)
	}
	cr2, err := c.CreateAccessControlList(&slb.CreateAccessControlListRequest{AclName: tea.String("branch")})
	if err != nil {
		t.Fatal(err)
	}
	acl2 := tea.StringValue(cr2.Body.AclId)
	if _, err := c.AddAccessControlListEntry(&slb.AddAccessControlListEntryRequest{AclId: tea.String(acl),
		AclEntrys: lbACLEntrysJSON(t, "10.0.0.0/8=lan", "192.0.2.7=door", "198.51.100.0/24=")}); err != nil {
		t.Fatal(err)
	}

	// Refusals, with their codes; none changes the store.
	before := env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		req    *slb.CreateAccessControlListRequest
		status int
		code   string
	}{
		{"ipv6", &slb.CreateAccessControlListRequest{AclName: tea.String("v6"), AddressIPVersion: tea.String("ipv6")}, 400, "OperationUnsupported.AddressIPVersion"},
		{"no name", &slb.CreateAccessControlListRequest{}, 400, "MissingParameter"},
		{"name taken", &slb.CreateAccessControlListRequest{AclName: tea.String("office")}, 400, "AclNameExist"},
		{"bad name", &slb.CreateAccessControlListRequest{AclName: tea.String("a b")}, 400, "InvalidParameter"},
	} {
		_, err := c.CreateAccessControlList(tc.req)
		wantSLBErr(t, "create "+tc.name, err, tc.status, tc.code)
	}

	// Entries.
	many := make([]string, 51)
	for i := range many {
		many[i] = "172.16." + tea.ToString(i) + ".0/24"
	}
	for _, tc := range []struct {
		name    string
		id      string
		entries *string
		status  int
		code    string
	}{
		{"host bits", acl, lbACLEntrysJSON(t, "10.1.2.3/16"), 400, "InvalidParameter"},
		{"has it", acl, lbACLEntrysJSON(t, "192.0.2.7/32"), 400, "Duplicated.AclEntry"},
		{"ipv6", acl, lbACLEntrysJSON(t, "2001:db8::/32"), 400, "InvalidParameter"},
		{"51 at once", acl, lbACLEntrysJSON(t, many...), 400, "InvalidParameter"},
		{"not json", acl, tea.String("10.0.0.0/8"), 400, "InvalidParameter"},
		{"unknown field", acl, tea.String(`[{"ip":"10.0.0.0/8"}]`), 400, "InvalidParameter"},
		{"none", acl, nil, 400, "MissingParameter"},
		{"unknown list", "acl-nope", lbACLEntrysJSON(t, "10.9.0.0/16"), 404, "AclNotExist"},
	} {
		_, err := c.AddAccessControlListEntry(&slb.AddAccessControlListEntryRequest{AclId: tea.String(tc.id), AclEntrys: tc.entries})
		wantSLBErr(t, "add "+tc.name, err, tc.status, tc.code)
	}
	_, err = c.RemoveAccessControlListEntry(&slb.RemoveAccessControlListEntryRequest{AclId: tea.String(acl), AclEntrys: lbACLEntrysJSON(t, "10.99.0.0/16")})
	wantSLBErr(t, "remove a stranger", err, 404, "ResourceNotFound.AclEntry")
	_, err = bc.AddAccessControlListEntry(&slb.AddAccessControlListEntryRequest{AclId: tea.String(acl), AclEntrys: lbACLEntrysJSON(t, "10.9.0.0/16")})
	wantSLBErr(t, "bob adds", err, 404, "AclNotExist")
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused list action changed the store")
	}
	// The keys in another case are the same keys.
	if _, err := c.AddAccessControlListEntry(&slb.AddAccessControlListEntryRequest{AclId: tea.String(acl2),
		AclEntrys: tea.String(`[{"Entry":"203.0.113.0/24","Comment":"partner"}]`)}); err != nil {
		t.Fatal(err)
	}

	// DescribeAccessControlLists: filters and paging.
	list := func(req *slb.DescribeAccessControlListsRequest) (ids []string, total int32) {
		t.Helper()
		resp, err := c.DescribeAccessControlLists(req)
		if err != nil {
			t.Fatalf("DescribeAccessControlLists: %v", err)
		}
		for _, a := range resp.Body.Acls.Acl {
			ids = append(ids, tea.StringValue(a.AclId))
		}
		if int(tea.Int32Value(resp.Body.Count)) != len(ids) {
			t.Errorf("Count %d for %d lists", tea.Int32Value(resp.Body.Count), len(ids))
		}
		return ids, tea.Int32Value(resp.Body.TotalCount)
	}
	if ids, total := list(&slb.DescribeAccessControlListsRequest{}); total != 2 || !slices.Equal(ids, []string{acl, acl2}) {
		t.Errorf("all: %v %d", ids, total)
	}
	if ids, total := list(&slb.DescribeAccessControlListsRequest{PageSize: tea.Int32(1), PageNumber: tea.Int32(2)}); total != 2 || !slices.Equal(ids, []string{acl2}) {
		t.Errorf("page 2: %v %d", ids, total)
	}
	for name, tc := range map[string]struct {
		req  *slb.DescribeAccessControlListsRequest
		want []string
	}{
		"name":  {&slb.DescribeAccessControlListsRequest{AclName: tea.String("ffic")}, []string{acl}},
		"ipv6":  {&slb.DescribeAccessControlListsRequest{AddressIPVersion: tea.String("ipv6")}, nil},
		"group": {&slb.DescribeAccessControlListsRequest{ResourceGroupId: tea.String("rg-1")}, []string{acl}},
		"tag":   {&slb.DescribeAccessControlListsRequest{Tag: []*slb.DescribeAccessControlListsRequestTag{{Key: tea.String("env"), Value: tea.String("prod")}}}, []string{acl}},
	} {
		if ids, _ := list(tc.req); !slices.Equal(ids, tc.want) {
			t.Errorf("%s: %v, want %v", name, ids, tc.want)
		}
	}
	_, err = c.DescribeAccessControlLists(&slb.DescribeAccessControlListsRequest{PageSize: tea.Int32(51)})
	wantSLBErr(t, "PageSize 51", err, 400, "InvalidParameter")
	resp, err := c.DescribeAccessControlLists(&slb.DescribeAccessControlListsRequest{AclName: tea.String("office")})
	if err != nil {
		t.Fatal(err)
	}
	if a := resp.Body.Acls.Acl[0]; tea.StringValue(a.AclName) != "office" || tea.StringValue(a.AddressIPVersion) != "ipv4" ||
		tea.StringValue(a.CreateTime) == "" || tea.StringValue(a.ResourceGroupId) != "rg-1" || len(a.Tags.Tag) != 1 || tea.StringValue(a.Tags.Tag[0].TagKey) != "env" {
		t.Errorf("item %+v", a)
	}

	// DescribeAccessControlListAttribute: every entry, or a page of them.
	body, es, ls := lbACLAttr(t, c, &slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl)})
	if !slices.Equal(es, []string{"10.0.0.0/8=lan", "192.0.2.7/32=door", "198.51.100.0/24="}) || len(ls) != 0 ||
		tea.Int32Value(body.TotalAclEntry) != 3 || tea.StringValue(body.AclName) != "office" || tea.StringValue(body.AddressIPVersion) != "ipv4" {
		t.Errorf("attribute %v %v %+v", es, ls, body)
	}
	if _, es, _ := lbACLAttr(t, c, &slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl), Page: tea.Int32(2), PageSize: tea.Int32(2)}); !slices.Equal(es, []string{"198.51.100.0/24="}) {
		t.Errorf("page 2 of the entries: %v", es)
	}
	if _, es, _ := lbACLAttr(t, c, &slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl), AclEntryComment: tea.String("door")}); !slices.Equal(es, []string{"192.0.2.7/32=door"}) {
		t.Errorf("by comment: %v", es)
	}
	_, err = bc.DescribeAccessControlListAttribute(&slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl)})
	wantSLBErr(t, "bob describes", err, 404, "AclNotExist")
	if resp, err := bc.DescribeAccessControlLists(&slb.DescribeAccessControlListsRequest{}); err != nil || tea.Int32Value(resp.Body.TotalCount) != 0 {
		t.Errorf("bob lists %v %+v", err, resp)
	}

	// Listeners: TCP 80 whitelisted on create, UDP 53 blacklisted by set.
	if _, err := c.CreateLoadBalancerTCPListener(&slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(80),
		BackendServerPort: tea.Int32(8080), Bandwidth: tea.Int32(-1), AclStatus: tea.String("on"), AclType: tea.String("white"), AclId: tea.String(acl)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateLoadBalancerUDPListener(&slb.CreateLoadBalancerUDPListenerRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(53),
		BackendServerPort: tea.Int32(53), Bandwidth: tea.Int32(-1)}); err != nil {
		t.Fatal(err)
	}
	before = env.Snapshot(t)
	for _, tc := range []struct {
		name   string
		req    *slb.SetLoadBalancerUDPListenerAttributeRequest
		status int
		code   string
	}{
		{"no type", &slb.SetLoadBalancerUDPListenerAttributeRequest{AclStatus: tea.String("on"), AclId: tea.String(acl)}, 400, "MissingParameter"},
		{"no list", &slb.SetLoadBalancerUDPListenerAttributeRequest{AclStatus: tea.String("on"), AclType: tea.String("black")}, 400, "MissingParameter"},
		{"unknown list", &slb.SetLoadBalancerUDPListenerAttributeRequest{AclStatus: tea.String("on"), AclType: tea.String("black"), AclId: tea.String("acl-nope")}, 404, "AclNotExist"},
		{"bad type", &slb.SetLoadBalancerUDPListenerAttributeRequest{AclStatus: tea.String("on"), AclType: tea.String("grey"), AclId: tea.String(acl)}, 400, "InvalidParameter"},
		{"bad status", &slb.SetLoadBalancerUDPListenerAttributeRequest{AclStatus: tea.String("yes")}, 400, "InvalidParameter"},
	} {
		tc.req.LoadBalancerId, tc.req.ListenerPort = tea.String(lb), tea.Int32(53)
		_, err := c.SetLoadBalancerUDPListenerAttribute(tc.req)
		wantSLBErr(t, "set "+tc.name, err, tc.status, tc.code)
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused listener attribute changed the store")
	}
	// Bob's listener cannot use alice's list.
	bn := newNet(t, env, bob, "10.0.0.0/16", "10.0.1.0/24")
	bobLB, err := bc.CreateLoadBalancer(&slb.CreateLoadBalancerRequest{AddressType: tea.String("intranet"), VSwitchId: tea.String(bn.vsw)})
	if err != nil {
		t.Fatal(err)
	}
	before = env.Snapshot(t)
	_, err = bc.CreateLoadBalancerTCPListener(&slb.CreateLoadBalancerTCPListenerRequest{LoadBalancerId: bobLB.Body.LoadBalancerId, ListenerPort: tea.Int32(80),
		BackendServerPort: tea.Int32(80), AclStatus: tea.String("on"), AclType: tea.String("white"), AclId: tea.String(acl)})
	wantSLBErr(t, "bob's listener on alice's list", err, 404, "AclNotExist")
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused listener change changed the store")
	}
	if _, err := c.SetLoadBalancerUDPListenerAttribute(&slb.SetLoadBalancerUDPListenerAttributeRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(53),
		AclStatus: tea.String("on"), AclType: tea.String("black"), AclId: tea.String(acl)}); err != nil {
		t.Fatal(err)
	}

	// Every Describe shows the access control.
	tcpAttr, err := c.DescribeLoadBalancerTCPListenerAttribute(&slb.DescribeLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(80)})
	if err != nil {
		t.Fatal(err)
	}
	if x := tcpAttr.Body; tea.StringValue(x.AclStatus) != "on" || tea.StringValue(x.AclType) != "white" || tea.StringValue(x.AclId) != acl {
		t.Errorf("TCP attribute %+v", x)
	}
	udpAttr, err := c.DescribeLoadBalancerUDPListenerAttribute(&slb.DescribeLoadBalancerUDPListenerAttributeRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(53)})
	if err != nil {
		t.Fatal(err)
	}
	if x := udpAttr.Body; tea.StringValue(x.AclStatus) != "on" || tea.StringValue(x.AclType) != "black" || tea.StringValue(x.AclId) != acl {
		t.Errorf("UDP attribute %+v", x)
	}
	lr, err := c.DescribeLoadBalancerListeners(&slb.DescribeLoadBalancerListenersRequest{LoadBalancerId: []*string{tea.String(lb)}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lr.Body.Listeners {
		got = append(got, tea.StringValue(l.ListenerProtocol)+"/"+tea.StringValue(l.AclStatus)+"/"+tea.StringValue(l.AclType)+"/"+tea.StringValue(l.AclId))
	}
	if !slices.Equal(got, []string{"udp/on/black/" + acl, "tcp/on/white/" + acl}) {
		t.Errorf("listeners %v", got)
	}
	if _, _, ls := lbACLAttr(t, c, &slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl)}); !slices.Equal(ls, []string{lb + "/udp/53/black", lb + "/tcp/80/white"}) {
		t.Errorf("related listeners %v", ls)
	}

	// The V1 SDK reads the same answers (AclIds included).
	v1, err := slbv1.NewClientWithAccessKey(apitest.Region, alice.AccessKeyID, alice.Secret)
	if err != nil {
		t.Fatal(err)
	}
	v1.Domain = env.Endpoint
	v1.SetNoProxy("127.0.0.1,localhost")
	ta := slbv1.CreateDescribeLoadBalancerTCPListenerAttributeRequest()
	ta.LoadBalancerId, ta.ListenerPort = lb, requests.NewInteger(80)
	if r, err := v1.DescribeLoadBalancerTCPListenerAttribute(ta); err != nil || r.AclStatus != "on" || r.AclType != "white" || r.AclId != acl ||
		!slices.Equal(r.AclIds.AclId, []string{acl}) {
		t.Errorf("V1 TCP attribute: %v %+v", err, r)
	}
	aa := slbv1.CreateDescribeAccessControlListAttributeRequest()
	aa.AclId = acl
	if r, err := v1.DescribeAccessControlListAttribute(aa); err != nil || len(r.AclEntrys.AclEntry) != 3 || r.AclEntrys.AclEntry[1].AclEntryIP != "192.0.2.7/32" ||
		len(r.RelatedListeners.RelatedListener) != 2 || r.RelatedListeners.RelatedListener[1].AclType != "white" || r.TotalAclEntry != 3 {
		t.Errorf("V1 list attribute: %v %+v", err, r)
	}
	ae := slbv1.CreateAddAccessControlListEntryRequest()
	ae.AclId, ae.AclEntrys = acl, `[{"entry":"100.64.0.0/10","comment":"cgnat"}]`
	if _, err := v1.AddAccessControlListEntry(ae); err != nil {
		t.Errorf("V1 add: %v", err)
	}

	// A list in use stays; renamed, emptied, it still serves.
	_, err = c.DeleteAccessControlList(&slb.DeleteAccessControlListRequest{AclId: tea.String(acl)})
	wantSLBErr(t, "delete a list in use", err, 400, "AclInUsed")
	_, err = bc.DeleteAccessControlList(&slb.DeleteAccessControlListRequest{AclId: tea.String(acl)})
	wantSLBErr(t, "bob deletes", err, 404, "AclNotExist")
	_, err = c.SetAccessControlListAttribute(&slb.SetAccessControlListAttributeRequest{AclId: tea.String(acl), AclName: tea.String("branch")})
	wantSLBErr(t, "rename to a taken name", err, 400, "AclNameExist")
	if _, err := c.SetAccessControlListAttribute(&slb.SetAccessControlListAttributeRequest{AclId: tea.String(acl), AclName: tea.String("office-2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveAccessControlListEntry(&slb.RemoveAccessControlListEntryRequest{AclId: tea.String(acl),
		AclEntrys: lbACLEntrysJSON(t, "10.0.0.0/8", "192.0.2.7", "198.51.100.0/24", "100.64.0.0/10")}); err != nil {
		t.Fatal(err)
	}
	body, es, _ = lbACLAttr(t, c, &slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl)})
	if len(es) != 0 || tea.StringValue(body.AclName) != "office-2" || tea.Int32Value(body.TotalAclEntry) != 0 {
		t.Errorf("emptied %v %+v", es, body)
	}

	// Off: the listeners drop the list, which can then go.
	if _, err := c.SetLoadBalancerTCPListenerAttribute(&slb.SetLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(80),
		AclStatus: tea.String("off")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteLoadBalancerListener(&slb.DeleteLoadBalancerListenerRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(53)}); err != nil {
		t.Fatal(err)
	}
	tcpAttr, err = c.DescribeLoadBalancerTCPListenerAttribute(&slb.DescribeLoadBalancerTCPListenerAttributeRequest{LoadBalancerId: tea.String(lb), ListenerPort: tea.Int32(80)})
	if err != nil || tea.StringValue(tcpAttr.Body.AclStatus) != "off" || tcpAttr.Body.AclId != nil || tcpAttr.Body.AclType != nil {
		t.Errorf("TCP attribute after off: %v %+v", err, tcpAttr)
	}
	if _, err := c.DeleteAccessControlList(&slb.DeleteAccessControlListRequest{AclId: tea.String(acl)}); err != nil {
		t.Fatal(err)
	}
	for k := range env.Snapshot(t) {
		if k == model.PrefixLBACL+acl {
			t.Errorf("%s left after DeleteAccessControlList", k)
		}
	}
	_, err = c.DescribeAccessControlListAttribute(&slb.DescribeAccessControlListAttributeRequest{AclId: tea.String(acl)})
	wantSLBErr(t, "describe a deleted list", err, 404, "AclNotExist")
}
