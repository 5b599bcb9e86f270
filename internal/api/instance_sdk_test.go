package api_test

import (
	"maps"
	"strings"
	"testing"

	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/service"
)

// netFixture is a VPC with one vSwitch and one basic group, made through the API.
type netFixture struct {
	vpc, vsw, sg string
}

func newNet(t *testing.T, env *apitest.Env, c apitest.Creds, vpcCidr, vswCidr string) netFixture {
	t.Helper()
	v := env.VPC(t, c)
	id := createVPC(t, v, vpcCidr, "")
	return netFixture{vpc: id, vsw: createVSwitch(t, v, id, vswCidr), sg: createSG(t, env.ECS(t, c), id, "app", "")}
}

func runInstance(t *testing.T, c *ecs.Client, vsw, sg, ip string) string {
	t.Helper()
	req := ecs.CreateRunInstancesRequest()
	req.ImageId, req.InstanceType, req.VSwitchId, req.PrivateIpAddress = "ubuntu_24_04_x64", "ecs.g7.large", vsw, ip
	if sg != "" {
		req.SecurityGroupId = sg
	}
	resp, err := c.RunInstances(req)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	if len(resp.InstanceIdSets.InstanceIdSet) != 1 {
		t.Fatalf("RunInstances: %+v", resp.InstanceIdSets)
	}
	return resp.InstanceIdSets.InstanceIdSet[0]
}

func describeInstance(t *testing.T, c *ecs.Client, id string) ecs.Instance {
	t.Helper()
	req := ecs.CreateDescribeInstancesRequest()
	req.InstanceIds = `["` + id + `"]`
	resp, err := c.DescribeInstances(req)
	if err != nil || len(resp.Instances.Instance) != 1 {
		t.Fatalf("DescribeInstances %s: %v %+v", id, err, resp)
	}
	return resp.Instances.Instance[0]
}

func describeENI(t *testing.T, c *ecs.Client, id string) ecs.NetworkInterfaceSet {
	t.Helper()
	req := ecs.CreateDescribeNetworkInterfacesRequest()
	req.NetworkInterfaceId = &[]string{id}
	resp, err := c.DescribeNetworkInterfaces(req)
	if err != nil || len(resp.NetworkInterfaceSets.NetworkInterfaceSet) != 1 {
		t.Fatalf("DescribeNetworkInterfaces %s: %v %+v", id, err, resp)
	}
	return resp.NetworkInterfaceSets.NetworkInterfaceSet[0]
}

func TestInstanceLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "192.168.0.0/16", "192.168.1.0/24")

	// Automatic addresses start after the network address; an explicit one is kept.
	a := runInstance(t, c, n.vsw, n.sg, "")
	b := runInstance(t, c, n.vsw, n.sg, "192.168.1.50")
	ia := describeInstance(t, c, a)
	if ia.Status != "Running" || ia.VpcAttributes.VpcId != n.vpc || ia.VpcAttributes.VSwitchId != n.vsw ||
		len(ia.VpcAttributes.PrivateIpAddress.IpAddress) != 1 || ia.VpcAttributes.PrivateIpAddress.IpAddress[0] != "192.168.1.1" ||
		ia.ImageId != "ubuntu_24_04_x64" || ia.InstanceType != "ecs.g7.large" || ia.ZoneId != "local-a" ||
		len(ia.SecurityGroupIds.SecurityGroupId) != 1 || ia.SecurityGroupIds.SecurityGroupId[0] != n.sg ||
		len(ia.NetworkInterfaces.NetworkInterface) != 1 || ia.NetworkInterfaces.NetworkInterface[0].Type != "Primary" {
		t.Errorf("instance a: %+v", ia)
	}
	if ib := describeInstance(t, c, b); ib.VpcAttributes.PrivateIpAddress.IpAddress[0] != "192.168.1.50" {
		t.Errorf("instance b address %v", ib.VpcAttributes.PrivateIpAddress.IpAddress)
	}
	primary := ia.NetworkInterfaces.NetworkInterface[0].NetworkInterfaceId
	if e := describeENI(t, c, primary); e.Status != "InUse" || e.InstanceId != a || !strings.HasPrefix(e.MacAddress, "00:16:3e:") {
		t.Errorf("primary ENI: %+v", e)
	}
	// The group now counts two members.
	g := ecs.CreateDescribeSecurityGroupsRequest()
	g.SecurityGroupId = n.sg
	if gr, err := c.DescribeSecurityGroups(g); err != nil || gr.SecurityGroups.SecurityGroup[0].EcsCount != 2 {
		t.Errorf("EcsCount: %v %+v", err, gr)
	}

	// A secondary ENI: create, assign addresses, attach, join a second group, detach, delete.
	sg2 := createSG(t, c, n.vpc, "extra", "")
	ce := ecs.CreateCreateNetworkInterfaceRequest()
	ce.VSwitchId, ce.SecurityGroupIds, ce.NetworkInterfaceName = n.vsw, &[]string{n.sg}, "data"
	ce.PrivateIpAddress = &[]string{"192.168.1.100"}
	created, err := c.CreateNetworkInterface(ce)
	if err != nil {
		t.Fatal(err)
	}
	eni := created.NetworkInterfaceId
	if created.Status != "Available" || created.VpcId != n.vpc || created.PrivateIpAddress == "" ||
		len(created.PrivateIpSets.PrivateIpSet) != 2 || created.SecurityGroupIds.SecurityGroupId[0] != n.sg {
		t.Errorf("CreateNetworkInterface: %+v", created)
	}
	as := ecs.CreateAssignPrivateIpAddressesRequest()
	as.NetworkInterfaceId, as.SecondaryPrivateIpAddressCount = eni, requests.NewInteger(2)
	assigned, err := c.AssignPrivateIpAddresses(as)
	if err != nil || len(assigned.AssignedPrivateIpAddressesSet.PrivateIpSet.PrivateIpAddress) != 2 {
		t.Fatalf("AssignPrivateIpAddresses: %v %+v", err, assigned)
	}
	un := ecs.CreateUnassignPrivateIpAddressesRequest()
	un.NetworkInterfaceId, un.PrivateIpAddress = eni, &[]string{"192.168.1.100"}
	if _, err := c.UnassignPrivateIpAddresses(un); err != nil {
		t.Fatal(err)
	}
	if e := describeENI(t, c, eni); len(e.PrivateIpSets.PrivateIpSet) != 3 {
		t.Errorf("after assign 2 / unassign 1: %+v", e.PrivateIpSets)
	}
	at := ecs.CreateAttachNetworkInterfaceRequest()
	at.NetworkInterfaceId, at.InstanceId = eni, a
	if _, err := c.AttachNetworkInterface(at); err != nil {
		t.Fatal(err)
	}
	if e := describeENI(t, c, eni); e.Status != "InUse" || e.Attachment.InstanceId != a || e.Attachment.DeviceIndex != 1 {
		t.Errorf("attached ENI: %+v", e)
	}
	join := ecs.CreateJoinSecurityGroupRequest()
	join.SecurityGroupId, join.NetworkInterfaceId = sg2, eni
	if _, err := c.JoinSecurityGroup(join); err != nil {
		t.Fatal(err)
	}
	// Join by instance: the primary ENI joins.
	joinI := ecs.CreateJoinSecurityGroupRequest()
	joinI.SecurityGroupId, joinI.InstanceId = sg2, a
	if _, err := c.JoinSecurityGroup(joinI); err != nil {
		t.Fatal(err)
	}
	if ia := describeInstance(t, c, a); len(ia.SecurityGroupIds.SecurityGroupId) != 2 || len(ia.NetworkInterfaces.NetworkInterface) != 2 {
		t.Errorf("after join: %+v", ia)
	}
	leave := ecs.CreateLeaveSecurityGroupRequest()
	leave.SecurityGroupId, leave.InstanceId = n.sg, a
	if _, err := c.LeaveSecurityGroup(leave); err != nil {
		t.Fatal(err)
	}
	list := ecs.CreateDescribeInstancesRequest()
	list.SecurityGroupId = sg2
	if l, err := c.DescribeInstances(list); err != nil || l.TotalCount != 1 || l.Instances.Instance[0].InstanceId != a {
		t.Errorf("filter by group: %v %+v", err, l)
	}
	mod := ecs.CreateModifyNetworkInterfaceAttributeRequest()
	mod.NetworkInterfaceId, mod.SecurityGroupId, mod.NetworkInterfaceName = eni, &[]string{n.sg}, "renamed"
	if _, err := c.ModifyNetworkInterfaceAttribute(mod); err != nil {
		t.Fatal(err)
	}
	if e := describeENI(t, c, eni); e.NetworkInterfaceName != "renamed" || len(e.SecurityGroupIds.SecurityGroupId) != 1 || e.SecurityGroupIds.SecurityGroupId[0] != n.sg {
		t.Errorf("after modify: %+v", e)
	}
	de := ecs.CreateDetachNetworkInterfaceRequest()
	de.NetworkInterfaceId, de.InstanceId = eni, a
	if _, err := c.DetachNetworkInterface(de); err != nil {
		t.Fatal(err)
	}

	// A running instance is deleted only with Force; its primary ENI and
	// addresses go with it; StopInstance allows the plain delete.
	del := ecs.CreateDeleteInstanceRequest()
	del.InstanceId = a
	if _, err := c.DeleteInstance(del); err == nil {
		t.Fatal("DeleteInstance of a running instance without Force succeeded")
	} else if st, code := apitest.ServerErr(t, err); code != "IncorrectInstanceStatus" || st != 403 {
		t.Errorf("delete running: %d %s", st, code)
	}
	del.Force = requests.NewBoolean(true)
	if _, err := c.DeleteInstance(del); err != nil {
		t.Fatal(err)
	}
	stop := ecs.CreateStopInstanceRequest()
	stop.InstanceId = b
	if _, err := c.StopInstance(stop); err != nil {
		t.Fatal(err)
	}
	delB := ecs.CreateDeleteInstanceRequest()
	delB.InstanceId = b
	if _, err := c.DeleteInstance(delB); err != nil {
		t.Fatal(err)
	}
	dn := ecs.CreateDeleteNetworkInterfaceRequest()
	dn.NetworkInterfaceId = eni
	if _, err := c.DeleteNetworkInterface(dn); err != nil {
		t.Fatal(err)
	}
	for k := range env.Snapshot(t) {
		if strings.HasPrefix(k, "ipam/") || strings.HasPrefix(k, "eni/") || strings.HasPrefix(k, "instance/") || strings.HasPrefix(k, "member/") {
			t.Errorf("left behind after deleting everything: %s", k)
		}
	}
	// The freed address is handed out again.
	if c2 := runInstance(t, c, n.vsw, n.sg, ""); describeInstance(t, c, c2).VpcAttributes.PrivateIpAddress.IpAddress[0] != "192.168.1.1" {
		t.Error("freed address 192.168.1.1 not reused")
	}
}

