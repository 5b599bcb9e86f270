package api_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
)

func createMirrorFilter(t *testing.T, c *vpc.Client, name string, ingress []vpc.CreateTrafficMirrorFilterIngressRules, egress []vpc.CreateTrafficMirrorFilterEgressRules) string {
	t.Helper()
	req := vpc.CreateCreateTrafficMirrorFilterRequest()
	req.TrafficMirrorFilterName = name
	if ingress != nil {
		req.IngressRules = &ingress
	}
	if egress != nil {
		req.EgressRules = &egress
	}
	resp, err := c.CreateTrafficMirrorFilter(req)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	if !strings.HasPrefix(resp.TrafficMirrorFilterId, "tmf-") || resp.RequestId == "" {
		t.Fatalf("CreateTrafficMirrorFilter: %+v", resp)
	}
	return resp.TrafficMirrorFilterId
}

func listMirrorFilter(t *testing.T, c *vpc.Client, id string) vpc.TrafficMirrorFilter {
	t.Helper()
	req := vpc.CreateListTrafficMirrorFiltersRequest()
	req.TrafficMirrorFilterIds = &[]string{id}
	resp, err := c.ListTrafficMirrorFilters(req)
	if err != nil || resp.TotalCount != "1" || len(resp.TrafficMirrorFilters) != 1 {
		t.Fatalf("ListTrafficMirrorFilters %s: %v %+v", id, err, resp)
	}
	return resp.TrafficMirrorFilters[0]
}

func createMirrorSession(t *testing.T, c *vpc.Client, filter, target string, prio int, sources ...string) string {
	t.Helper()
	req := vpc.CreateCreateTrafficMirrorSessionRequest()
	req.TrafficMirrorFilterId, req.TrafficMirrorTargetId, req.TrafficMirrorTargetType = filter, target, "NetworkInterface"
	req.Priority = requests.NewInteger(prio)
	if len(sources) > 0 {
		req.TrafficMirrorSourceIds = &sources
	}
	resp, err := c.CreateTrafficMirrorSession(req)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorSession: %v", err)
	}
	if !strings.HasPrefix(resp.TrafficMirrorSessionId, "tms-") {
		t.Fatalf("CreateTrafficMirrorSession: %+v", resp)
	}
	return resp.TrafficMirrorSessionId
}

func listMirrorSessions(t *testing.T, c *vpc.Client, mod func(*vpc.ListTrafficMirrorSessionsRequest)) []vpc.TrafficMirrorSession {
	t.Helper()
	req := vpc.CreateListTrafficMirrorSessionsRequest()
	mod(req)
	resp, err := c.ListTrafficMirrorSessions(req)
	if err != nil {
		t.Fatalf("ListTrafficMirrorSessions: %v", err)
	}
	if resp.TotalCount != strconv.Itoa(len(resp.TrafficMirrorSessions)) && resp.NextToken == "" {
		t.Errorf("TotalCount %s for %d sessions", resp.TotalCount, len(resp.TrafficMirrorSessions))
	}
	return resp.TrafficMirrorSessions
}

func mirrorSession(t *testing.T, c *vpc.Client, id string) vpc.TrafficMirrorSession {
	t.Helper()
	list := listMirrorSessions(t, c, func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorSessionIds = &[]string{id} })
	if len(list) != 1 {
		t.Fatalf("session %s: %+v", id, list)
	}
	return list[0]
}

func primaryENI(t *testing.T, c *ecs.Client, instance string) string {
	t.Helper()
	for _, ni := range describeInstance(t, c, instance).NetworkInterfaces.NetworkInterface {
		if ni.Type == "Primary" {
			return ni.NetworkInterfaceId
		}
	}
	t.Fatalf("instance %s has no primary ENI", instance)
	return ""
}

func TestTrafficMirrorLifecycleSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	e := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	target := createENI(t, e, n.vsw, n.sg)
	src := createENI(t, e, n.vsw, n.sg)
	inst := runInstance(t, e, n.vsw, n.sg, "")
	instENI := primaryENI(t, e, inst)

	if _, err := c.OpenTrafficMirrorService(vpc.CreateOpenTrafficMirrorServiceRequest()); err != nil {
		t.Fatal(err)
	}
	if st, err := c.GetTrafficMirrorServiceStatus(vpc.CreateGetTrafficMirrorServiceStatusRequest()); err != nil || !st.Enabled {
		t.Errorf("GetTrafficMirrorServiceStatus: %v %+v", err, st)
	}

	// A filter with rules, tags and a resource group.
	req := vpc.CreateCreateTrafficMirrorFilterRequest()
	req.TrafficMirrorFilterName, req.TrafficMirrorFilterDescription, req.ResourceGroupId = "web", "web traffic", "rg-web"
	req.Tag = &[]vpc.CreateTrafficMirrorFilterTag{{Key: "team", Value: "sec"}}
	req.IngressRules = &[]vpc.CreateTrafficMirrorFilterIngressRules{
		{Priority: "2", Action: "accept", Protocol: "TCP", DestinationPortRange: "80/443", SourceCidrBlock: "192.0.2.9/24"},
		{Priority: "1", Action: "drop", Protocol: "ALL", DestinationCidrBlock: "10.0.1.0/24"},
	}
	req.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{Priority: "1", Action: "Accept", Protocol: "icmp"}}
	fresp, err := c.CreateTrafficMirrorFilter(req)
	if err != nil {
		t.Fatal(err)
	}
	fid := fresp.TrafficMirrorFilterId
	if !strings.HasPrefix(fid, "tmf-") || fresp.ResourceGroupId != "rg-web" {
		t.Fatalf("CreateTrafficMirrorFilter: %+v", fresp)
	}
	f := listMirrorFilter(t, c, fid)
	if f.TrafficMirrorFilterName != "web" || f.TrafficMirrorFilterDescription != "web traffic" || f.TrafficMirrorFilterStatus != "Created" ||
		f.ResourceGroupId != "rg-web" || f.CreationTime == "" || len(f.Tags) != 1 || f.Tags[0].Key != "team" || f.Tags[0].TagValue != "sec" ||
		len(f.IngressRules) != 2 || len(f.EgressRules) != 1 {
		t.Fatalf("filter: %+v", f)
	}
	r0, r1, eg := f.IngressRules[0], f.IngressRules[1], f.EgressRules[0]
	if r0.Priority != 1 || r0.Action != "drop" || r0.Protocol != "ALL" || r0.SourceCidrBlock != "0.0.0.0/0" || r0.DestinationCidrBlock != "10.0.1.0/24" ||
		r0.SourcePortRange != "-1/-1" || r0.DestinationPortRange != "-1/-1" || r0.TrafficDirection != "ingress" ||
		r0.TrafficMirrorFilterId != fid || r0.TrafficMirrorFilterRuleStatus != "Created" || !strings.HasPrefix(r0.TrafficMirrorFilterRuleId, "tmr-") {
		t.Errorf("ingress rule 1: %+v", r0)
	}
	if r1.Priority != 2 || r1.Action != "accept" || r1.Protocol != "TCP" || r1.SourceCidrBlock != "192.0.2.0/24" || r1.DestinationPortRange != "80/443" {
		t.Errorf("ingress rule 2: %+v", r1)
	}
	if eg.TrafficDirection != "egress" || eg.Protocol != "ICMP" || eg.Action != "accept" {
		t.Errorf("egress rule: %+v", eg)
	}

	// Rules added, changed, deleted.
	rreq := vpc.CreateCreateTrafficMirrorFilterRulesRequest()
	rreq.TrafficMirrorFilterId = fid
	rreq.IngressRules = &[]vpc.CreateTrafficMirrorFilterRulesIngressRules{{Priority: "3", Action: "accept", Protocol: "UDP", SourcePortRange: "53/53"}}
	rreq.EgressRules = &[]vpc.CreateTrafficMirrorFilterRulesEgressRules{
		{Priority: "2", Action: "accept", Protocol: "TCP", DestinationCidrBlock: "2001:db8::/32"},
		{Priority: "1", Action: "accept", Protocol: "ICMP"}, // identical to the existing one: adds nothing
	}
	rresp, err := c.CreateTrafficMirrorFilterRules(rreq)
	if err != nil {
		t.Fatal(err)
	}
	if len(rresp.IngressRules) != 1 || len(rresp.EgressRules) != 2 || !strings.HasPrefix(rresp.IngressRules[0].InstanceId, "tmr-") ||
		rresp.EgressRules[1].InstanceId != eg.TrafficMirrorFilterRuleId {
		t.Fatalf("CreateTrafficMirrorFilterRules: %+v", rresp)
	}
	udp := rresp.IngressRules[0].InstanceId
	f = listMirrorFilter(t, c, fid)
	if len(f.IngressRules) != 3 || len(f.EgressRules) != 2 || f.EgressRules[1].SourceCidrBlock != "::/0" || f.EgressRules[1].DestinationCidrBlock != "2001:db8::/32" {
		t.Errorf("after adding rules: %+v", f)
	}
	ureq := vpc.CreateUpdateTrafficMirrorFilterRuleAttributeRequest()
	ureq.TrafficMirrorFilterRuleId, ureq.RuleAction, ureq.DestinationPortRange, ureq.Priority = udp, "drop", "1/1024", requests.NewInteger(4)
	if _, err := c.UpdateTrafficMirrorFilterRuleAttribute(ureq); err != nil {
		t.Fatal(err)
	}
	f = listMirrorFilter(t, c, fid)
	if r := f.IngressRules[2]; r.TrafficMirrorFilterRuleId != udp || r.Action != "drop" || r.Priority != 4 || r.SourcePortRange != "53/53" || r.DestinationPortRange != "1/1024" {
		t.Errorf("after rule update: %+v", r)
	}
	dreq := vpc.CreateDeleteTrafficMirrorFilterRulesRequest()
	dreq.TrafficMirrorFilterId, dreq.TrafficMirrorFilterRuleIds = fid, &[]string{udp, f.EgressRules[1].TrafficMirrorFilterRuleId}
	if _, err := c.DeleteTrafficMirrorFilterRules(dreq); err != nil {
		t.Fatal(err)
	}
	areq := vpc.CreateUpdateTrafficMirrorFilterAttributeRequest()
	areq.TrafficMirrorFilterId, areq.TrafficMirrorFilterName, areq.TrafficMirrorFilterDescription = fid, "renamed", "new"
	if _, err := c.UpdateTrafficMirrorFilterAttribute(areq); err != nil {
		t.Fatal(err)
	}
	f = listMirrorFilter(t, c, fid)
	if len(f.IngressRules) != 2 || len(f.EgressRules) != 1 || f.TrafficMirrorFilterName != "renamed" || f.TrafficMirrorFilterDescription != "new" {
		t.Errorf("after delete and rename: %+v", f)
	}
	byName := vpc.CreateListTrafficMirrorFiltersRequest()
	byName.TrafficMirrorFilterName = "renamed"
	if resp, err := c.ListTrafficMirrorFilters(byName); err != nil || len(resp.TrafficMirrorFilters) != 1 || resp.Count != 1 || resp.MaxResults != 20 {
		t.Errorf("by name: %v %+v", err, resp)
	}

	// A session with every field.
	sreq := vpc.CreateCreateTrafficMirrorSessionRequest()
	sreq.TrafficMirrorFilterId, sreq.TrafficMirrorTargetId, sreq.TrafficMirrorTargetType = fid, target, "NetworkInterface"
	sreq.Priority, sreq.VirtualNetworkId, sreq.PacketLength, sreq.Enabled = requests.NewInteger(7), requests.NewInteger(4242), requests.NewInteger(256), requests.NewBoolean(true)
	sreq.TrafficMirrorSessionName, sreq.TrafficMirrorSessionDescription, sreq.ResourceGroupId = "tap", "to the IDS", "rg-web"
	sreq.TrafficMirrorSourceIds = &[]string{src, instENI}
	sreq.Tag = &[]vpc.CreateTrafficMirrorSessionTag{{Key: "k", Value: "v"}}
	sresp, err := c.CreateTrafficMirrorSession(sreq)
	if err != nil {
		t.Fatal(err)
	}
	sid := sresp.TrafficMirrorSessionId
	if !strings.HasPrefix(sid, "tms-") || sresp.ResourceGroupId != "rg-web" {
		t.Fatalf("CreateTrafficMirrorSession: %+v", sresp)
	}
	m := mirrorSession(t, c, sid)
	if m.TrafficMirrorFilterId != fid || m.TrafficMirrorTargetId != target || m.TrafficMirrorTargetType != "NetworkInterface" || m.Priority != 7 ||
		m.VirtualNetworkId != 4242 || m.PacketLength != 256 || !m.Enabled || m.TrafficMirrorSessionName != "tap" ||
		m.TrafficMirrorSessionDescription != "to the IDS" || m.TrafficMirrorSessionStatus != "Created" ||
		m.TrafficMirrorSessionBusinessStatus != "Normal" || m.ResourceGroupId != "rg-web" || m.CreationTime == "" ||
		!slices.Equal(m.TrafficMirrorSourceIds, []string{src, instENI}) || len(m.Tags) != 1 || m.Tags[0].Key != "k" {
		t.Errorf("session: %+v", m)
	}
	// Defaults: disabled, 1500 bytes, a random VNI in range.
	plain := createMirrorSession(t, c, fid, target, 8)
	if d := mirrorSession(t, c, plain); d.Enabled || d.PacketLength != 1500 || d.VirtualNetworkId < 0 || d.VirtualNetworkId > 1<<24-1 ||
		d.TrafficMirrorSourceIds == nil || len(d.TrafficMirrorSourceIds) != 0 {
		t.Errorf("defaults: %+v", d)
	}

	// List filters.
	ids := func(mod func(*vpc.ListTrafficMirrorSessionsRequest)) []string {
		var out []string
		for _, s := range listMirrorSessions(t, c, mod) {
			out = append(out, s.TrafficMirrorSessionId)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		mod  func(*vpc.ListTrafficMirrorSessionsRequest)
		want []string
	}{
		{"all", func(*vpc.ListTrafficMirrorSessionsRequest) {}, []string{sid, plain}},
		{"source", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorSourceId = instENI }, []string{sid}},
		{"target", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorTargetId = target }, []string{sid, plain}},
		{"filter", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorFilterId = fid }, []string{sid, plain}},
		{"priority", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.Priority = requests.NewInteger(8) }, []string{plain}},
		{"vni", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.VirtualNetworkId = requests.NewInteger(4242) }, []string{sid}},
		{"enabled", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.Enabled = requests.NewBoolean(false) }, []string{plain}},
		{"name", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorSessionName = "tap" }, []string{sid}},
		{"none", func(r *vpc.ListTrafficMirrorSessionsRequest) { r.TrafficMirrorSessionIds = &[]string{"tms-nope"} }, nil},
	} {
		if got := ids(tc.mod); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("list %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	// Update, add and remove sources.
	up := vpc.CreateUpdateTrafficMirrorSessionAttributeRequest()
	up.TrafficMirrorSessionId, up.Enabled, up.Priority, up.VirtualNetworkId, up.PacketLength = sid, requests.NewBoolean(false), requests.NewInteger(9), requests.NewInteger(0), requests.NewInteger(9600)
	up.TrafficMirrorSessionName = "tap2"
	if _, err := c.UpdateTrafficMirrorSessionAttribute(up); err != nil {
		t.Fatal(err)
	}
	if m := mirrorSession(t, c, sid); m.Enabled || m.Priority != 9 || m.VirtualNetworkId != 0 || m.PacketLength != 9600 || m.TrafficMirrorSessionName != "tap2" {
		t.Errorf("after update: %+v", m)
	}
	rm := vpc.CreateRemoveSourcesFromTrafficMirrorSessionRequest()
	rm.TrafficMirrorSessionId, rm.TrafficMirrorSourceIds = sid, &[]string{src}
	if _, err := c.RemoveSourcesFromTrafficMirrorSession(rm); err != nil {
		t.Fatal(err)
	}
	add := vpc.CreateAddSourcesToTrafficMirrorSessionRequest()
	add.TrafficMirrorSessionId, add.TrafficMirrorSourceIds = plain, &[]string{src, instENI}
	if _, err := c.AddSourcesToTrafficMirrorSession(add); err != nil {
		t.Fatal(err)
	}
	if a, b := mirrorSession(t, c, sid), mirrorSession(t, c, plain); !slices.Equal(a.TrafficMirrorSourceIds, []string{instENI}) ||
		!slices.Equal(b.TrafficMirrorSourceIds, []string{src, instENI}) {
		t.Errorf("sources: %v %v", a.TrafficMirrorSourceIds, b.TrafficMirrorSourceIds)
	}

	// Dependencies: the filter in use, the target ENI; a source instance
	// goes and leaves the sessions.
	delF := vpc.CreateDeleteTrafficMirrorFilterRequest()
	delF.TrafficMirrorFilterId = fid
	if _, err := c.DeleteTrafficMirrorFilter(delF); err == nil {
		t.Error("deleted a filter in use")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation.TrafficMirrorSession" {
		t.Errorf("delete filter in use: %d %s", st, code)
	}
	delENI := ecs.CreateDeleteNetworkInterfaceRequest()
	delENI.NetworkInterfaceId = target
	if _, err := e.DeleteNetworkInterface(delENI); err == nil {
		t.Error("deleted a session's target")
	} else if st, code := apitest.ServerErr(t, err); st != 403 || code != "DependencyViolation.TrafficMirrorSession" {
		t.Errorf("delete target ENI: %d %s", st, code)
	}
	delInst := ecs.CreateDeleteInstanceRequest()
	delInst.InstanceId, delInst.Force = inst, requests.NewBoolean(true)
	if _, err := e.DeleteInstance(delInst); err != nil {
		t.Fatal(err)
	}
	if a, b := mirrorSession(t, c, sid), mirrorSession(t, c, plain); len(a.TrafficMirrorSourceIds) != 0 || !slices.Equal(b.TrafficMirrorSourceIds, []string{src}) {
		t.Errorf("sources after instance deletion: %v %v", a.TrafficMirrorSourceIds, b.TrafficMirrorSourceIds)
	}
	for _, id := range []string{sid, plain} {
		del := vpc.CreateDeleteTrafficMirrorSessionRequest()
		del.TrafficMirrorSessionId = id
		if _, err := c.DeleteTrafficMirrorSession(del); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteTrafficMirrorFilter(delF); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeleteNetworkInterface(delENI); err != nil {
		t.Fatal(err)
	}
	if resp, err := c.ListTrafficMirrorFilters(vpc.CreateListTrafficMirrorFiltersRequest()); err != nil || resp.TotalCount != "0" || resp.TrafficMirrorFilters == nil {
		t.Errorf("filters at the end: %v %+v", err, resp)
	}
}

func TestTrafficMirrorBadInputSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	e := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	other := newNet(t, env, env.Admin, "10.1.0.0/16", "10.1.1.0/24")
	target := createENI(t, e, n.vsw, n.sg)
	src := createENI(t, e, n.vsw, n.sg)
	src2 := createENI(t, e, n.vsw, n.sg)
	far := createENI(t, e, other.vsw, other.sg)
	inst := runInstance(t, e, n.vsw, n.sg, "")
	instENI := primaryENI(t, e, inst)

	var ten []vpc.CreateTrafficMirrorFilterIngressRules
	for p := 1; p <= 10; p++ {
		ten = append(ten, vpc.CreateTrafficMirrorFilterIngressRules{Priority: strconv.Itoa(p), Action: "accept", Protocol: "TCP", DestinationPortRange: fmt.Sprintf("%d/%d", p, p)})
	}
	full := createMirrorFilter(t, c, "full", ten, nil)
	fid := createMirrorFilter(t, c, "f", nil, []vpc.CreateTrafficMirrorFilterEgressRules{{Priority: "1", Action: "accept", Protocol: "ALL"}})
	// src is in 3 sessions; the instance's primary ENI is a target.
	for p := 1; p <= 3; p++ {
		createMirrorSession(t, c, fid, target, p, src)
	}
	onInst := createMirrorSession(t, c, full, instENI, 4, src2)
	bob := env.NewAccount(t, "bob")
	bobNet := newNet(t, env, bob, "10.0.0.0/16", "10.0.1.0/24")
	bobENI := createENI(t, env.ECS(t, bob), bobNet.vsw, bobNet.sg)

	rule := func(kv ...string) map[string]string {
		m := map[string]string{"TrafficMirrorFilterId": fid, "IngressRules.1.Priority": "5", "IngressRules.1.Action": "accept", "IngressRules.1.Protocol": "TCP"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	session := func(kv ...string) map[string]string {
		m := map[string]string{"TrafficMirrorFilterId": fid, "TrafficMirrorTargetId": target, "TrafficMirrorTargetType": "NetworkInterface", "Priority": "100"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	const addRules, create = "CreateTrafficMirrorFilterRules", "CreateTrafficMirrorSession"
	tests := []struct {
		name, action string
		who          apitest.Creds
		params       map[string]string
		status       int
		code         string
	}{
		{"no filter id", addRules, env.Admin, rule("TrafficMirrorFilterId", ""), 400, "MissingParameter"},
		{"no rules", addRules, env.Admin, map[string]string{"TrafficMirrorFilterId": fid}, 400, "MissingParameter"},
		{"no action", addRules, env.Admin, rule("IngressRules.1.Action", ""), 400, "MissingParameter"},
		{"bad action", addRules, env.Admin, rule("IngressRules.1.Action", "allow"), 400, "IllegalParam.Action"},
		{"no priority", addRules, env.Admin, rule("IngressRules.1.Priority", ""), 400, "MissingParameter"},
		{"priority 11", addRules, env.Admin, rule("IngressRules.1.Priority", "11"), 400, "IllegalParam.Priority"},
		{"priority 0", addRules, env.Admin, rule("IngressRules.1.Priority", "0"), 400, "IllegalParam.Priority"},
		{"no protocol", addRules, env.Admin, rule("IngressRules.1.Protocol", ""), 400, "MissingParameter"},
		{"bad protocol", addRules, env.Admin, rule("IngressRules.1.Protocol", "GRE"), 400, "IllegalParam.Protocol"},
		{"bad source cidr", addRules, env.Admin, rule("IngressRules.1.SourceCidrBlock", "10.0.0.0/40"), 400, "IllegalParam.SourceCidrBlock"},
		{"bad dest cidr", addRules, env.Admin, rule("IngressRules.1.DestinationCidrBlock", "nope"), 400, "IllegalParam.DestinationCidrBlock"},
		{"mixed families", addRules, env.Admin, rule("IngressRules.1.SourceCidrBlock", "10.0.0.0/8", "IngressRules.1.DestinationCidrBlock", "fd00::/8"), 400, "IllegalParam.DestinationCidrBlock"},
		{"bad source ports", addRules, env.Admin, rule("IngressRules.1.SourcePortRange", "80-90"), 400, "IllegalParam.SourcePortRange"},
		{"reversed dest ports", addRules, env.Admin, rule("IngressRules.1.DestinationPortRange", "90/80"), 400, "IllegalParam.DestinationPortRange"},
		{"port 65536", addRules, env.Admin, rule("IngressRules.1.DestinationPortRange", "1/65536"), 400, "IllegalParam.DestinationPortRange"},
		{"icmp ports", addRules, env.Admin, rule("IngressRules.1.Protocol", "ICMP", "IngressRules.1.DestinationPortRange", "1/1"), 400, "IllegalParam.DestinationPortRange"},
		{"all ports", addRules, env.Admin, rule("IngressRules.1.Protocol", "ALL", "IngressRules.1.SourcePortRange", "1/65535"), 400, "IllegalParam.SourcePortRange"},
		{"duplicate priority", addRules, env.Admin, rule("IngressRules.2.Priority", "5", "IngressRules.2.Action", "drop", "IngressRules.2.Protocol", "UDP"), 400, "DuplicatedParam.Priority"},
		{"taken egress priority", addRules, env.Admin, map[string]string{"TrafficMirrorFilterId": fid, "EgressRules.1.Priority": "1", "EgressRules.1.Action": "drop", "EgressRules.1.Protocol": "ALL"}, 400, "DuplicatedParam.Priority"},
		{"11th rule", addRules, env.Admin, rule("TrafficMirrorFilterId", full), 403, "QuotaExceeded.TrafficMirrorRule"},
		{"11 rules at creation", "CreateTrafficMirrorFilter", env.Admin, func() map[string]string {
			m := map[string]string{}
			for p := 1; p <= 11; p++ {
				k := fmt.Sprintf("EgressRules.%d.", p)
				m[k+"Priority"], m[k+"Action"], m[k+"Protocol"] = strconv.Itoa(min(p, 10)), "accept", "TCP"
				m[k+"DestinationPortRange"] = fmt.Sprintf("%d/%d", p, p)
			}
			return m
		}(), 403, "QuotaExceeded.TrafficMirrorRule"},
		{"rule index 0", addRules, env.Admin, rule("IngressRules.0.Priority", "6"), 400, "InvalidParameter"},
		{"bob's filter", addRules, bob, rule(), 404, "ResourceNotFound.TrafficMirrorFilter"},
		{"rule dry run", addRules, env.Admin, rule("DryRun", "true"), 400, "DryRunOperation"},
		{"long filter name", "CreateTrafficMirrorFilter", env.Admin, map[string]string{"TrafficMirrorFilterName": strings.Repeat("n", 129)}, 400, "IllegalParam.TrafficMirrorFilterName"},
		{"filter dry run", "CreateTrafficMirrorFilter", env.Admin, map[string]string{"TrafficMirrorFilterName": "x", "DryRun": "true"}, 400, "DryRunOperation"},
		{"update unknown rule", "UpdateTrafficMirrorFilterRuleAttribute", env.Admin, map[string]string{"TrafficMirrorFilterRuleId": "tmr-nope", "RuleAction": "drop"}, 404, "ResourceNotFound.TrafficMirrorRule"},
		{"update rule bad action", "UpdateTrafficMirrorFilterRuleAttribute", env.Admin, nil, 400, "IllegalParam.Action"},
		{"delete unknown rules", "DeleteTrafficMirrorFilterRules", env.Admin, map[string]string{"TrafficMirrorFilterId": fid, "TrafficMirrorFilterRuleIds.1": "tmr-nope"}, 404, "ResourceNotFound.TrafficMirrorRule"},
		{"delete no rules", "DeleteTrafficMirrorFilterRules", env.Admin, map[string]string{"TrafficMirrorFilterId": fid}, 400, "MissingParameter"},
		{"rename bob's", "UpdateTrafficMirrorFilterAttribute", bob, map[string]string{"TrafficMirrorFilterId": fid, "TrafficMirrorFilterName": "x"}, 404, "ResourceNotFound.TrafficMirrorFilter"},
		{"delete filter in use", "DeleteTrafficMirrorFilter", env.Admin, map[string]string{"TrafficMirrorFilterId": fid}, 403, "DependencyViolation.TrafficMirrorSession"},
		{"delete bob's filter", "DeleteTrafficMirrorFilter", bob, map[string]string{"TrafficMirrorFilterId": full}, 404, "ResourceNotFound.TrafficMirrorFilter"},
		{"delete filter dry run", "DeleteTrafficMirrorFilter", env.Admin, map[string]string{"TrafficMirrorFilterId": createMirrorFilter(t, c, "spare", nil, nil), "DryRun": "true"}, 400, "DryRunOperation"},

		{"no target type", create, env.Admin, session("TrafficMirrorTargetType", ""), 400, "MissingParameter"},
		{"slb target that is an ENI", create, env.Admin, session("TrafficMirrorTargetType", "SLB"), 404, "ResourceNotFound.TrafficMirrorTarget"},
		{"bad target type", create, env.Admin, session("TrafficMirrorTargetType", "ENI"), 400, "IllegalParam.TrafficMirrorTargetType"},
		{"no priority", create, env.Admin, session("Priority", ""), 400, "MissingParameter"},
		{"priority text", create, env.Admin, session("Priority", "high"), 400, "InvalidParameter"},
		{"priority 32767", create, env.Admin, session("Priority", "32767"), 400, "IllegalParam.Priority"},
		{"taken priority", create, env.Admin, session("Priority", "2"), 400, "DuplicatedParam.Priority"},
		{"vni too big", create, env.Admin, session("VirtualNetworkId", "16777216"), 400, "IllegalParam.VirtualNetworkId"},
		{"packet too short", create, env.Admin, session("PacketLength", "63"), 400, "IllegalParam.PacketLength"},
		{"bad enabled", create, env.Admin, session("Enabled", "yes"), 400, "InvalidParameter"},
		{"no filter", create, env.Admin, session("TrafficMirrorFilterId", ""), 400, "MissingParameter"},
		{"unknown filter", create, env.Admin, session("TrafficMirrorFilterId", "tmf-nope"), 404, "ResourceNotFound.TrafficMirrorFilter"},
		{"no target", create, env.Admin, session("TrafficMirrorTargetId", ""), 400, "MissingParameter"},
		{"unknown target", create, env.Admin, session("TrafficMirrorTargetId", "eni-nope"), 404, "ResourceNotFound.TrafficMirrorTarget"},
		{"bob's target", create, env.Admin, session("TrafficMirrorTargetId", bobENI), 404, "ResourceNotFound.TrafficMirrorTarget"},
		{"bob uses the admin's filter", create, bob, session("TrafficMirrorTargetId", bobENI), 404, "ResourceNotFound.TrafficMirrorFilter"},
		{"bob's source", create, env.Admin, session("TrafficMirrorSourceIds.1", bobENI), 404, "ResourceNotFound.TrafficMirrorSource"},
		{"cross-vpc source", create, env.Admin, session("TrafficMirrorSourceIds.1", far), 400, "OperationDenied.TrafficMirrorSourceVpc"},
		{"source is target", create, env.Admin, session("TrafficMirrorSourceIds.1", target), 400, "OperationDenied.TrafficMirrorSourceIsTarget"},
		{"4th session of a source", create, env.Admin, session("TrafficMirrorSourceIds.1", src), 403, "QuotaExceeded.TrafficMirrorSessionPerSource"},
		{"source twice", create, env.Admin, session("TrafficMirrorSourceIds.1", src2, "TrafficMirrorSourceIds.2", src2), 400, "DuplicatedParam.TrafficMirrorSourceIds"},
		{"session dry run", create, env.Admin, session("DryRun", "true"), 400, "DryRunOperation"},
		{"long session name", create, env.Admin, session("TrafficMirrorSessionName", strings.Repeat("s", 129)), 400, "IllegalParam.TrafficMirrorSessionName"},
		{"update to taken priority", "UpdateTrafficMirrorSessionAttribute", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "Priority": "1"}, 400, "DuplicatedParam.Priority"},
		{"update target in other vpc", "UpdateTrafficMirrorSessionAttribute", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorTargetId": far}, 400, "OperationDenied.TrafficMirrorSourceVpc"},
		{"update target to a source", "UpdateTrafficMirrorSessionAttribute", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorTargetId": src2}, 400, "OperationDenied.TrafficMirrorSourceIsTarget"},
		{"update to slb without a target", "UpdateTrafficMirrorSessionAttribute", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorTargetType": "SLB"}, 400, "MissingParameter"},
		{"bob updates", "UpdateTrafficMirrorSessionAttribute", bob, map[string]string{"TrafficMirrorSessionId": onInst, "Enabled": "true"}, 404, "ResourceNotFound.TrafficMirrorSession"},
		{"update dry run", "UpdateTrafficMirrorSessionAttribute", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "Enabled": "true", "DryRun": "true"}, 400, "DryRunOperation"},
		{"add cross-vpc", "AddSourcesToTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": far}, 400, "OperationDenied.TrafficMirrorSourceVpc"},
		{"add target", "AddSourcesToTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": instENI}, 400, "OperationDenied.TrafficMirrorSourceIsTarget"},
		{"add 4th", "AddSourcesToTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": src}, 403, "QuotaExceeded.TrafficMirrorSessionPerSource"},
		{"add none", "AddSourcesToTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst}, 400, "MissingParameter"},
		{"bob adds", "AddSourcesToTrafficMirrorSession", bob, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": bobENI}, 404, "ResourceNotFound.TrafficMirrorSession"},
		{"remove non-source", "RemoveSourcesFromTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": src}, 404, "ResourceNotFound.TrafficMirrorSource"},
		{"remove dry run", "RemoveSourcesFromTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "TrafficMirrorSourceIds.1": src2, "DryRun": "true"}, 400, "DryRunOperation"},
		{"delete bob's", "DeleteTrafficMirrorSession", bob, map[string]string{"TrafficMirrorSessionId": onInst}, 404, "ResourceNotFound.TrafficMirrorSession"},
		{"delete no id", "DeleteTrafficMirrorSession", env.Admin, nil, 400, "MissingParameter"},
		{"delete dry run", "DeleteTrafficMirrorSession", env.Admin, map[string]string{"TrafficMirrorSessionId": onInst, "DryRun": "true"}, 400, "DryRunOperation"},
		{"delete target ENI", "DeleteNetworkInterface", env.Admin, map[string]string{"NetworkInterfaceId": target}, 403, "DependencyViolation.TrafficMirrorSession"},
		{"delete target's instance", "DeleteInstance", env.Admin, map[string]string{"InstanceId": inst, "Force": "true"}, 403, "DependencyViolation.TrafficMirrorSession"},
		{"open dry run", "OpenTrafficMirrorService", env.Admin, map[string]string{"DryRun": "true"}, 400, "InvalidParameter"},
		{"list bad max", "ListTrafficMirrorSessions", env.Admin, map[string]string{"MaxResults": "101"}, 400, "InvalidParameter"},
		{"list bad token", "ListTrafficMirrorFilters", env.Admin, map[string]string{"NextToken": "2"}, 400, "InvalidNextToken.Malformed"},
		{"list bad enabled", "ListTrafficMirrorSessions", env.Admin, map[string]string{"Enabled": "on"}, 400, "InvalidParameter"},
	}
	ruleID := listMirrorFilter(t, c, fid).EgressRules[0].TrafficMirrorFilterRuleId
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "update rule bad action" {
				tc.params = map[string]string{"TrafficMirrorFilterRuleId": ruleID, "RuleAction": "mirror"}
			}
			version := api.VersionVPC
			if strings.Contains(tc.action, "Instance") || strings.Contains(tc.action, "NetworkInterface") {
				version = api.VersionECS
			}
			before := env.Snapshot(t)
			_, err := env.Common(t, tc.who, version, tc.action, tc.params)
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

	// Bob sees none of the admin's filters and sessions.
	if out, err := env.Common(t, bob, api.VersionVPC, "ListTrafficMirrorFilters", map[string]string{"TrafficMirrorFilterIds.1": fid}); err != nil || out["TotalCount"] != "0" {
		t.Errorf("bob lists the admin's filter: %v %v", out, err)
	}
	if out, err := env.Common(t, bob, api.VersionVPC, "ListTrafficMirrorSessions", nil); err != nil || out["TotalCount"] != "0" {
		t.Errorf("bob lists the admin's sessions: %v %v", out, err)
	}
}

func TestTrafficMirrorPagingAndTokensSDK(t *testing.T) {
	env := apitest.Start(t)
	c := env.VPC(t, env.Admin)
	e := env.ECS(t, env.Admin)
	n := newNet(t, env, env.Admin, "10.0.0.0/16", "10.0.1.0/24")
	target := createENI(t, e, n.vsw, n.sg)

	// ClientToken: a retry answers the first filter; other parameters
	// with the same token are refused.
	req := vpc.CreateCreateTrafficMirrorFilterRequest()
	req.TrafficMirrorFilterName, req.ClientToken = "f0", "token-1"
	first, err := c.CreateTrafficMirrorFilter(req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateTrafficMirrorFilter(req)
	if err != nil || again.TrafficMirrorFilterId != first.TrafficMirrorFilterId {
		t.Errorf("retry: %v %s, want %s", err, again.TrafficMirrorFilterId, first.TrafficMirrorFilterId)
	}
	req.TrafficMirrorFilterName = "other"
	if _, err := c.CreateTrafficMirrorFilter(req); err == nil {
		t.Error("token reused with other parameters")
	} else if st, code := apitest.ServerErr(t, err); st != 400 || code != "IdempotentParameterMismatch" {
		t.Errorf("token mismatch: %d %s", st, code)
	}
	filters := []string{first.TrafficMirrorFilterId}
	for i := 1; i < 5; i++ {
		filters = append(filters, createMirrorFilter(t, c, fmt.Sprintf("f%d", i), nil, nil))
	}
	sreq := vpc.CreateCreateTrafficMirrorSessionRequest()
	sreq.TrafficMirrorFilterId, sreq.TrafficMirrorTargetId, sreq.TrafficMirrorTargetType = filters[0], target, "NetworkInterface"
	sreq.Priority, sreq.ClientToken = requests.NewInteger(1), "session-token"
	s1, err := c.CreateTrafficMirrorSession(sreq)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := c.CreateTrafficMirrorSession(sreq); err != nil || s2.TrafficMirrorSessionId != s1.TrafficMirrorSessionId {
		t.Errorf("session retry: %v %+v", err, s2)
	}
	rreq := vpc.CreateCreateTrafficMirrorFilterRulesRequest()
	rreq.TrafficMirrorFilterId, rreq.ClientToken = filters[1], "rules-token"
	rreq.IngressRules = &[]vpc.CreateTrafficMirrorFilterRulesIngressRules{{Priority: "1", Action: "accept", Protocol: "TCP"}}
	r1, err := c.CreateTrafficMirrorFilterRules(rreq)
	if err != nil {
		t.Fatal(err)
	}
	if r2, err := c.CreateTrafficMirrorFilterRules(rreq); err != nil || r2.IngressRules[0].InstanceId != r1.IngressRules[0].InstanceId {
		t.Errorf("rules retry: %v %+v", err, r2)
	}
	sessions := []string{s1.TrafficMirrorSessionId}
	for p := 2; p <= 5; p++ {
		sessions = append(sessions, createMirrorSession(t, c, filters[0], target, p))
	}

	// Paging with NextToken: every filter once, in creation order, with a
	// deletion between two pages.
	var walk []string
	token := ""
	for i := 0; ; i++ {
		lr := vpc.CreateListTrafficMirrorFiltersRequest()
		lr.MaxResults, lr.NextToken = requests.NewInteger(2), token
		resp, err := c.ListTrafficMirrorFilters(lr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.MaxResults != 2 || resp.Count != len(resp.TrafficMirrorFilters) {
			t.Errorf("page %d: MaxResults %d Count %d", i, resp.MaxResults, resp.Count)
		}
		for _, f := range resp.TrafficMirrorFilters {
			walk = append(walk, f.TrafficMirrorFilterId)
		}
		if i == 0 {
			if resp.TotalCount != "5" {
				t.Errorf("TotalCount %s, want 5", resp.TotalCount)
			}
			del := vpc.CreateDeleteTrafficMirrorFilterRequest()
			del.TrafficMirrorFilterId = filters[2]
			if _, err := c.DeleteTrafficMirrorFilter(del); err != nil {
				t.Fatal(err)
			}
		}
		if resp.NextToken == "" {
			break
		}
		token = resp.NextToken
	}
	if want := []string{filters[0], filters[1], filters[3], filters[4]}; !slices.Equal(walk, want) {
		t.Errorf("filter walk %v, want %v", walk, want)
	}
	walk, token = nil, ""
	for {
		lr := vpc.CreateListTrafficMirrorSessionsRequest()
		lr.MaxResults, lr.NextToken = requests.NewInteger(3), token
		resp, err := c.ListTrafficMirrorSessions(lr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != "5" {
			t.Errorf("sessions TotalCount %s", resp.TotalCount)
		}
		for _, s := range resp.TrafficMirrorSessions {
			walk = append(walk, s.TrafficMirrorSessionId)
		}
		if resp.NextToken == "" {
			break
		}
		token = resp.NextToken
	}
	if !slices.Equal(walk, sessions) {
		t.Errorf("session walk %v, want %v", walk, sessions)
	}
	// A token of one list is not a token of the other.
	lr := vpc.CreateListTrafficMirrorFiltersRequest()
	lr.MaxResults = requests.NewInteger(1)
	resp, err := c.ListTrafficMirrorFilters(lr)
	if err != nil || resp.NextToken == "" {
		t.Fatalf("first page: %v %+v", err, resp)
	}
	sr := vpc.CreateListTrafficMirrorSessionsRequest()
	sr.NextToken = resp.NextToken
	if _, err := c.ListTrafficMirrorSessions(sr); err == nil {
		t.Error("a filter token accepted by ListTrafficMirrorSessions")
	} else if _, code := apitest.ServerErr(t, err); code != "InvalidNextToken.Malformed" {
		t.Errorf("foreign token: %s", code)
	}
}
