package api_test

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

func cfwAddBook(t *testing.T, c *cloudfw.Client, name, typ, list string) string {
	t.Helper()
	req := cloudfw.CreateAddAddressBookRequest()
	req.GroupName, req.GroupType, req.AddressList, req.Description = name, typ, list, "book "+name
	resp, err := c.AddAddressBook(req)
	if err != nil {
		t.Fatalf("AddAddressBook %s: %v", name, err)
	}
	if len(resp.GroupUuid) != 36 || resp.RequestId == "" {
		t.Fatalf("AddAddressBook: %+v", resp)
	}
	return resp.GroupUuid
}

// cfwPolicy is a valid AddControlPolicy request: TCP port from anywhere to
// dst, labelled by its description.
func cfwPolicy(dir, order, label, dst, port string) *cloudfw.AddControlPolicyRequest {
	req := cloudfw.CreateAddControlPolicyRequest()
	req.Direction, req.NewOrder, req.Description = dir, order, label
	req.AclAction, req.Proto, req.ApplicationName = "accept", "TCP", "ANY"
	req.Source, req.SourceType, req.Destination, req.DestinationType = "0.0.0.0/0", "net", dst, "net"
	req.DestPortType, req.DestPort = "port", port
	return req
}

func cfwAdd(t *testing.T, c *cloudfw.Client, req *cloudfw.AddControlPolicyRequest) string {
	t.Helper()
	resp, err := c.AddControlPolicy(req)
	if err != nil {
		t.Fatalf("AddControlPolicy %s: %v", req.Description, err)
	}
	if len(resp.AclUuid) != 36 || resp.RequestId == "" {
		t.Fatalf("AddControlPolicy: %+v", resp)
	}
	return resp.AclUuid
}

func cfwList(t *testing.T, c *cloudfw.Client, dir string) []cloudfw.DataItem {
	t.Helper()
	req := cloudfw.CreateDescribeControlPolicyRequest()
	req.Direction, req.CurrentPage, req.PageSize = dir, "1", "100"
	resp, err := c.DescribeControlPolicy(req)
	if err != nil {
		t.Fatalf("DescribeControlPolicy %s: %v", dir, err)
	}
	if resp.TotalCount != fmt.Sprint(len(resp.Policys)) || resp.PageNo != "1" || resp.PageSize != "100" {
		t.Errorf("DescribeControlPolicy: TotalCount %q PageNo %q PageSize %q for %d policies", resp.TotalCount, resp.PageNo, resp.PageSize, len(resp.Policys))
	}
	return resp.Policys
}

// cfwOrder returns the descriptions of a direction's policies in order,
// checking that their orders are 1..n.
func cfwOrder(t *testing.T, c *cloudfw.Client, dir string) []string {
	t.Helper()
	out := []string{}
	for i, p := range cfwList(t, c, dir) {
		if p.Order != i+1 {
			t.Errorf("%s: %s has order %d at position %d", dir, p.Description, p.Order, i+1)
		}
		out = append(out, p.Description)
	}
	return out
}

func wantOrder(t *testing.T, c *cloudfw.Client, dir string, want ...string) {
	t.Helper()
	if got := cfwOrder(t, c, dir); !slices.Equal(got, want) {
		t.Errorf("%s policies: %v, want %v", dir, got, want)
	}
}

func TestCloudfwPoliciesSDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.NewAccount(t, "alice")
	c := env.Cloudfw(t, alice)
	_, eip := allocateEIP(t, env.VPC(t, alice))
	cfwAddBook(t, c, "office", "ip", "192.0.2.7/24,198.51.100.1")
	cfwAddBook(t, c, "web", "port", "443,8080/8088")

	// A policy with books, ranges, log, disabled: every field decoded.
	req := cfwPolicy("in", "-1", "office to web", eip+"/32", "")
	req.AclAction, req.Source, req.SourceType, req.DestPortType, req.DestPortGroup, req.Release = "log", "office", "group", "group", "web", "false"
	req.ApplicationName, req.ApplicationNameList = "", &[]string{"ANY"}
	first := cfwAdd(t, c, req)
	list := cfwList(t, c, "in")
	if len(list) != 1 {
		t.Fatalf("policies: %+v", list)
	}
	p := list[0]
	if p.AclUuid != first || p.Direction != "in" || p.Order != 1 || p.AclAction != "log" || p.Source != "office" || p.SourceType != "group" ||
		p.SourceGroupType != "ip" || !slices.Equal(p.SourceGroupCidrs, []string{"192.0.2.0/24", "198.51.100.1/32"}) ||
		p.Destination != eip+"/32" || p.DestinationType != "net" || len(p.DestinationGroupCidrs) != 0 || p.Proto != "TCP" ||
		p.DestPortType != "group" || p.DestPortGroup != "web" || !slices.Equal(p.DestPortGroupPorts, []string{"443", "8080/8088"}) ||
		p.ApplicationName != "ANY" || !slices.Equal(p.ApplicationNameList, []string{"ANY"}) || p.Release != "false" ||
		p.HitTimes != 0 || p.IpVersion != 4 || p.CreateTime == 0 || p.ModifyTime < p.CreateTime || p.Description != "office to web" {
		t.Errorf("DataItem: %+v", p)
	}

	// Ordering: insert at 1, append (-1 and n+1), insert in the middle.
	a := cfwAdd(t, c, cfwPolicy("in", "1", "a", "0.0.0.0/0", "22"))
	cfwAdd(t, c, cfwPolicy("in", "-1", "b", "0.0.0.0/0", "80/80"))
	cfwAdd(t, c, cfwPolicy("in", "4", "c", "0.0.0.0/0", "0/0"))
	cfwAdd(t, c, cfwPolicy("in", "2", "d", "0.0.0.0/0", "443"))
	wantOrder(t, c, "in", "a", "d", "office to web", "b", "c")
	for _, p := range cfwList(t, c, "in") {
		if want := map[string]string{"a": "22", "d": "443", "b": "80", "c": "0/0", "office to web": ""}[p.Description]; p.DestPort != want {
			t.Errorf("%s: DestPort %q, want %q", p.Description, p.DestPort, want)
		}
	}
	// Retrying an add that went through adds nothing.
	if again := cfwAdd(t, c, cfwPolicy("in", "1", "a", "0.0.0.0/0", "22")); again != a {
		t.Errorf("retry: %s, want %s", again, a)
	}
	cfwAdd(t, c, cfwPolicy("out", "1", "out1", "0.0.0.0/0", "25"))
	wantOrder(t, c, "out", "out1")

	// Move by OldOrder (the SDK's way) and by AclUuid.
	mv := cloudfw.CreateModifyControlPolicyPositionRequest()
	mv.Direction, mv.OldOrder, mv.NewOrder = "in", "5", "1"
	if _, err := c.ModifyControlPolicyPosition(mv); err != nil {
		t.Fatal(err)
	}
	wantOrder(t, c, "in", "c", "a", "d", "office to web", "b")
	if _, err := env.Common(t, alice, api.VersionCloudfw, "ModifyControlPolicyPosition", map[string]string{"Direction": "in", "AclUuid": a, "NewOrder": "-1"}); err != nil {
		t.Fatal(err)
	}
	wantOrder(t, c, "in", "c", "d", "office to web", "b", "a")

	// Delete: the rest move up.
	del := cloudfw.CreateDeleteControlPolicyRequest()
	del.AclUuid, del.Direction = first, "in"
	if _, err := c.DeleteControlPolicy(del); err != nil {
		t.Fatal(err)
	}
	wantOrder(t, c, "in", "c", "d", "b", "a")
	pr := cloudfw.CreateDescribePolicyPriorUsedRequest()
	pr.Direction = "in"
	if resp, err := c.DescribePolicyPriorUsed(pr); err != nil || resp.Start != 1 || resp.End != 4 {
		t.Errorf("DescribePolicyPriorUsed: %+v %v", resp, err)
	}

	// Modify: the fields given change, the rest and the order stay.
	mod := cloudfw.CreateModifyControlPolicyRequest()
	mod.AclUuid, mod.Direction, mod.AclAction, mod.Proto, mod.Source, mod.SourceType = a, "in", "drop", "ICMP", "203.0.113.9/24", "net"
	if _, err := c.ModifyControlPolicy(mod); err != nil {
		t.Fatal(err)
	}
	list = cfwList(t, c, "in")
	if m := list[3]; m.AclUuid != a || m.AclAction != "drop" || m.Proto != "ICMP" || m.DestPort != "0/0" || m.Source != "203.0.113.0/24" ||
		m.Description != "a" || m.Release != "true" || m.Order != 4 {
		t.Errorf("modified: %+v", m)
	}

	// Filters and paging.
	q := cloudfw.CreateDescribeControlPolicyRequest()
	q.Direction, q.AclAction = "in", "drop"
	if resp, err := c.DescribeControlPolicy(q); err != nil || resp.TotalCount != "1" || resp.Policys[0].AclUuid != a || resp.PageSize != "10" {
		t.Errorf("AclAction filter: %+v %v", resp, err)
	}
	q = cloudfw.CreateDescribeControlPolicyRequest()
	q.Proto, q.Description, q.Source = "tcp", "b", "0.0.0"
	if resp, err := c.DescribeControlPolicy(q); err != nil || resp.TotalCount != "1" || resp.Policys[0].Description != "b" {
		t.Errorf("Proto/Description/Source filter: %+v %v", resp, err)
	}
	q = cloudfw.CreateDescribeControlPolicyRequest()
	q.CurrentPage, q.PageSize = "2", "2"
	resp, err := c.DescribeControlPolicy(q)
	if err != nil || resp.TotalCount != "5" || resp.PageNo != "2" || len(resp.Policys) != 2 ||
		resp.Policys[0].Description != "b" || resp.Policys[1].Description != "a" {
		t.Errorf("page 2: %+v %v", resp, err)
	}
	q.CurrentPage = "3" // the out policy comes after the in ones
	if resp, err := c.DescribeControlPolicy(q); err != nil || len(resp.Policys) != 1 || resp.Policys[0].Direction != "out" {
		t.Errorf("page 3: %+v %v", resp, err)
	}
	q.CurrentPage = "9"
	if resp, err := c.DescribeControlPolicy(q); err != nil || len(resp.Policys) != 0 || resp.TotalCount != "5" {
		t.Errorf("page 9: %+v %v", resp, err)
	}

	// Another account sees none of it and has its own numbering.
	bob := env.NewAccount(t, "bob")
	bc := env.Cloudfw(t, bob)
	if got := cfwOrder(t, bc, ""); len(got) != 0 {
		t.Errorf("bob sees %v", got)
	}
	cfwAdd(t, bc, cfwPolicy("in", "1", "bob's", "0.0.0.0/0", "22"))
	wantOrder(t, bc, "in", "bob's")
	wantOrder(t, c, "in", "c", "d", "b", "a")
	// The policies reach the store the agents mirror.
	n := 0
	for k := range env.Snapshot(t) {
		if strings.HasPrefix(k, model.PrefixFirewallPolicy) {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d policies in the store, want 6", n)
	}
}

func TestCloudfwAddressBooksSDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.NewAccount(t, "alice")
	c := env.Cloudfw(t, alice)
	office := cfwAddBook(t, c, "office", "ip", "192.0.2.0/24, 10.1.2.3")
	web := cfwAddBook(t, c, "web", "port", "80,443,8000/8080")
	if again := cfwAddBook(t, c, "office", "ip", "192.0.2.0/24,10.1.2.3/32"); again != office {
		t.Errorf("identical book: %s, want %s", again, office)
	}
	req := cfwPolicy("out", "1", "uses both", "office", "")
	req.DestinationType, req.DestPortType, req.DestPortGroup = "group", "group", "web"
	cfwAdd(t, c, req)

	list := func(typ string) []cloudfw.Acl {
		t.Helper()
		req := cloudfw.CreateDescribeAddressBookRequest()
		req.GroupType = typ
		resp, err := c.DescribeAddressBook(req)
		if err != nil {
			t.Fatalf("DescribeAddressBook: %v", err)
		}
		if resp.TotalCount != fmt.Sprint(len(resp.Acls)) || resp.PageNo != "1" || resp.PageSize != "10" {
			t.Errorf("DescribeAddressBook: TotalCount %q PageNo %q PageSize %q", resp.TotalCount, resp.PageNo, resp.PageSize)
		}
		return resp.Acls
	}
	acls := list("")
	if len(acls) != 2 {
		t.Fatalf("books: %+v", acls)
	}
	o, w := acls[0], acls[1]
	if o.GroupUuid != office || o.GroupName != "office" || o.GroupType != "ip" || o.AddressType != "ipv4" || o.Description != "book office" ||
		!slices.Equal(o.AddressList, []string{"192.0.2.0/24", "10.1.2.3/32"}) || o.AddressListCount != 2 || o.ReferenceCount != 1 {
		t.Errorf("office: %+v", o)
	}
	if w.GroupUuid != web || w.GroupType != "port" || !slices.Equal(w.AddressList, []string{"80", "443", "8000/8080"}) || w.ReferenceCount != 1 {
		t.Errorf("web: %+v", w)
	}
	if got := list("port"); len(got) != 1 || got[0].GroupUuid != web {
		t.Errorf("port books: %+v", got)
	}
	q := cloudfw.CreateDescribeAddressBookRequest()
	q.ContainPort, q.Query = "8001", "we"
	if resp, err := c.DescribeAddressBook(q); err != nil || len(resp.Acls) != 1 || resp.Acls[0].GroupName != "web" {
		t.Errorf("ContainPort: %+v %v", resp, err)
	}
	q = cloudfw.CreateDescribeAddressBookRequest()
	q.PageSize, q.CurrentPage = "1", "2"
	if resp, err := c.DescribeAddressBook(q); err != nil || len(resp.Acls) != 1 || resp.Acls[0].GroupName != "web" || resp.TotalCount != "2" {
		t.Errorf("page 2: %+v %v", resp, err)
	}

	// In use: not deleted; renamed in the policies.
	del := cloudfw.CreateDeleteAddressBookRequest()
	del.GroupUuid = office
	before := env.Snapshot(t)
	_, err := c.DeleteAddressBook(del)
	if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation.AddressBook" {
		t.Errorf("delete in use: %d %s", st, code)
	}
	if !maps.Equal(before, env.Snapshot(t)) {
		t.Error("refused delete changed the store")
	}
	mod := cloudfw.CreateModifyAddressBookRequest()
	mod.GroupUuid, mod.GroupName, mod.AddressList, mod.Description = office, "hq", "192.0.2.0/25", "headquarters"
	if _, err := c.ModifyAddressBook(mod); err != nil {
		t.Fatal(err)
	}
	p := cfwList(t, c, "out")[0]
	if p.Destination != "hq" || !slices.Equal(p.DestinationGroupCidrs, []string{"192.0.2.0/25"}) {
		t.Errorf("policy after rename: %+v", p)
	}
	if got := list("ip"); len(got) != 1 || got[0].GroupName != "hq" || got[0].Description != "headquarters" {
		t.Errorf("after modify: %+v", got)
	}

	// Another account: sees nothing, cannot use alice's books by name.
	bob := env.NewAccount(t, "bob")
	bc := env.Cloudfw(t, bob)
	resp, err := bc.DescribeAddressBook(cloudfw.CreateDescribeAddressBookRequest())
	if err != nil || resp.TotalCount != "0" || len(resp.Acls) != 0 {
		t.Errorf("bob's books: %+v %v", resp, err)
	}
	breq := cfwPolicy("out", "1", "bob", "hq", "")
	breq.DestinationType = "group"
	_, err = bc.AddControlPolicy(breq)
	if st, code := apitest.ServerErr(t, err); st != 404 || code != "ResourceNotFound.AddressBook" {
		t.Errorf("bob uses alice's book: %d %s", st, code)
	}
	cfwAddBook(t, bc, "hq", "ip", "203.0.113.0/24") // the same name, his own

	// Unused, it goes.
	dp := cloudfw.CreateDeleteControlPolicyRequest()
	dp.AclUuid, dp.Direction = p.AclUuid, "out"
	if _, err := c.DeleteControlPolicy(dp); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{office, web} {
		del.GroupUuid = id
		if _, err := c.DeleteAddressBook(del); err != nil {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	if got := list(""); len(got) != 0 {
		t.Errorf("books left: %+v", got)
	}
}

func TestCloudfwSwitchSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	c := env.Cloudfw(t, alice)
	v := env.VPC(t, alice)
	n := newNet(t, env, alice, "10.0.0.0/16", "10.0.1.0/24")
	inst := runInstance(t, env.ECS(t, alice), n.vsw, n.sg, "10.0.1.10")
	id1, ip1 := allocateEIP(t, v)
	_, ip2 := allocateEIP(t, v)
	_, bobIP := allocateEIP(t, env.VPC(t, bob))
	as := vpc.CreateAssociateEipAddressRequest()
	as.AllocationId, as.InstanceId = id1, inst
	if _, err := v.AssociateEipAddress(as); err != nil {
		t.Fatal(err)
	}
	offKeys := func() []string {
		var out []string
		for k := range env.Snapshot(t) {
			if strings.HasPrefix(k, model.PrefixFirewallOff) {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	key := func(acct, ip string) string { return model.FirewallOffKey(acct, netip.MustParseAddr(ip)) }
	assets := func() map[string]cloudfw.Resource {
		t.Helper()
		resp, err := c.DescribeAssetList(cloudfw.CreateDescribeAssetListRequest())
		if err != nil {
			t.Fatalf("DescribeAssetList: %v", err)
		}
		out := map[string]cloudfw.Resource{}
		for _, r := range resp.Assets {
			out[r.InternetAddress] = r
		}
		if resp.TotalCount != len(out) {
			t.Errorf("TotalCount %d for %d assets", resp.TotalCount, len(out))
		}
		return out
	}
	a := assets()
	if len(a) != 2 || a[ip1].ProtectStatus != "open" || a[ip1].ResourceType != "EcsEIP" || a[ip1].BindInstanceId != inst ||
		a[ip1].IntranetAddress != "10.0.1.10" || a[ip1].ResourceInstanceId != id1 || a[ip1].IpVersion != 4 || a[ip1].RegionID != apitest.Region ||
		a[ip2].ResourceType != "EIP" || a[ip2].ProtectStatus != "open" {
		t.Errorf("assets: %+v", a)
	}

	off := cloudfw.CreatePutDisableFwSwitchRequest()
	off.IpaddrList = &[]string{ip1, ip2}
	if _, err := c.PutDisableFwSwitch(off); err != nil {
		t.Fatal(err)
	}
	if got, want := offKeys(), []string{key(alice.AccountID, ip1), key(alice.AccountID, ip2)}; !slices.Equal(got, want) {
		t.Errorf("off: %v, want %v", got, want)
	}
	if a := assets(); a[ip1].ProtectStatus != "closed" || a[ip2].ProtectStatus != "closed" {
		t.Errorf("after disable: %+v", a)
	}
	q := cloudfw.CreateDescribeAssetListRequest()
	q.Status, q.ResourceType = "closed", "EcsEIP"
	if resp, err := c.DescribeAssetList(q); err != nil || resp.TotalCount != 1 || resp.Assets[0].InternetAddress != ip1 {
		t.Errorf("filtered assets: %+v %v", resp, err)
	}
	on := cloudfw.CreatePutEnableFwSwitchRequest()
	on.IpaddrList = &[]string{ip2}
	if resp, err := c.PutEnableFwSwitch(on); err != nil || resp.AbnormalResourceStatusList == nil || len(resp.AbnormalResourceStatusList) != 0 {
		t.Fatalf("PutEnableFwSwitch: %+v %v", resp, err)
	}
	if got := offKeys(); !slices.Equal(got, []string{key(alice.AccountID, ip1)}) {
		t.Errorf("after enable: %v", got)
	}
	// Bob cannot touch alice's EIPs, nor alice bob's.
	before := env.Snapshot(t)
	bobOff := cloudfw.CreatePutDisableFwSwitchRequest()
	bobOff.IpaddrList = &[]string{ip2}
	_, err := env.Cloudfw(t, bob).PutDisableFwSwitch(bobOff)
	if st, code := apitest.ServerErr(t, err); st != 404 || code != "ResourceNotFound.Asset" {
		t.Errorf("bob on alice's EIP: %d %s", st, code)
	}
	off.IpaddrList = &[]string{ip2, bobIP}
	_, err = c.PutDisableFwSwitch(off)
	if st, code := apitest.ServerErr(t, err); st != 404 || code != "ResourceNotFound.Asset" {
		t.Errorf("alice on bob's EIP: %d %s", st, code)
	}
	if !maps.Equal(before, env.Snapshot(t)) {
		t.Error("refused switches changed the store")
	}

	// All: every EIP of the account.
	if _, err := c.PutDisableAllFwSwitch(cloudfw.CreatePutDisableAllFwSwitchRequest()); err != nil {
		t.Fatal(err)
	}
	if got := offKeys(); !slices.Equal(got, []string{key(alice.AccountID, ip1), key(alice.AccountID, ip2)}) {
		t.Errorf("after disable all: %v", got)
	}
	if _, err := c.PutEnableAllFwSwitch(cloudfw.CreatePutEnableAllFwSwitchRequest()); err != nil {
		t.Fatal(err)
	}
	if got := offKeys(); len(got) != 0 {
		t.Errorf("after enable all: %v", got)
	}
}

func TestCloudfwBadInputSDK(t *testing.T) {
	env := apitest.Start(t)
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	c := env.Cloudfw(t, alice)
	_, eip := allocateEIP(t, env.VPC(t, alice))
	_, bobEIP := allocateEIP(t, env.VPC(t, bob))
	office := cfwAddBook(t, c, "office", "ip", "192.0.2.0/24")
	cfwAddBook(t, c, "web", "port", "80")
	cfwAddBook(t, env.Cloudfw(t, bob), "bobs", "ip", "203.0.113.0/24")
	pol := cfwAdd(t, c, cfwPolicy("in", "1", "p", "0.0.0.0/0", "22"))
	used := cfwPolicy("in", "2", "uses office", "office", "")
	used.DestinationType = "group"
	cfwAdd(t, c, used)

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
		"Direction": "in", "NewOrder": "-1", "AclAction": "accept", "Proto": "TCP", "Source": "0.0.0.0/0", "SourceType": "net",
		"Destination": eip + "/32", "DestinationType": "net", "DestPortType": "port", "DestPort": "443", "ApplicationName": "ANY", "Description": "d",
	}
	mod := map[string]string{"AclUuid": pol, "Direction": "in"}
	book := map[string]string{"GroupName": "new", "GroupType": "ip", "AddressList": "10.0.0.0/8", "Description": "d"}
	const (
		addP    = "AddControlPolicy"
		modP    = "ModifyControlPolicy"
		addB    = "AddAddressBook"
		modB    = "ModifyAddressBook"
		disable = "PutDisableFwSwitch"
	)
	tests := []struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}{
		// AddControlPolicy.
		{"no direction", addP, alice, with(add, "Direction", ""), 400, "MissingParameter"},
		{"bad direction", addP, alice, with(add, "Direction", "both"), 400, "IllegalParam.Direction"},
		{"no order", addP, alice, with(add, "NewOrder", ""), 400, "MissingParameter"},
		{"order 0", addP, alice, with(add, "NewOrder", "0"), 400, "IllegalParam.NewOrder"},
		{"order past the end", addP, alice, with(add, "NewOrder", "4"), 400, "IllegalParam.NewOrder"},
		{"no action", addP, alice, with(add, "AclAction", ""), 400, "MissingParameter"},
		{"bad action", addP, alice, with(add, "AclAction", "allow"), 400, "IllegalParam.AclAction"},
		{"bad proto", addP, alice, with(add, "Proto", "SCTP"), 400, "IllegalParam.Proto"},
		{"no source", addP, alice, with(add, "Source", ""), 400, "MissingParameter"},
		{"bad cidr", addP, alice, with(add, "Source", "10.0.0.0/40"), 400, "IllegalParam.Source"},
		{"ipv6 destination", addP, alice, with(add, "Destination", "2001:db8::/64"), 400, "IllegalParam.Destination"},
		{"location", addP, alice, with(add, "SourceType", "location", "Source", "CN"), 400, "OperationUnsupported.SourceType"},
		{"domain in", addP, alice, with(add, "DestinationType", "domain", "Destination", "example.com"), 400, "OperationUnsupported.DestinationType"},
		{"domain source", addP, alice, with(add, "Direction", "out", "SourceType", "domain", "Source", "example.com"), 400, "OperationUnsupported.SourceType"},
		{"wildcard domain", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "*.example.com"), 400, "OperationUnsupported.Destination"},
		{"bad domain", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "example..com"), 400, "IllegalParam.Destination"},
		{"domain ip", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "192.0.2.1"), 400, "IllegalParam.Destination"},
		{"domain FQDN", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "0"), 400, "OperationUnsupported.DomainResolveType"},
		{"domain FQDN and DNS", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "2"), 400, "OperationUnsupported.DomainResolveType"},
		{"domain resolve type 9", addP, alice, with(add, "Direction", "out", "DestinationType", "domain", "Destination", "example.com", "DomainResolveType", "9"), 400, "IllegalParam.DomainResolveType"},
		{"modify in to a domain", modP, alice, with(mod, "DestinationType", "domain", "Destination", "example.com"), 400, "OperationUnsupported.DestinationType"},
		{"unknown book", addP, alice, with(add, "SourceType", "group", "Source", "nope"), 404, "ResourceNotFound.AddressBook"},
		{"bob's book", addP, alice, with(add, "SourceType", "group", "Source", "bobs"), 404, "ResourceNotFound.AddressBook"},
		{"port book as address", addP, alice, with(add, "SourceType", "group", "Source", "web"), 400, "IllegalParam.Source"},
		{"ip book as ports", addP, alice, with(add, "DestPortType", "group", "DestPort", "", "DestPortGroup", "office"), 400, "IllegalParam.DestPortGroup"},
		{"port group missing", addP, alice, with(add, "DestPortType", "group", "DestPort", ""), 400, "MissingParameter"},
		{"bad port", addP, alice, with(add, "DestPort", "80-88"), 400, "IllegalParam.DestPort"},
		{"reversed range", addP, alice, with(add, "DestPort", "88/80"), 400, "IllegalParam.DestPort"},
		{"icmp port", addP, alice, with(add, "Proto", "ICMP"), 400, "IllegalParam.DestPort"},
		{"any port", addP, alice, with(add, "Proto", "ANY"), 400, "IllegalParam.DestPort"},
		{"bad port type", addP, alice, with(add, "DestPortType", "range"), 400, "IllegalParam.DestPortType"},
		{"application", addP, alice, with(add, "ApplicationName", "HTTPS"), 400, "OperationUnsupported.ApplicationName"},
		{"application list", addP, alice, with(add, "ApplicationName", "", "ApplicationNameList.1", "ANY", "ApplicationNameList.2", "SSH"), 400, "OperationUnsupported.ApplicationName"},
		{"application list index 0", addP, alice, with(add, "ApplicationNameList.0", "ANY"), 400, "InvalidParameter"},
		{"ipv6", addP, alice, with(add, "IpVersion", "6"), 400, "OperationUnsupported.IpVersion"},
		{"bad release", addP, alice, with(add, "Release", "on"), 400, "IllegalParam.Release"},
		{"no description", addP, alice, with(add, "Description", ""), 400, "MissingParameter"},
		{"long description", addP, alice, with(add, "Description", strings.Repeat("d", 513)), 400, "IllegalParam.Description"},
		{"dry run", addP, alice, with(add, "DryRun", "true"), 400, "InvalidParameter"},
		// ModifyControlPolicy, DeleteControlPolicy, positions.
		{"modify no id", modP, alice, with(mod, "AclUuid", "", "AclAction", "drop"), 400, "MissingParameter"},
		{"modify no direction", modP, alice, with(mod, "Direction", "", "AclAction", "drop"), 400, "MissingParameter"},
		{"modify wrong direction", modP, alice, with(mod, "Direction", "out", "AclAction", "drop"), 404, "ResourceNotFound.ControlPolicy"},
		{"modify bob's", modP, bob, with(mod, "AclAction", "drop"), 404, "ResourceNotFound.ControlPolicy"},
		{"modify type only", modP, alice, with(mod, "SourceType", "group"), 400, "MissingParameter"},
		{"modify icmp port", modP, alice, with(mod, "Proto", "ICMP", "DestPort", "22"), 400, "IllegalParam.DestPort"},
		{"modify application", modP, alice, with(mod, "ApplicationName", "SSH"), 400, "OperationUnsupported.ApplicationName"},
		{"delete bob's", "DeleteControlPolicy", bob, mod, 404, "ResourceNotFound.ControlPolicy"},
		{"delete unknown", "DeleteControlPolicy", alice, with(mod, "AclUuid", "00000000-0000-4000-8000-000000000000"), 404, "ResourceNotFound.ControlPolicy"},
		{"delete no direction", "DeleteControlPolicy", alice, with(mod, "Direction", ""), 400, "MissingParameter"},
		{"move past the end", "ModifyControlPolicyPosition", alice, map[string]string{"Direction": "in", "OldOrder": "1", "NewOrder": "3"}, 400, "IllegalParam.NewOrder"},
		{"move old order past the end", "ModifyControlPolicyPosition", alice, map[string]string{"Direction": "in", "OldOrder": "3", "NewOrder": "1"}, 400, "IllegalParam.OldOrder"},
		{"move nothing", "ModifyControlPolicyPosition", alice, map[string]string{"Direction": "in", "NewOrder": "1"}, 400, "MissingParameter"},
		{"move bob's", "ModifyControlPolicyPosition", bob, map[string]string{"Direction": "in", "AclUuid": pol, "NewOrder": "1"}, 404, "ResourceNotFound.ControlPolicy"},
		{"move bob's by order", "ModifyControlPolicyPosition", bob, map[string]string{"Direction": "in", "OldOrder": "1", "NewOrder": "1"}, 400, "IllegalParam.OldOrder"},
		{"prior used no direction", "DescribePolicyPriorUsed", alice, nil, 400, "MissingParameter"},
		{"prior used ipv6", "DescribePolicyPriorUsed", alice, map[string]string{"Direction": "in", "IpVersion": "6"}, 400, "OperationUnsupported.IpVersion"},
		{"describe bad direction", "DescribeControlPolicy", alice, map[string]string{"Direction": "up"}, 400, "IllegalParam.Direction"},
		{"describe bad proto", "DescribeControlPolicy", alice, map[string]string{"Proto": "GRE"}, 400, "IllegalParam.Proto"},
		{"describe page size 101", "DescribeControlPolicy", alice, map[string]string{"PageSize": "101"}, 400, "InvalidParameter"},
		{"describe page 0", "DescribeControlPolicy", alice, map[string]string{"CurrentPage": "0"}, 400, "InvalidParameter"},
		// Address books.
		{"book no name", addB, alice, with(book, "GroupName", ""), 400, "MissingParameter"},
		{"book taken name", addB, alice, with(book, "GroupName", "office"), 400, "DuplicatedParam.GroupName"},
		{"book domain", addB, alice, with(book, "GroupType", "domain", "AddressList", "example.com"), 400, "OperationUnsupported.GroupType"},
		{"book tag", addB, alice, with(book, "GroupType", "tag", "TagList.1.TagKey", "env", "TagList.1.TagValue", "prod"), 400, "OperationUnsupported.GroupType"},
		{"book tags on ip", addB, alice, with(book, "TagList.1.TagKey", "env"), 400, "OperationUnsupported.TagList"},
		{"book auto add", addB, alice, with(book, "AutoAddTagEcs", "1"), 400, "OperationUnsupported.AutoAddTagEcs"},
		{"book bad type", addB, alice, with(book, "GroupType", "net"), 400, "IllegalParam.GroupType"},
		{"book no description", addB, alice, with(book, "Description", ""), 400, "MissingParameter"},
		{"book no entries", addB, alice, with(book, "AddressList", ""), 400, "MissingParameter"},
		{"book bad cidr", addB, alice, with(book, "AddressList", "10.0.0.0/8,10.0.0.0/99"), 400, "IllegalParam.AddressList"},
		{"book bad port", addB, alice, with(book, "GroupType", "port", "AddressList", "80,0"), 400, "IllegalParam.AddressList"},
		{"modify book bob's", modB, bob, map[string]string{"GroupUuid": office, "GroupName": "x"}, 404, "ResourceNotFound.AddressBook"},
		{"modify book taken name", modB, alice, map[string]string{"GroupUuid": office, "GroupName": "web"}, 400, "DuplicatedParam.GroupName"},
		{"modify book type", modB, alice, map[string]string{"GroupUuid": office, "GroupType": "port"}, 400, "IllegalParam.GroupType"},
		{"modify book bad entries", modB, alice, map[string]string{"GroupUuid": office, "AddressList": "80"}, 400, "IllegalParam.AddressList"},
		{"modify book no id", modB, alice, map[string]string{"GroupName": "x"}, 400, "MissingParameter"},
		{"delete book in use", "DeleteAddressBook", alice, map[string]string{"GroupUuid": office}, 403, "DependencyViolation.AddressBook"},
		{"delete bob's book", "DeleteAddressBook", bob, map[string]string{"GroupUuid": office}, 404, "ResourceNotFound.AddressBook"},
		{"describe books bad type", "DescribeAddressBook", alice, map[string]string{"GroupType": "net"}, 400, "IllegalParam.GroupType"},
		{"describe books bad port", "DescribeAddressBook", alice, map[string]string{"ContainPort": "99999"}, 400, "IllegalParam.ContainPort"},
		// Switches.
		{"switch nothing", disable, alice, nil, 400, "MissingParameter"},
		{"switch bob's", disable, alice, map[string]string{"IpaddrList.1": eip, "IpaddrList.2": bobEIP}, 404, "ResourceNotFound.Asset"},
		{"switch not an eip", disable, alice, map[string]string{"IpaddrList.1": "198.51.100.1"}, 404, "ResourceNotFound.Asset"},
		{"switch malformed", disable, alice, map[string]string{"IpaddrList.1": "eip"}, 400, "IllegalParam.IpaddrList"},
		{"switch index 0", disable, alice, map[string]string{"IpaddrList.0": eip}, 400, "InvalidParameter"},
		{"switch region list", disable, alice, map[string]string{"RegionList.1": "local"}, 400, "OperationUnsupported.RegionList"},
		{"switch type list", "PutEnableFwSwitch", alice, map[string]string{"ResourceTypeList.1": "EcsEIP", "IpaddrList.1": eip}, 400, "OperationUnsupported.ResourceTypeList"},
		{"assets member", "DescribeAssetList", alice, map[string]string{"MemberUid": "123"}, 400, "OperationUnsupported.MemberUid"},
		{"assets sg status", "DescribeAssetList", alice, map[string]string{"SgStatus": "pass"}, 400, "OperationUnsupported.SgStatus"},
		{"assets bad status", "DescribeAssetList", alice, map[string]string{"Status": "up"}, 400, "IllegalParam.Status"},
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
	// The message says what to fix.
	_, err := env.Common(t, alice, api.VersionCloudfw, addP, with(add, "ApplicationName", "HTTPS"))
	if err == nil || !strings.Contains(err.Error(), "DestPort") {
		t.Errorf("application message: %v", err)
	}
	_, err = env.Common(t, alice, api.VersionCloudfw, "DeleteAddressBook", map[string]string{"GroupUuid": office})
	if err == nil || !strings.Contains(err.Error(), "uses office") && !strings.Contains(err.Error(), "(in #2)") {
		t.Errorf("dependency message: %v", err)
	}
}