func TestRunInstancesDefaultGroupAndAmountSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	v := env.VPC(t, env.Admin)
	vpcID := createVPC(t, v, "10.0.0.0/16", "")
	small := createVSwitch(t, v, vpcID, "10.0.0.0/29") // 8 addresses, 4 usable
	big := createVSwitch(t, v, vpcID, "10.0.1.0/24")

	// No group: the VPC's default group is made, with its three rules.
	id := runInstance(t, c, big, "", "")
	inst := describeInstance(t, c, id)
	if len(inst.SecurityGroupIds.SecurityGroupId) != 1 {
		t.Fatalf("default group: %+v", inst.SecurityGroupIds)
	}
	attr := sgAttr(t, c, inst.SecurityGroupIds.SecurityGroupId[0])
	if len(attr.Permissions.Permission) != 3 || attr.InnerAccessPolicy != "Accept" {
		t.Errorf("default group rules: %+v", attr.Permissions)
	}
	// A second launch reuses it.
	if id2 := runInstance(t, c, big, "", ""); describeInstance(t, c, id2).SecurityGroupIds.SecurityGroupId[0] != inst.SecurityGroupIds.SecurityGroupId[0] {
		t.Error("second launch made another default group")
	}

	// Amount 5 in a vSwitch with 4 free addresses: nothing is created.
	before := env.Snapshot(t)
	req := ecs.CreateRunInstancesRequest()
	req.ImageId, req.InstanceType, req.VSwitchId, req.Amount = "img", "t", small, requests.NewInteger(5)
	if _, err := c.RunInstances(req); err == nil {
		t.Fatal("RunInstances beyond the vSwitch's addresses succeeded")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidVSwitchId.IpNotEnough" {
		t.Errorf("exhausted vSwitch: %s", code)
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("a failed RunInstances left records behind")
	}
	req.Amount = requests.NewInteger(4)
	resp, err := c.RunInstances(req)
	if err != nil || len(resp.InstanceIdSets.InstanceIdSet) != 4 {
		t.Fatalf("Amount 4: %v %+v", err, resp)
	}
	got := map[string]bool{}
	for _, id := range resp.InstanceIdSets.InstanceIdSet {
		got[describeInstance(t, c, id).VpcAttributes.PrivateIpAddress.IpAddress[0]] = true
	}
	for _, want := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		if !got[want] {
			t.Errorf("Amount 4 addresses %v, missing %s (reserved .5-.7 must be skipped)", got, want)
		}
	}

	// A secondary ENI at launch through NetworkInterface.N.
	multi := ecs.CreateRunInstancesRequest()
	multi.ImageId, multi.InstanceType = "img", "t"
	multi.NetworkInterface = &[]ecs.RunInstancesNetworkInterface{
		{VSwitchId: big, PrimaryIpAddress: "10.0.1.77"},
		{VSwitchId: big, NetworkInterfaceName: "second"},
	}
	mr, err := c.RunInstances(multi)
	if err != nil {
		t.Fatal(err)
	}
	mi := describeInstance(t, c, mr.InstanceIdSets.InstanceIdSet[0])
	if len(mi.NetworkInterfaces.NetworkInterface) != 2 || mi.NetworkInterfaces.NetworkInterface[0].PrimaryIpAddress != "10.0.1.77" ||
		mi.NetworkInterfaces.NetworkInterface[1].Type != "Secondary" {
		t.Errorf("multi-ENI launch: %+v", mi.NetworkInterfaces)
	}

	// ClientToken: a replay returns the same instance.
	tok := ecs.CreateRunInstancesRequest()
	tok.ImageId, tok.InstanceType, tok.VSwitchId, tok.ClientToken = "img", "t", big, "tok-1"
	r1, err := c.RunInstances(tok)
	if err != nil {
		t.Fatal(err)
	}
	tok2 := ecs.CreateRunInstancesRequest()
	tok2.ImageId, tok2.InstanceType, tok2.VSwitchId, tok2.ClientToken = "img", "t", big, "tok-1"
	r2, err := c.RunInstances(tok2)
	if err != nil || r2.InstanceIdSets.InstanceIdSet[0] != r1.InstanceIdSets.InstanceIdSet[0] {
		t.Errorf("ClientToken replay: %v %v %v", err, r1.InstanceIdSets, r2.InstanceIdSets)
	}
	// The same token with other parameters is refused, not replayed.
	tok3 := ecs.CreateRunInstancesRequest()
	tok3.ImageId, tok3.InstanceType, tok3.VSwitchId, tok3.ClientToken, tok3.InstanceName = "img", "t", big, "tok-1", "other"
	if _, err := c.RunInstances(tok3); err == nil {
		t.Error("ClientToken reused with another InstanceName: accepted")
	} else if _, code := apitest.ServerErr(t, err); code != "IdempotentParameterMismatch" {
		t.Errorf("ClientToken reused with another InstanceName: %v, want IdempotentParameterMismatch", err)
	}

	// Token paging over the instances.
	seen := map[string]bool{}
	page := ecs.CreateDescribeInstancesRequest()
	page.MaxResults = requests.NewInteger(3)
	for {
		l, err := c.DescribeInstances(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range l.Instances.Instance {
			seen[i.InstanceId] = true
		}
		if l.NextToken == "" {
			break
		}
		page.NextToken = l.NextToken
	}
	if len(seen) != 8 {
		t.Errorf("token paging saw %d instances, want 8", len(seen))
	}
}

func TestInstanceBadInputSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.PrivateIPsPerENI = 3
	q.ENIsPerInstance = 2
	env := apitest.Start(t, apitest.WithQuotas(q))
	c := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "192.168.0.0/16", "192.168.1.0/24")
	other := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	adv := createSG(t, c, n.vpc, "adv", "enterprise")
	inst := runInstance(t, c, n.vsw, n.sg, "192.168.1.10")
	primary := describeInstance(t, c, inst).NetworkInterfaces.NetworkInterface[0].NetworkInterfaceId
	ce := ecs.CreateCreateNetworkInterfaceRequest()
	ce.VSwitchId, ce.SecurityGroupId = n.vsw, n.sg
	free, err := c.CreateNetworkInterface(ce)
	if err != nil {
		t.Fatal(err)
	}
	attached, err := c.CreateNetworkInterface(ce)
	if err != nil {
		t.Fatal(err)
	}
	at := ecs.CreateAttachNetworkInterfaceRequest()
	at.NetworkInterfaceId, at.InstanceId = attached.NetworkInterfaceId, inst
	if _, err := c.AttachNetworkInterface(at); err != nil {
		t.Fatal(err)
	}

	run := func(extra map[string]string) map[string]string {
		m := map[string]string{"ImageId": "img", "InstanceType": "t", "VSwitchId": n.vsw, "SecurityGroupId": n.sg}
		maps.Copy(m, extra)
		for k, v := range m {
			if v == "" {
				delete(m, k)
			}
		}
		return m
	}
	tests := []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"run no image", "RunInstances", run(map[string]string{"ImageId": ""}), 400, "MissingParameter"},
		{"run no type", "RunInstances", run(map[string]string{"InstanceType": ""}), 400, "MissingParameter"},
		{"run no vswitch", "RunInstances", run(map[string]string{"VSwitchId": ""}), 400, "MissingParameter"},
		{"run unknown vswitch", "RunInstances", run(map[string]string{"VSwitchId": "vsw-nope"}), 404, "InvalidVSwitchId.NotFound"},
		{"run unknown group", "RunInstances", run(map[string]string{"SecurityGroupId": "sg-nope"}), 404, "InvalidSecurityGroupId.NotFound"},
		{"run group of other vpc", "RunInstances", run(map[string]string{"SecurityGroupId": other.sg}), 400, "InvalidSecurityGroupId.VPCMismatch"},
		{"run mixed group types", "RunInstances", run(map[string]string{"SecurityGroupIds.1": adv}), 400, "InvalidSecurityGroupType.Mixed"},
		{"run amount zero", "RunInstances", run(map[string]string{"Amount": "0"}), 400, "InvalidParameter"},
		{"run amount huge", "RunInstances", run(map[string]string{"Amount": "101"}), 400, "InvalidParameter"},
		{"run amount word", "RunInstances", run(map[string]string{"Amount": "two"}), 400, "InvalidParameter"},
		{"run ip duplicate", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.10"}), 400, "InvalidPrivateIpAddress.Duplicated"},
		{"run ip outside", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.2.10"}), 400, "InvalidPrivateIpAddress.Mismatch"},
		{"run ip gateway", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.253"}), 400, "InvalidPrivateIpAddress.Reserved"},
		{"run ip network", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.0"}), 400, "InvalidPrivateIpAddress.Reserved"},
		{"run ip garbage", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.x"}), 400, "InvalidPrivateIpAddress.Malformed"},
		{"run ip with amount", "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.20", "Amount": "2"}), 400, "InvalidParameter"},
		{"run zone mismatch", "RunInstances", run(map[string]string{"ZoneId": "local-b"}), 400, "InvalidVSwitchId.ZoneMismatch"},
		{"run ipv6 without v6 vswitch", "RunInstances", run(map[string]string{"Ipv6AddressCount": "1"}), 400, "InvalidVSwitchId.Ipv6NotTurnOn"},
		{"describe bad ids", "DescribeInstances", map[string]string{"InstanceIds": `["i-1",`}, 400, "InvalidParameter"},
		{"describe page size", "DescribeInstances", map[string]string{"PageSize": "101"}, 400, "InvalidParameter"},
		{"delete unknown", "DeleteInstance", map[string]string{"InstanceId": "i-nope"}, 404, "InvalidInstanceId.NotFound"},
		{"delete running", "DeleteInstance", map[string]string{"InstanceId": inst}, 403, "IncorrectInstanceStatus"},
		{"delete bad force", "DeleteInstance", map[string]string{"InstanceId": inst, "Force": "sure"}, 400, "InvalidParameter"},
		// Dry runs check and change nothing (the table checks the store).
		{"delete dry run", "DeleteInstance", map[string]string{"InstanceId": inst, "Force": "true", "DryRun": "true"}, 400, "DryRunOperation"},
		{"delete dry run running", "DeleteInstance", map[string]string{"InstanceId": inst, "DryRun": "true"}, 403, "IncorrectInstanceStatus"},
		{"delete many dry run", "DeleteInstances", map[string]string{"InstanceId.1": inst, "Force": "true", "DryRun": "true"}, 400, "DryRunOperation"},
		{"stop dry run", "StopInstance", map[string]string{"InstanceId": inst, "DryRun": "true"}, 400, "DryRunOperation"},
		{"start dry run running", "StartInstance", map[string]string{"InstanceId": inst, "DryRun": "true"}, 403, "IncorrectInstanceStatus"},
		// An action without a dry run refuses one rather than running.
		{"authorize dry run", "AuthorizeSecurityGroup", map[string]string{"SecurityGroupId": n.sg, "IpProtocol": "tcp", "PortRange": "22/22", "SourceCidrIp": "0.0.0.0/0", "DryRun": "true"}, 400, "InvalidParameter"},
		{"modify policy dry run", "ModifySecurityGroupPolicy", map[string]string{"SecurityGroupId": n.sg, "InnerAccessPolicy": "Drop", "DryRun": "true"}, 400, "InvalidParameter"},
		{"eni no vswitch", "CreateNetworkInterface", map[string]string{"SecurityGroupId": n.sg}, 400, "MissingParameter"},
		{"eni no group", "CreateNetworkInterface", map[string]string{"VSwitchId": n.vsw}, 400, "MissingParameter"},
		{"eni too many ips", "CreateNetworkInterface", map[string]string{"VSwitchId": n.vsw, "SecurityGroupId": n.sg, "SecondaryPrivateIpAddressCount": "3"}, 403, "QuotaExceed.PrivateIpAddress"},
		{"eni duplicate ip", "CreateNetworkInterface", map[string]string{"VSwitchId": n.vsw, "SecurityGroupId": n.sg, "PrimaryIpAddress": "192.168.1.10"}, 400, "InvalidPrivateIpAddress.Duplicated"},
		{"eni same group twice", "CreateNetworkInterface", map[string]string{"VSwitchId": n.vsw, "SecurityGroupIds.1": n.sg, "SecurityGroupIds.2": n.sg}, 400, "InvalidParameter"},
		{"delete attached eni", "DeleteNetworkInterface", map[string]string{"NetworkInterfaceId": attached.NetworkInterfaceId}, 403, "InvalidOperation.InvalidEniState"},
		{"delete unknown eni", "DeleteNetworkInterface", map[string]string{"NetworkInterfaceId": "eni-nope"}, 404, "InvalidEniId.NotFound"},
		{"attach twice", "AttachNetworkInterface", map[string]string{"NetworkInterfaceId": attached.NetworkInterfaceId, "InstanceId": inst}, 403, "InvalidOperation.InvalidEniState"},
		{"attach over quota", "AttachNetworkInterface", map[string]string{"NetworkInterfaceId": free.NetworkInterfaceId, "InstanceId": inst}, 403, "QuotaExceed.NetworkInterface"},
		{"attach missing instance", "AttachNetworkInterface", map[string]string{"NetworkInterfaceId": free.NetworkInterfaceId}, 400, "MissingParameter"},
		{"detach primary", "DetachNetworkInterface", map[string]string{"NetworkInterfaceId": primary, "InstanceId": inst}, 403, "InvalidOperation.DetachPrimaryEniNotAllowed"},
		{"detach not attached", "DetachNetworkInterface", map[string]string{"NetworkInterfaceId": free.NetworkInterfaceId, "InstanceId": inst}, 403, "InvalidOperation.InvalidEniState"},
		{"assign over quota", "AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": primary, "SecondaryPrivateIpAddressCount": "3"}, 403, "QuotaExceed.PrivateIpAddress"},
		{"assign nothing", "AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": primary}, 400, "MissingParameter"},
		{"assign taken", "AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": free.NetworkInterfaceId, "PrivateIpAddress.1": "192.168.1.10"}, 400, "InvalidPrivateIpAddress.Duplicated"},
		{"unassign primary", "UnassignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": primary, "PrivateIpAddress.1": "192.168.1.10"}, 403, "InvalidOperation.UnassignPrimaryIp"},
		{"unassign absent", "UnassignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": primary, "PrivateIpAddress.1": "192.168.1.99"}, 404, "InvalidPrivateIpAddress.NotFound"},
		{"join twice", "JoinSecurityGroup", map[string]string{"SecurityGroupId": n.sg, "InstanceId": inst}, 400, "InvalidSecurityGroupId.AlreadyJoined"},
		{"join other vpc", "JoinSecurityGroup", map[string]string{"SecurityGroupId": other.sg, "InstanceId": inst}, 400, "InvalidSecurityGroupId.VPCMismatch"},
		{"join mixed types", "JoinSecurityGroup", map[string]string{"SecurityGroupId": adv, "InstanceId": inst}, 400, "InvalidSecurityGroupType.Mixed"},
		{"join no target", "JoinSecurityGroup", map[string]string{"SecurityGroupId": n.sg}, 400, "MissingParameter"},
		{"leave last group", "LeaveSecurityGroup", map[string]string{"SecurityGroupId": n.sg, "InstanceId": inst}, 403, "InvalidOperation.LastSecurityGroup"},
		{"leave not member", "LeaveSecurityGroup", map[string]string{"SecurityGroupId": adv, "InstanceId": inst}, 400, "InvalidSecurityGroupId.NotJoined"},
		{"modify eni unknown group", "ModifyNetworkInterfaceAttribute", map[string]string{"NetworkInterfaceId": primary, "SecurityGroupId.1": "sg-nope"}, 404, "InvalidSecurityGroupId.NotFound"},
		{"delete group in use", "DeleteSecurityGroup", map[string]string{"SecurityGroupId": n.sg}, 403, "DependencyViolation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Snapshot(t)
			_, err := env.Common(t, env.Admin, api.VersionECS, tc.action, tc.params)
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
	// Messages name the parameter the caller sent.
	if _, err := env.Common(t, env.Admin, api.VersionECS, "RunInstances", run(map[string]string{"PrivateIpAddress": "192.168.1.x"})); err == nil || !strings.Contains(err.Error(), "PrivateIpAddress") {
		t.Errorf("RunInstances with a malformed PrivateIpAddress: %v, want the message to name PrivateIpAddress", err)
	}
	// A vSwitch holding instances cannot be deleted.
	_, err = env.Common(t, env.Admin, api.VersionVPC, "DeleteVSwitch", map[string]string{"VSwitchId": n.vsw})
	if _, code := apitest.ServerErr(t, err); code != "DependencyViolation" {
		t.Errorf("DeleteVSwitch in use: %v", err)
	}
}

