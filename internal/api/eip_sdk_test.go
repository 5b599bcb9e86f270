package api_test

import (
	"maps"
	"net/netip"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
)

func allocateEIP(t *testing.T, c *vpc.Client) (id, addr string) {
	t.Helper()
	resp, err := c.AllocateEipAddress(vpc.CreateAllocateEipAddressRequest())
	if err != nil {
		t.Fatalf("AllocateEipAddress: %v", err)
	}
	return resp.AllocationId, resp.EipAddress
}

func describeEIP(t *testing.T, c *vpc.Client, id string) vpc.EipAddress {
	t.Helper()
	req := vpc.CreateDescribeEipAddressesRequest()
	req.AllocationId = id
	resp, err := c.DescribeEipAddresses(req)
	if err != nil || len(resp.EipAddresses.EipAddress) != 1 {
		t.Fatalf("DescribeEipAddresses %s: %v %+v", id, err, resp)
	}
	return resp.EipAddresses.EipAddress[0]
}

func TestEIPLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c, e := env.VPC(t, env.Admin), env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	inst := runInstance(t, e, n.vsw, n.sg, "10.0.1.10")

	id, addr := allocateEIP(t, c)
	a := netip.MustParseAddr(addr)
	if !netip.MustParsePrefix("198.18.0.0/15").Contains(a) || addr == "198.18.0.0" || addr == "198.18.0.1" {
		t.Fatalf("EIP %s is not a usable address of the default pool", addr)
	}
	id2, addr2 := allocateEIP(t, c)
	if addr2 == addr {
		t.Fatal("the same address was given out twice")
	}
	if got := describeEIP(t, c, id); got.Status != "Available" || got.IpAddress != addr || got.InstanceId != "" {
		t.Errorf("new EIP: %+v", got)
	}

	as := vpc.CreateAssociateEipAddressRequest()
	as.AllocationId, as.InstanceId = id, inst
	if _, err := c.AssociateEipAddress(as); err != nil {
		t.Fatal(err)
	}
	if got := describeEIP(t, c, id); got.Status != "InUse" || got.InstanceId != inst || got.InstanceType != "EcsInstance" || got.PrivateIpAddress != "10.0.1.10" {
		t.Errorf("associated EIP: %+v", got)
	}
	// A second EIP on the same private address is refused; a busy EIP too.
	as2 := vpc.CreateAssociateEipAddressRequest()
	as2.AllocationId, as2.InstanceId = id2, inst
	if _, err := c.AssociateEipAddress(as2); err == nil {
		t.Error("two EIPs on one private address")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidAssociation.Duplicated" {
		t.Errorf("duplicate association: %s", code)
	}
	if _, err := c.AssociateEipAddress(as); err == nil {
		t.Error("associating an InUse EIP succeeded")
	} else if _, code := apitest.ServerErr(t, err); code != "IncorrectEipStatus" {
		t.Errorf("busy EIP: %s", code)
	}
	rel := vpc.CreateReleaseEipAddressRequest()
	rel.AllocationId = id
	if _, err := c.ReleaseEipAddress(rel); err == nil {
		t.Error("released an associated EIP")
	}

	// To an ENI: by ID, with the NetworkInterface type.
	ce := ecs.CreateCreateNetworkInterfaceRequest()
	ce.VSwitchId, ce.SecurityGroupId = n.vsw, n.sg
	eni, err := e.CreateNetworkInterface(ce)
	if err != nil {
		t.Fatal(err)
	}
	as3 := vpc.CreateAssociateEipAddressRequest()
	as3.AllocationId, as3.InstanceId, as3.InstanceType = id2, eni.NetworkInterfaceId, "NetworkInterface"
	if _, err := c.AssociateEipAddress(as3); err != nil {
		t.Fatal(err)
	}
	if got := describeEIP(t, c, id2); got.InstanceType != "NetworkInterface" || got.PrivateIpAddress != eni.PrivateIpAddress {
		t.Errorf("ENI association: %+v", got)
	}
	// Deleting the ENI frees the EIP (the address stays allocated).
	dn := ecs.CreateDeleteNetworkInterfaceRequest()
	dn.NetworkInterfaceId = eni.NetworkInterfaceId
	if _, err := e.DeleteNetworkInterface(dn); err != nil {
		t.Fatal(err)
	}
	if got := describeEIP(t, c, id2); got.Status != "Available" || got.InstanceId != "" || got.IpAddress != addr2 {
		t.Errorf("EIP after its ENI was deleted: %+v", got)
	}

	mod := vpc.CreateModifyEipAddressAttributeRequest()
	mod.AllocationId, mod.Name, mod.Bandwidth = id, "web-ip", "100"
	if _, err := c.ModifyEipAddressAttribute(mod); err != nil {
		t.Fatal(err)
	}
	un := vpc.CreateUnassociateEipAddressRequest()
	un.AllocationId, un.InstanceId = id, inst
	if _, err := c.UnassociateEipAddress(un); err != nil {
		t.Fatal(err)
	}
	if got := describeEIP(t, c, id); got.Status != "Available" || got.Name != "web-ip" || got.Bandwidth != "100" {
		t.Errorf("after unassociate: %+v", got)
	}
	if _, err := c.ReleaseEipAddress(rel); err != nil {
		t.Fatal(err)
	}
	// The released address is handed out again.
	req := vpc.CreateAllocateEipAddressRequest()
	req.IpAddress = addr
	if r, err := c.AllocateEipAddress(req); err != nil || r.EipAddress != addr {
		t.Errorf("reallocating %s: %v %+v", addr, err, r)
	}
}

func TestEIPBadInputSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	inst := runInstance(t, env.ECS(t, env.Admin), n.vsw, n.sg, "10.0.1.10")
	id, addr := allocateEIP(t, c)
	tests := []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"bandwidth word", "AllocateEipAddress", map[string]string{"Bandwidth": "fast"}, 400, "InvalidBandwidth.Malformed"},
		{"bandwidth zero", "AllocateEipAddress", map[string]string{"Bandwidth": "0"}, 400, "InvalidBandwidth.Malformed"},
		{"charge type", "AllocateEipAddress", map[string]string{"InternetChargeType": "Free"}, 400, "InvalidInternetChargeType.ValueNotSupported"},
		{"address outside pool", "AllocateEipAddress", map[string]string{"IpAddress": "8.8.8.8"}, 400, "InvalidIpAddress.NotInPool"},
		{"gateway address", "AllocateEipAddress", map[string]string{"IpAddress": "198.18.0.1"}, 400, "InvalidIpAddress.NotInPool"},
		{"address taken", "AllocateEipAddress", map[string]string{"IpAddress": addr}, 400, "InvalidIpAddress.AlreadyAllocated"},
		{"associate unknown", "AssociateEipAddress", map[string]string{"AllocationId": "eip-nope", "InstanceId": inst}, 404, "InvalidAllocationId.NotFound"},
		{"associate no instance", "AssociateEipAddress", map[string]string{"AllocationId": id}, 400, "MissingParameter"},
		{"associate unknown instance", "AssociateEipAddress", map[string]string{"AllocationId": id, "InstanceId": "i-nope"}, 404, "InvalidInstanceId.NotFound"},
		{"associate bad type", "AssociateEipAddress", map[string]string{"AllocationId": id, "InstanceId": inst, "InstanceType": "SlbInstance"}, 400, "InvalidInstanceType.ValueNotSupported"},
		{"associate foreign ip", "AssociateEipAddress", map[string]string{"AllocationId": id, "InstanceId": inst, "PrivateIpAddress": "10.0.1.99"}, 400, "InvalidPrivateIpAddress.NotFound"},
		{"unassociate free", "UnassociateEipAddress", map[string]string{"AllocationId": id}, 403, "IncorrectEipStatus"},
		{"release unknown", "ReleaseEipAddress", map[string]string{"AllocationId": "eip-nope"}, 404, "InvalidAllocationId.NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, api.VersionVPC, tc.action, tc.params)
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
	bob := env.NewAccount(t, "bob")
	bn := newNet(t, env, bob, "10.0.0.0/16", "10.0.1.0/24")
	bobInst := runInstance(t, env.ECS(t, bob), bn.vsw, bn.sg, "10.0.1.10")
	// Alice's EIP to Bob's instance: Bob's instance does not exist for her.
	if _, err := env.Common(t, env.Admin, api.VersionVPC, "AssociateEipAddress", map[string]string{"AllocationId": id, "InstanceId": bobInst}); err == nil {
		t.Error("associated an EIP with another account's instance")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidInstanceId.NotFound" {
		t.Errorf("EIP to another account's instance: %s", code)
	}
	for action, params := range map[string]map[string]string{
		"AssociateEipAddress":       {"AllocationId": id, "InstanceId": inst},
		"ReleaseEipAddress":         {"AllocationId": id},
		"ModifyEipAddressAttribute": {"AllocationId": id, "Name": "x"},
	} {
		_, err := env.Common(t, bob, api.VersionVPC, action, params)
		if _, code := apitest.ServerErr(t, err); code != "InvalidAllocationId.NotFound" {
			t.Errorf("bob %s: %s", action, code)
		}
	}
	if l, err := env.Common(t, bob, api.VersionVPC, "DescribeEipAddresses", nil); err != nil || l["TotalCount"].(float64) != 0 {
		t.Errorf("bob lists EIPs: %v %v", err, l["TotalCount"])
	}
}