func TestInstanceTenantIsolationSDK(t *testing.T) {
	env := apitest.Start(t)
	alice := env.ECS(t, env.Admin)
	bobCreds := env.NewAccount(t, "bob")
	bob := env.ECS(t, bobCreds)
	an := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	bn := newNet(t, env, bobCreds, "10.0.0.0/16", "10.0.1.0/24")
	ai := runInstance(t, alice, an.vsw, an.sg, "10.0.1.5")
	// Bob may use the same address in his own VPC.
	bi := runInstance(t, bob, bn.vsw, bn.sg, "10.0.1.5")
	aeni := describeInstance(t, alice, ai).NetworkInterfaces.NetworkInterface[0].NetworkInterfaceId

	if l, err := bob.DescribeInstances(ecs.CreateDescribeInstancesRequest()); err != nil || l.TotalCount != 1 || l.Instances.Instance[0].InstanceId != bi {
		t.Errorf("bob lists instances: %v %+v", err, l)
	}
	if l, err := bob.DescribeNetworkInterfaces(ecs.CreateDescribeNetworkInterfacesRequest()); err != nil || l.TotalCount != 1 {
		t.Errorf("bob lists ENIs: %v %+v", err, l)
	}
	before := env.Snapshot(t)
	calls := []struct {
		action string
		params map[string]string
		code   string
	}{
		{"RunInstances", map[string]string{"ImageId": "x", "InstanceType": "t", "VSwitchId": an.vsw}, "InvalidVSwitchId.NotFound"},
		{"RunInstances", map[string]string{"ImageId": "x", "InstanceType": "t", "VSwitchId": bn.vsw, "SecurityGroupId": an.sg}, "InvalidSecurityGroupId.NotFound"},
		{"DeleteInstance", map[string]string{"InstanceId": ai, "Force": "true"}, "InvalidInstanceId.NotFound"},
		{"StopInstance", map[string]string{"InstanceId": ai}, "InvalidInstanceId.NotFound"},
		{"DescribeInstanceAttribute", map[string]string{"InstanceId": ai}, "InvalidInstanceId.NotFound"},
		{"CreateNetworkInterface", map[string]string{"VSwitchId": an.vsw, "SecurityGroupId": an.sg}, "InvalidVSwitchId.NotFound"},
		{"DeleteNetworkInterface", map[string]string{"NetworkInterfaceId": aeni}, "InvalidEniId.NotFound"},
		{"ModifyNetworkInterfaceAttribute", map[string]string{"NetworkInterfaceId": aeni, "NetworkInterfaceName": "x"}, "InvalidEniId.NotFound"},
		{"AssignPrivateIpAddresses", map[string]string{"NetworkInterfaceId": aeni, "SecondaryPrivateIpAddressCount": "1"}, "InvalidEniId.NotFound"},
		{"AttachNetworkInterface", map[string]string{"NetworkInterfaceId": aeni, "InstanceId": bi}, "InvalidEniId.NotFound"},
		{"JoinSecurityGroup", map[string]string{"SecurityGroupId": bn.sg, "InstanceId": ai}, "InvalidInstanceId.NotFound"},
		{"JoinSecurityGroup", map[string]string{"SecurityGroupId": an.sg, "InstanceId": bi}, "InvalidSecurityGroupId.NotFound"},
		{"LeaveSecurityGroup", map[string]string{"SecurityGroupId": an.sg, "NetworkInterfaceId": aeni}, "InvalidEniId.NotFound"},
	}
	for _, c := range calls {
		_, err := env.Common(t, bobCreds, api.VersionECS, c.action, c.params)
		if _, code := apitest.ServerErr(t, err); code != c.code {
			t.Errorf("bob %s %v: %s, want %s", c.action, c.params, code, c.code)
		}
	}
	if after := env.Snapshot(t); !maps.Equal(before, after) {
		t.Error("bob's calls changed the store")
	}
}

func TestInstanceV2SDK(t *testing.T) {
	env := apitest.Start(t)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	c := env.ECSV2(t, env.Admin)
	run, err := c.RunInstances(&ecsv2.RunInstancesRequest{
		RegionId: dara.String(apitest.Region), ImageId: dara.String("img"), InstanceType: dara.String("t"),
		VSwitchId: dara.String(n.vsw), SecurityGroupIds: []*string{dara.String(n.sg)}, Amount: dara.Int32(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := run.Body.InstanceIdSets.InstanceIdSet
	if len(ids) != 2 {
		t.Fatalf("V2 RunInstances: %+v", run.Body)
	}
	desc, err := c.DescribeInstances(&ecsv2.DescribeInstancesRequest{
		RegionId: dara.String(apitest.Region), InstanceIds: dara.String(`["` + dara.StringValue(ids[0]) + `"]`),
	})
	if err != nil {
		t.Fatal(err)
	}
	inst := desc.Body.Instances.Instance
	if len(inst) != 1 || dara.StringValue(inst[0].Status) != "Running" || dara.StringValue(inst[0].VpcAttributes.VSwitchId) != n.vsw {
		t.Errorf("V2 DescribeInstances: %+v", desc.Body)
	}
	eni, err := c.DescribeNetworkInterfaces(&ecsv2.DescribeNetworkInterfacesRequest{
		RegionId: dara.String(apitest.Region), InstanceId: ids[1],
	})
	if err != nil {
		t.Fatal(err)
	}
	if sets := eni.Body.NetworkInterfaceSets.NetworkInterfaceSet; len(sets) != 1 || dara.StringValue(sets[0].Type) != "Primary" {
		t.Errorf("V2 DescribeNetworkInterfaces: %+v", eni.Body)
	}
	if _, err := c.DeleteInstance(&ecsv2.DeleteInstanceRequest{InstanceId: ids[0], Force: dara.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

// TestInstanceStateTransitionsSDK walks one instance through StopInstance,
// StartInstance and DeleteInstance in every state, dry runs included: as in
// the cloud, stopping needs Running, starting needs Stopped and a plain
// delete needs Stopped; otherwise IncorrectInstanceStatus (403) naming the
// current status, and a dry run reports that before DryRunOperation. A
// refused call changes nothing.
func TestInstanceStateTransitionsSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "192.168.0.0/16", "192.168.1.0/24")
	inst := runInstance(t, c, n.vsw, n.sg, "")

	call := func(action string, dry bool) error {
		switch action {
		case "StopInstance":
			req := ecs.CreateStopInstanceRequest()
			req.InstanceId = inst
			if dry {
				req.DryRun = requests.NewBoolean(true)
			}
			_, err := c.StopInstance(req)
			return err
		case "StartInstance":
			req := ecs.CreateStartInstanceRequest()
			req.InstanceId = inst
			if dry {
				req.DryRun = requests.NewBoolean(true)
			}
			_, err := c.StartInstance(req)
			return err
		case "DeleteInstance":
			req := ecs.CreateDeleteInstanceRequest()
			req.InstanceId = inst
			if dry {
				req.DryRun = requests.NewBoolean(true)
			}
			_, err := c.DeleteInstance(req)
			return err
		}
		t.Fatalf("unknown action %s", action)
		return nil
	}
	steps := []struct {
		name   string
		action string
		dry    bool
		status int    // 0: success
		code   string // expected error code
		after  string // status afterwards
	}{
		{"start running", "StartInstance", false, 403, "IncorrectInstanceStatus", "Running"},
		{"start running dry run", "StartInstance", true, 403, "IncorrectInstanceStatus", "Running"},
		{"delete running", "DeleteInstance", false, 403, "IncorrectInstanceStatus", "Running"},
		{"delete running dry run", "DeleteInstance", true, 403, "IncorrectInstanceStatus", "Running"},
		{"stop running dry run", "StopInstance", true, 400, "DryRunOperation", "Running"},
		{"stop running", "StopInstance", false, 0, "", "Stopped"},
		{"stop stopped", "StopInstance", false, 403, "IncorrectInstanceStatus", "Stopped"},
		{"stop stopped dry run", "StopInstance", true, 403, "IncorrectInstanceStatus", "Stopped"},
		{"start stopped dry run", "StartInstance", true, 400, "DryRunOperation", "Stopped"},
		{"start stopped", "StartInstance", false, 0, "", "Running"},
		{"start started", "StartInstance", false, 403, "IncorrectInstanceStatus", "Running"},
		{"stop again", "StopInstance", false, 0, "", "Stopped"},
		{"delete stopped dry run", "DeleteInstance", true, 400, "DryRunOperation", "Stopped"},
	}
	for _, st := range steps {
		before := describeInstance(t, c, inst).Status
		snap := env.Snapshot(t)
		err := call(st.action, st.dry)
		if st.status == 0 {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		} else {
			status, code := apitest.ServerErr(t, err)
			if status != st.status || code != st.code {
				t.Errorf("%s: got %d %s, want %d %s (%v)", st.name, status, code, st.status, st.code, err)
			}
			if code == "IncorrectInstanceStatus" && !strings.Contains(err.Error(), "is "+before) {
				t.Errorf("%s: the message does not name the current status %s: %v", st.name, before, err)
			}
			if after := env.Snapshot(t); !maps.Equal(snap, after) {
				t.Errorf("%s: the refused call changed the store", st.name)
			}
		}
		if got := describeInstance(t, c, inst).Status; got != st.after {
			t.Fatalf("%s: status %s, want %s", st.name, got, st.after)
		}
	}
	if err := call("DeleteInstance", false); err != nil {
		t.Fatalf("delete stopped: %v", err)
	}
}

// TestInstanceNameSDK: InstanceName follows the cloud's rule (2-128
// characters, a letter first, then letters, digits, '.', '_', ':', '-';
// Chinese characters are letters), and a refused name creates nothing.
func TestInstanceNameSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "192.168.0.0/16", "192.168.1.0/24")
	tests := []struct {
		name, instanceName string
		ok                 bool
	}{
		{"two letters", "ab", true},
		{"all allowed characters", "Web.server_01:blue-2", true},
		{"chinese", "网站服务器1", true},
		{"128 characters", "a" + strings.Repeat("b", 127), true},
		{"128 chinese characters", strings.Repeat("网", 128), true},
		{"one character", "a", false},
		{"129 characters", "a" + strings.Repeat("b", 128), false},
		{"starts with a digit", "1web", false},
		{"starts with a hyphen", "-web", false},
		{"starts with an underscore", "_web", false},
		{"space", "web server", false},
		{"slash", "web/1", false},
		{"url", "http://web", false},
		{"star", "web*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ecs.CreateRunInstancesRequest()
			req.ImageId, req.InstanceType, req.VSwitchId, req.SecurityGroupId, req.InstanceName = "img", "t", n.vsw, n.sg, tt.instanceName
			before := env.Snapshot(t)
			resp, err := c.RunInstances(req)
			if tt.ok {
				if err != nil {
					t.Fatalf("RunInstances %q: %v", tt.instanceName, err)
				}
				if got := describeInstance(t, c, resp.InstanceIdSets.InstanceIdSet[0]).InstanceName; got != tt.instanceName {
					t.Errorf("InstanceName %q, want %q", got, tt.instanceName)
				}
				return
			}
			status, code := apitest.ServerErr(t, err)
			if status != 400 || code != "InvalidInstanceName.Malformed" {
				t.Errorf("RunInstances %q: got %d %s, want 400 InvalidInstanceName.Malformed (%v)", tt.instanceName, status, code, err)
			}
			if after := env.Snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the refused call changed the store")
			}
		})
	}
}
