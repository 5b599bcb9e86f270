package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/ipspace"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Severities, most severe first.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
)

// SeverityRank orders severities: high 3, medium 2, low 1, else 0.
func SeverityRank(s string) int {
	switch strings.ToLower(s) {
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// Finding codes.
const (
	CodeSensitivePortOpen  = "sensitive-port-open"
	CodeAcceptOverridden   = "accept-overridden-by-drop"
	CodeShadowedRule       = "shadowed-rule"
	CodeDuplicateRule      = "duplicate-rule"
	CodeInertRule          = "rule-never-matches"
	CodeEmptyGroupRef      = "references-empty-group"
	CodeUnusedGroup        = "unused-group"
	CodeACLShadowed        = "shadowed-acl-entry"
	CodeACLOverridden      = "acl-accept-overridden-by-drop"
	CodeACLDuplicate       = "duplicate-acl-entry"
	CodeENIAcceptsNothing  = "eni-accepts-nothing"
	CodeQuotaNearlyReached = "quota-above-80-percent"
	// CodeServiceRefusesTransit: an instance backing a PrivateLink
	// service admits nothing from the transit range its endpoints'
	// connections come from.
	CodeServiceRefusesTransit = "privatelink-backend-refuses-transit"
	// CodeLBBackendsRefuseVPC: a running listener of an active load
	// balancer none of whose backends' security groups admit any address
	// of the load balancer's VPC on the backend port: every connection of
	// its clients is dropped at the backends.
	CodeLBBackendsRefuseVPC = "lb-backends-refuse-vpc"
	// CodeVpcFirewallClosed: a VPC firewall of the account on an
	// Activated peering is off (closed): nothing judges what crosses it.
	CodeVpcFirewallClosed = "vpc-firewall-closed"
	// CodeNatForwardOpen: a forward entry of a NAT gateway opens a port to
	// the whole internet (the internal ENI's network ACL and security
	// groups admit every public address; the gateway's EIPs are not
	// behind the Internet firewall): high for a sensitive TCP port (of a
	// port entry or an IP mapping), low for another port of a port entry.
	CodeNatForwardOpen = "nat-forward-open"
)

// Finding is one result of the audit.
type Finding struct {
	Severity string
	Code     string
	Resource string // sg-, nacl-, eni-, vpc-, i-, fwd- or "account"
	Rule     string `json:",omitempty"` // rule or ACL entry ID
	Message  string
	Fix      string
}

// AuditQuery scopes the audit to a VPC ("" is the whole account).
type AuditQuery struct {
	VpcID string
}

// AuditResult is the answer of Audit.
type AuditResult struct {
	VpcID    string `json:",omitempty"`
	Findings []Finding
	High     int
	Medium   int
	Low      int
	// Checked counts what was examined.
	Groups, Rules, ENIs, ACLs int
	WhatIf                    []string `json:",omitempty"`
}

// SensitivePorts are ports whose exposure to the whole internet is a
// finding: remote administration, databases, caches, container and
// cluster control planes, file sharing.
var SensitivePorts = map[uint16]string{
	21: "FTP", 22: "SSH", 23: "Telnet", 135: "MS RPC", 139: "NetBIOS", 445: "SMB", 1433: "SQL Server",
	1521: "Oracle", 2375: "Docker API", 2376: "Docker API (TLS)", 2379: "etcd", 3306: "MySQL", 3389: "RDP",
	5432: "PostgreSQL", 5601: "Kibana", 5900: "VNC", 5984: "CouchDB", 6379: "Redis", 6443: "Kubernetes API",
	9042: "Cassandra", 9200: "Elasticsearch", 10250: "kubelet", 11211: "Memcached", 27017: "MongoDB",
}

func sortedSensitive() []uint16 {
	out := make([]uint16, 0, len(SensitivePorts))
	for p := range SensitivePorts {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Audit examines the account's (or one VPC's) configuration.
func (a *Analyzer) Audit(q AuditQuery) (*AuditResult, error) {
	if q.VpcID != "" && a.vpcs[q.VpcID] == nil {
		return nil, errs.NotFound("InvalidVpcId.NotFound", "The specified VPC %q does not exist.", q.VpcID)
	}
	in := func(vpc string) bool { return q.VpcID == "" || vpc == q.VpcID }
	res := &AuditResult{VpcID: q.VpcID}
	add := func(f Finding) { res.Findings = append(res.Findings, f) }

	var groups []*groupInfo
	for _, g := range a.groups {
		if in(g.g.VpcID) {
			groups = append(groups, g)
			res.Rules += len(g.g.Rules)
		}
	}
	res.Groups = len(groups)
	var contexts []*context
	seen := map[*context]bool{}
	for _, e := range a.enis {
		if !in(e.e.VpcID) {
			continue
		}
		res.ENIs++
		c := a.contextOf(e)
		if !seen[c] {
			seen[c] = true
			contexts = append(contexts, c)
		}
	}
	slices.SortFunc(contexts, func(x, y *context) int { return strings.Compare(x.key, y.key) })
	ctxOfGroup := map[int32][]*context{}
	for _, c := range contexts {
		for _, g := range c.groups {
			ctxOfGroup[g] = append(ctxOfGroup[g], c)
		}
	}

	// Rules: dead, shadowed, duplicates, exposure.
	shadow := a.shadowAll(groups, contexts)
	// Ports the internet reaches without an EIP of the ENI's own: through
	// the WAF (internetExposure judges them) or a NAT gateway's forward
	// entry (natFindings judges them).
	viaWAF := a.wafUpstreamPorts()
	natPorts, natMapped := a.natForwardedPorts()
	for k := range natPorts {
		viaWAF[k] = true
	}
	for _, g := range groups {
		id := g.g.ID
		if len(g.members) == 0 {
			add(Finding{SeverityLow, CodeUnusedGroup, id, "",
				fmt.Sprintf("security group %s (%s) is attached to no ENI", id, g.g.Name),
				"delete it, or join the ENIs it was meant for: palisade sg delete " + id})
		}
		for _, rs := range [][]srule{g.ingress, g.egress} {
			for i := range rs {
				r := &rs[i]
				rid := r.rule.ID
				if r.inert {
					add(Finding{SeverityLow, CodeInertRule, id, rid,
						fmt.Sprintf("%s rule %s (%s) never matches: %s", r.rule.Direction, rid, ruleSummary(r.rule), r.why),
						"remove the rule: palisade sg rule remove " + id + " " + rid})
					continue
				}
				if r.peerGroup != "" && len(a.groups[r.peerIdx].members) == 0 {
					add(Finding{SeverityLow, CodeEmptyGroupRef, id, rid,
						fmt.Sprintf("%s rule %s (%s) references %s, which has no members: it matches nobody today", r.rule.Direction, rid, ruleSummary(r.rule), r.peerGroup),
						"add the intended ENIs to " + r.peerGroup + ", or remove the rule"})
				}
				sr, ok := shadow[r]
				if ok && sr.shadowed {
					add(shadowFinding(g, r, sr))
					continue
				}
				for _, f := range a.exposure(g, r, ctxOfGroup[g.idx], viaWAF, natMapped) {
					add(f)
				}
			}
		}
	}

	// Sensitive TCP ports open to the internet through an EIP.
	for _, f := range a.internetExposure(in) {
		add(f)
	}

	// ACL entries.
	for _, ai := range a.aclList {
		if !in(ai.acl.VpcID) {
			continue
		}
		res.ACLs++
		for _, dir := range []string{model.Ingress, model.Egress} {
			list := ai.list(dir)
			sh, by := aclShadow(list)
			for k := range list {
				if !sh[k] {
					continue
				}
				r := &list[k]
				f := Finding{Severity: SeverityLow, Code: CodeACLShadowed, Resource: ai.acl.ID, Rule: r.e.ID,
					Fix: "remove the entry or move it before the entries that decide its traffic"}
				names := aclNames(by[k])
				f.Message = fmt.Sprintf("%s entry %d %s (%s %s %s %s) never decides: entries %s before it decide every packet it covers",
					dir, r.index, r.e.ID, policyWord(r.drop), r.e.Protocol, portText(r.e.Ports), r.e.Cidr, names)
				for _, b := range by[k] {
					if b.drop == r.drop && b.proto == r.proto && b.ports == r.ports && b.dport == r.dport && b.cidr == r.cidr {
						f.Code, f.Fix = CodeACLDuplicate, "remove the duplicate entry"
						f.Message = fmt.Sprintf("%s entry %d %s duplicates entry %d %s", dir, r.index, r.e.ID, b.index, b.e.ID)
						break
					}
				}
				if f.Code == CodeACLShadowed && !r.drop && slices.ContainsFunc(by[k], func(b *aclRule) bool { return b.drop }) {
					f.Severity, f.Code = SeverityMedium, CodeACLOverridden
					f.Message = fmt.Sprintf("%s accept entry %d %s (%s %s %s) is overridden: earlier entries %s (drop among them) decide all its traffic",
						dir, r.index, r.e.ID, r.e.Protocol, portText(r.e.Ports), r.e.Cidr, names)
					f.Fix = "move the accept entry before the drop entry, or narrow the drop"
				}
				add(f)
			}
		}
	}

	// ENIs that accept nothing.
	accepts := map[*context]string{}
	for _, e := range a.enis {
		if !in(e.e.VpcID) {
			continue
		}
		c := e.ctx
		why, done := accepts[c]
		if !done {
			why = a.acceptsNothing(c)
			accepts[c] = why
		}
		if why == "" {
			continue
		}
		// An inner-accept group with another member lets that member in.
		other := false
		for _, g := range c.inner {
			if len(a.groups[g].members) > 1 {
				other = true
			}
		}
		if other {
			continue
		}
		add(Finding{SeverityMedium, CodeENIAcceptsNothing, e.e.ID, "",
			fmt.Sprintf("ENI %s (instance %s) accepts no inbound traffic on any port: %s", e.e.ID, orDash(e.e.InstanceID), why),
			"add an ingress accept rule to one of its groups for the traffic it serves, or delete the ENI if unused"})
	}

	a.serviceFindings(in, add)
	a.lbFindings(in, add)
	a.vpcFirewallFindings(in, add)
	a.natFindings(in, add)

	a.quotaFindings(q, in, add)

	slices.SortStableFunc(res.Findings, func(x, y Finding) int {
		if c := cmp.Compare(SeverityRank(y.Severity), SeverityRank(x.Severity)); c != 0 {
			return c
		}
		if c := strings.Compare(x.Code, y.Code); c != 0 {
			return c
		}
		if c := strings.Compare(x.Resource, y.Resource); c != 0 {
			return c
		}
		return strings.Compare(x.Rule, y.Rule)
	})
	if res.Findings == nil {
		res.Findings = []Finding{}
	}
	for _, f := range res.Findings {
		switch f.Severity {
		case SeverityHigh:
			res.High++
		case SeverityMedium:
			res.Medium++
		default:
			res.Low++
		}
	}
	return res, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ruleNames(rs []*srule) string {
	var names []string
	seen := map[*srule]bool{}
	for _, r := range rs {
		if seen[r] {
			continue
		}
		seen[r] = true
		names = append(names, r.rule.ID+" ("+r.groupID+")")
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	if len(names) == 0 {
		return "the intra-group policy"
	}
	return strings.Join(names, ", ")
}

func aclNames(rs []*aclRule) string {
	var names []string
	for _, r := range rs {
		names = append(names, fmt.Sprintf("%d %s", r.index, r.e.ID))
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}

func shadowFinding(g *groupInfo, r *srule, sr shadowResult) Finding {
	id, rid := g.g.ID, r.rule.ID
	where := "on any ENI that has " + id
	if len(g.members) == 0 {
		where = "within " + id
	}
	for _, b := range sr.by {
		if b != r && sameMatch(b, r) {
			return Finding{SeverityLow, CodeDuplicateRule, id, rid,
				fmt.Sprintf("%s rule %s (%s, priority %d, %s) duplicates %s of %s", r.rule.Direction, rid, ruleSummary(r.rule), r.priority, policyWord(r.drop), b.rule.ID, b.groupID),
				"remove the duplicate: palisade sg rule remove " + id + " " + rid}
		}
	}
	if !r.drop && slices.ContainsFunc(sr.by, func(b *srule) bool { return b.drop }) {
		return Finding{SeverityMedium, CodeAcceptOverridden, id, rid,
			fmt.Sprintf("%s accept rule %s (%s, priority %d) never takes effect %s: %s, drop rules among them, decide all its traffic first", r.rule.Direction, rid, ruleSummary(r.rule), r.priority, where, ruleNames(sr.by)),
			"give the accept rule a smaller priority number than the drop, or narrow the drop"}
	}
	return Finding{SeverityLow, CodeShadowedRule, id, rid,
		fmt.Sprintf("%s rule %s (%s, priority %d, %s) never decides a packet %s: %s decide all its traffic first", r.rule.Direction, rid, ruleSummary(r.rule), r.priority, policyWord(r.drop), where, ruleNames(sr.by)),
		"remove the rule: palisade sg rule remove " + id + " " + rid}
}

// exposure reports an ingress accept rule that opens a sensitive UDP port
// to 0.0.0.0/0 or ::/0 and decides at least one such packet in a context
// of its group (the group alone when no ENI has it). TCP ports are judged
// on what the filters of each ENI with an EIP admit (internetExposure);
// UDP has no such evaluation yet (policy.AdmittedSources is TCP only), so
// it is still judged on the rule's literal source.
// viaWAF is wafUpstreamPorts, computed once per audit.
// natMapped holds the ENI addresses an IP mapping of a NAT gateway opens
// to the internet like an EIP (natFindings judges them).
func (a *Analyzer) exposure(g *groupInfo, r *srule, ctxs []*context, viaWAF map[eniPort]bool, natMapped map[eniAddr]bool) []Finding {
	if r.drop || !strings.EqualFold(r.rule.Direction, model.Ingress) || r.peerGroup != "" || r.peer.Bits() != 0 {
		return nil
	}
	if len(ctxs) == 0 {
		ctxs = []*context{a.buildContext([]string{g.g.ID})}
	}
	fam := prefixFamily(r.peer)
	public := 0
	for _, m := range g.members {
		for _, ad := range a.enis[m].e.Addrs() {
			if k := (eniAddr{a.enis[m].e.ID, ad.Unmap()}); a.eipByPrivate[k] != nil || natMapped[k] {
				public++
				break
			}
		}
	}
	var out []Finding
	var open, latent []string
	for _, port := range sortedSensitive() {
		// TCP through an EIP, or a WAF forwarding to a member's port, is
		// judged on what the filters admit (internetExposure); with
		// neither the rule is a latent exposure: the first EIP would
		// open the port.
		forwarded := slices.ContainsFunc(g.members, func(m int32) bool { return viaWAF[eniPort{a.enis[m].e.ID, port}] })
		if public == 0 && !forwarded && r.proto.has(uint16(ProtoTCP)) && (!r.ports || r.dport.has(port)) && a.decidesSome(r, fam, ctxs, ProtoTCP, port) {
			latent = append(latent, fmt.Sprintf("%s/%d (%s)", ProtoName(ProtoTCP), port, SensitivePorts[port]))
		}
		if !r.proto.has(uint16(ProtoUDP)) || (r.ports && !r.dport.has(port)) {
			continue
		}
		if port != 11211 && port != 135 && port != 139 {
			continue // UDP exposure matters for these only
		}
		if a.decidesSome(r, fam, ctxs, ProtoUDP, port) {
			open = append(open, fmt.Sprintf("%s/%d (%s)", ProtoName(ProtoUDP), port, SensitivePorts[port]))
		}
	}
	if len(latent) > 0 {
		out = append(out, Finding{SeverityMedium, CodeSensitivePortOpen, g.g.ID, r.rule.ID,
			fmt.Sprintf("ingress rule %s (%s) opens %s to any address (%s); none of its %d ENIs has an EIP, so the internet cannot reach it today, but an EIP would", r.rule.ID, ruleSummary(r.rule), strings.Join(latent, ", "), r.peer, len(g.members)),
			"restrict the source to the addresses that need it (a bastion, a VPN range, a security group), e.g. palisade sg rule add " + g.g.ID + " --direction ingress --protocol tcp --port <port> --cidr <your-range>, then remove " + r.rule.ID})
	}
	if len(open) > 0 {
		out = append(out, Finding{SeverityHigh, CodeSensitivePortOpen, g.g.ID, r.rule.ID,
			fmt.Sprintf("ingress rule %s (%s) opens %s to the whole internet (%s); %d of its %d ENIs %s an EIP", r.rule.ID, ruleSummary(r.rule), strings.Join(open, ", "), r.peer, public, len(g.members), hasHave(public)),
			"restrict the source to the addresses that need it (a bastion, a VPN range, a security group), e.g. palisade sg rule add " + g.g.ID + " --direction ingress --protocol udp --port <port> --cidr <your-range>, then remove " + r.rule.ID})
	}
	return out
}

func hasHave(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

// decidesSome reports whether r decides a packet of proto to port in one
// of the contexts.
func (a *Analyzer) decidesSome(r *srule, fam int, ctxs []*context, proto uint8, port uint16) bool {
	for _, c := range ctxs {
		list := c.list(model.Ingress)
		k := slices.Index(list, r)
		if k < 0 {
			continue
		}
		b, _ := cover(r, fam, c.inner)
		b.d[dimProto] = ival{Lo: ipspace.U64(uint64(proto)), Hi: ipspace.U64(uint64(proto))}
		b.d[dimDport] = ival{Lo: ipspace.U64(uint64(port)), Hi: ipspace.U64(uint64(port))}
		if covered, _ := coveredBy(b, list, k, famIndex(fam), nil); !covered {
			return true
		}
	}
	return false
}

// acceptsNothing says why no inbound packet is ever accepted with the
// groups of c ("" when some is).
func (a *Analyzer) acceptsNothing(c *context) string {
	switch {
	case c.none:
		return "it is in no security group (fail closed)"
	case c.missing != "":
		return "its group " + c.missing + " does not exist (fail closed)"
	}
	list := c.ingress
	for k, r := range list {
		if r.drop || (r.peerGroup != "" && len(a.groups[r.peerIdx].members) == 0) {
			continue
		}
		for _, fam := range []int{fam4, fam6} {
			b, ok := cover(r, fam, c.inner)
			if !ok || hasAny(b.pos, b.neg) {
				continue
			}
			if covered, _ := coveredBy(b, list, k, famIndex(fam), nil); !covered {
				return ""
			}
		}
	}
	if len(list) == 0 {
		return "its groups have no ingress rule"
	}
	return "no ingress accept rule of its groups can take effect (drops before them, or empty peer groups)"
}

// serviceFindings reports each instance backing one of the account's
// PrivateLink services whose security groups have no ingress accept rule
// whose source overlaps model.TransitRange: every endpoint connection to
// it is dropped. (A rule that overlaps it may still be narrowed by drops;
// only the certain case is reported.) For a service backed by load
// balancers, the backends of their running listeners, on the backend
// port (serviceLBFindings).
func (a *Analyzer) serviceFindings(in func(string) bool, add func(Finding)) {
	for i := range a.w.Services {
		svc := &a.w.Services[i]
		if !in(svc.VpcID) {
			continue
		}
		if svc.Type() == model.EndpointResourceSLB {
			a.serviceLBFindings(svc, add)
			continue
		}
		for _, r := range svc.Resources {
			inst := a.insts[r.ResourceID]
			if inst == nil || r.ResourceType == model.EndpointResourceSLB {
				continue
			}
			i, ok := a.eniIdx[inst.PrimaryENIID]
			if !ok {
				continue
			}
			e := a.enis[i]
			if a.mayAdmitTransit(e) {
				continue
			}
			add(Finding{SeverityMedium, CodeServiceRefusesTransit, inst.ID, "",
				fmt.Sprintf("instance %s backs PrivateLink service %s, but the security groups of its ENI %s admit nothing from %s, where endpoint connections come from: every endpoint of the service reaches nothing on it",
					inst.ID, svc.ID, e.e.ID, model.TransitRange),
				fmt.Sprintf("add an ingress rule accepting %s on the service's ports to one of its groups", model.TransitRange)})
		}
	}
}

// mayAdmitTransit reports whether some ingress accept rule of the ENI's
// groups has a source overlapping the transit range (or one the audit
// cannot bound, a prefix list).
func (a *Analyzer) mayAdmitTransit(e *eniInfo) bool {
	for _, gid := range e.e.SecurityGroupIDs {
		gi, ok := a.groupIdx[gid]
		if !ok {
			continue
		}
		for _, r := range a.groups[gi].ingress {
			if r.drop {
				continue
			}
			switch {
			case r.rule.PeerPrefixListID != "":
				return true
			case r.rule.PeerCidr.IsValid() && r.rule.PeerCidr.Overlaps(model.TransitRange):
				return true
			}
		}
	}
	return false
}

// quotaFindings reports usage above 80% of a limit.
func (a *Analyzer) quotaFindings(q AuditQuery, in func(string) bool, add func(Finding)) {
	l := a.w.Limits
	check := func(resource, what string, used, limit int, fix string) {
		if limit <= 0 || used*5 <= limit*4 {
			return
		}
		sev := SeverityMedium
		if used >= limit {
			sev = SeverityHigh
		}
		add(Finding{sev, CodeQuotaNearlyReached, resource, "",
			fmt.Sprintf("%s: %d of %d (%d%%)", what, used, limit, used*100/limit), fix})
	}
	if q.VpcID == "" {
		check("account", "VPCs per account", len(a.w.VPCs), l.VpcsPerAccount, "delete unused VPCs or raise the quota")
		check("account", "security groups per account", len(a.groups), l.SecurityGroupsPerAccount, "delete unused security groups (see unused-group findings) or raise the quota")
	}
	vsws := map[string]int{}
	for _, v := range a.w.VSwitches {
		vsws[v.VpcID]++
	}
	acls := map[string]int{}
	for _, ac := range a.w.ACLs {
		acls[ac.VpcID]++
	}
	for _, v := range a.w.VPCs {
		if in(v.ID) {
			check(v.ID, "vSwitches per VPC", vsws[v.ID], l.VSwitchesPerVpc, "delete unused vSwitches or raise the quota")
			check(v.ID, "network ACLs per VPC", acls[v.ID], l.NetworkAclsPerVpc, "delete unused network ACLs or raise the quota")
		}
	}
	for _, ac := range a.w.ACLs {
		if in(ac.VpcID) {
			check(ac.ID, "ingress entries per ACL", len(ac.Ingress), l.ACLEntriesPerDirection, "merge entries (wider CIDRs or port ranges)")
			check(ac.ID, "egress entries per ACL", len(ac.Egress), l.ACLEntriesPerDirection, "merge entries (wider CIDRs or port ranges)")
		}
	}
	for _, g := range a.groups {
		if !in(g.g.VpcID) {
			continue
		}
		check(g.g.ID, "rules per security group", len(g.g.Rules), l.RulesPerGroup, "merge rules or split the group")
		if policy.IsBasic(g.g) {
			refs, ips := 0, 0
			for _, r := range g.g.Rules {
				if r.PeerGroupID != "" {
					refs++
				}
			}
			check(g.g.ID, "group-reference rules per basic group", refs, l.GroupRefRulesPerGroup, "reference fewer groups (a CIDR or a shared group instead)")
			for _, m := range g.members {
				ips += len(a.enis[m].e.SecondaryIPs) + 1
			}
			check(g.g.ID, "private IPs in a basic group", ips, l.BasicGroupIPs, "use an advanced group (65,536 ENIs) or split the members")
		}
	}
	perInst := map[string]int{}
	for _, e := range a.enis {
		if e.e.InstanceID != "" {
			perInst[e.e.InstanceID]++
		}
		if !in(e.e.VpcID) {
			continue
		}
		check(e.e.ID, "security groups per ENI", len(uniq(e.e.SecurityGroupIDs)), l.GroupsPerENI, "merge groups")
		n := 0
		for _, gid := range uniq(e.e.SecurityGroupIDs) {
			if gi, ok := a.groupIdx[gid]; ok {
				n += len(a.groups[gi].g.Rules)
			}
		}
		check(e.e.ID, "rules across the groups of an ENI", n, l.RulesPerENI, "merge rules or use fewer groups on the ENI")
		check(e.e.ID, "private IPv4 addresses per ENI", 1+len(e.e.SecondaryIPs), l.PrivateIPsPerENI, "use another ENI for more addresses")
	}
	for _, inst := range a.w.Instances {
		if in(inst.VpcID) {
			check(inst.ID, "ENIs per instance", perInst[inst.ID], l.ENIsPerInstance, "detach unused ENIs")
		}
	}
}

// Exposure of sensitive TCP ports to the internet.
//
// The internet reaches an ENI only through an EIP (IPv4), translated to
// the private address it is mapped to before the filters. For each such
// address and each sensitive port, the clients that can open a TCP
// connection are those whose SYN the receiver's network ACL (ingress) and
// security groups (ingress) admit, as policy.AdmittedSources computes them
// (the kernel's decision, tested differentially), and whose SYN-ACK the
// network ACL's egress entries let back out (ACLs are stateless; an
// analyze reach query says unreachable otherwise). Every rule and entry
// counts at once, so two rules "from 0.0.0.0/1" and "from 128.0.0.0/1"
// open a port as 0.0.0.0/0 does, and an ACL that does not admit the port
// closes it whatever the groups say. IPv6 sources never reach an EIP.
//
// A client chooses its source port: a client address counts as admitted
// when some source port of it is. The port is open to the whole internet
// (high) when every public IPv4 address is admitted, to part of it
// (medium) when at least partInternet public addresses are; fewer (an
// office, a VPN range, a partner) is not reported. Public addresses are
// those outside the special-purpose blocks of nonPublic4.

// partInternet is the number of admitted public addresses (a /8's worth)
// from which an open port is reported as open to part of the internet.
const partInternet = 1 << 24

// admitLimit bounds the ranges AdmittedSources may return for one port.
const admitLimit = 1 << 12

// nonPublic4 are the IPv4 blocks of the IANA special-purpose registry that
// are not globally reachable (RFC 6890 and successors), with multicast and
// the reserved 240.0.0.0/4: no internet client has such an address.
var nonPublic4 = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// span32 is an inclusive interval of IPv4 addresses.
type span32 struct{ lo, hi uint32 }

func (s span32) size() uint64 { return uint64(s.hi) - uint64(s.lo) + 1 }

func addr32(a netip.Addr) uint32 {
	b := a.Unmap().As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrOf32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func prefix32(p netip.Prefix) span32 {
	iv := ipspace.PrefixInterval(p.Masked())
	return span32{uint32(iv.Lo.Lo), uint32(iv.Hi.Lo)}
}

// public4 is the public IPv4 space, sorted disjoint intervals, and its size.
var public4, publicSize = func() ([]span32, uint64) {
	var blocks []span32
	for _, p := range nonPublic4 {
		blocks = append(blocks, prefix32(p))
	}
	slices.SortFunc(blocks, func(x, y span32) int { return cmp.Compare(x.lo, y.lo) })
	var out []span32
	var n uint64
	next := uint64(0)
	for _, b := range blocks {
		if uint64(b.lo) > next {
			out = append(out, span32{uint32(next), b.lo - 1})
			n += uint64(b.lo) - next
		}
		next = max(next, uint64(b.hi)+1)
	}
	if next <= 1<<32-1 {
		out = append(out, span32{uint32(next), 1<<32 - 1})
		n += 1<<32 - next
	}
	return out, n
}()

// clientRange is a block of internet clients: the addresses addr, each
// with the source ports sport.
type clientRange struct {
	addr  span32
	sport span
}

// minus appends the parts of c outside o to out (at most four).
func (c clientRange) minus(o clientRange, out []clientRange) []clientRange {
	if c.addr.hi < o.addr.lo || o.addr.hi < c.addr.lo || c.sport.hi < o.sport.lo || o.sport.hi < c.sport.lo {
		return append(out, c)
	}
	if c.addr.lo < o.addr.lo {
		out = append(out, clientRange{span32{c.addr.lo, o.addr.lo - 1}, c.sport})
		c.addr.lo = o.addr.lo
	}
	if c.addr.hi > o.addr.hi {
		out = append(out, clientRange{span32{o.addr.hi + 1, c.addr.hi}, c.sport})
		c.addr.hi = o.addr.hi
	}
	if c.sport.lo < o.sport.lo {
		out = append(out, clientRange{c.addr, span{c.sport.lo, o.sport.lo - 1}})
		c.sport.lo = o.sport.lo
	}
	if c.sport.hi > o.sport.hi {
		out = append(out, clientRange{c.addr, span{o.sport.hi + 1, c.sport.hi}})
	}
	return out
}

// intersect returns c ∩ o; ok is false when they do not overlap.
func (c clientRange) intersect(o clientRange) (clientRange, bool) {
	x := clientRange{span32{max(c.addr.lo, o.addr.lo), min(c.addr.hi, o.addr.hi)}, span{max(c.sport.lo, o.sport.lo), min(c.sport.hi, o.sport.hi)}}
	return x, x.addr.lo <= x.addr.hi && x.sport.lo <= x.sport.hi
}

// firewallSources returns the internet addresses the account's Internet
// firewall lets open a TCP connection to eip:port, as sorted disjoint
// spans; applies is false when no inbound policy of the account can judge
// it (none, or the firewall is off for the EIP): then it lets all in.
func (a *Analyzer) firewallSources(eip netip.Addr, port uint16) (allowed []span32, applies bool) {
	e := a.eipByAddr[eip]
	if e == nil || a.fwOff[eip] {
		return nil, false
	}
	fw := a.internetFirewall(e.AccountID)
	if len(fw.In) == 0 {
		return nil, false
	}
	remaining := []span32{{0, ^uint32(0)}}
	for _, r := range fw.In {
		if (r.Proto != 0 && r.Proto != policy.IPProtoTCP) ||
			(len(r.Ports) > 0 && !slices.ContainsFunc(r.Ports, func(x policy.Range) bool { return port >= x.From && port <= x.To })) ||
			!slices.ContainsFunc(r.Dst, func(p netip.Prefix) bool { return p.Contains(eip) }) {
			continue
		}
		var src []span32
		for _, p := range r.Src {
			if p.Addr().Is4() {
				lo := addr32(p.Masked().Addr())
				src = append(src, span32{lo, lo + uint32(uint64(1)<<(32-p.Bits())-1)})
			}
		}
		matched := spansIntersect(remaining, spansNormalize(src))
		if !r.Drop {
			allowed = spansNormalize(append(allowed, matched...))
		}
		remaining = spansMinus(remaining, matched)
	}
	return spansNormalize(append(allowed, remaining...)), true
}

// spansNormalize sorts and merges spans.
func spansNormalize(ss []span32) []span32 {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(x, y span32) int { return cmp.Compare(x.lo, y.lo) })
	var out []span32
	for _, s := range ss {
		if n := len(out); n > 0 && uint64(s.lo) <= uint64(out[n-1].hi)+1 {
			out[n-1].hi = max(out[n-1].hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

// spansIntersect intersects two normalized span lists.
func spansIntersect(a, b []span32) []span32 {
	var out []span32
	for _, x := range a {
		for _, y := range b {
			if lo, hi := max(x.lo, y.lo), min(x.hi, y.hi); lo <= hi {
				out = append(out, span32{lo, hi})
			}
		}
	}
	return spansNormalize(out)
}

// spansMinus removes b from a (both normalized).
func spansMinus(a, b []span32) []span32 {
	out := a
	for _, y := range b {
		var next []span32
		for _, x := range out {
			if y.hi < x.lo || x.hi < y.lo {
				next = append(next, x)
				continue
			}
			if x.lo < y.lo {
				next = append(next, span32{x.lo, y.lo - 1})
			}
			if y.hi < x.hi {
				next = append(next, span32{y.hi + 1, x.hi})
			}
		}
		out = next
	}
	return out
}

// restrictClients keeps the parts of the clients whose address is in
// allowed.
func restrictClients(cs []clientRange, allowed []span32) []clientRange {
	var out []clientRange
	for _, c := range cs {
		for _, s := range allowed {
			if x, ok := c.intersect(clientRange{s, anyPort}); ok {
				out = append(out, x)
			}
		}
	}
	return out
}

// mayOpenToInternet bounds internetExposure from above, cheaply: the
// public IPv4 addresses that some ingress accept rule of the ENI's groups
// could let in on TCP port (the union of their CIDRs) plus every member of
// its groups and of the groups its rules reference (intra-group and
// group-reference rules admit only those). Drop rules and the network ACL
// only take away, so below partInternet nothing can be reported and the
// exact (and far costlier) policy.AdmittedSources need not run.
func (a *Analyzer) mayOpenToInternet(e *eniInfo, port uint16) bool {
	var peers []clientRange
	var members uint64
	for _, gi := range e.memberOf {
		g := a.groups[gi]
		members += uint64(len(g.members))
		for i := range g.ingress {
			r := &g.ingress[i]
			if r.inert || r.drop || !r.proto.has(uint16(ProtoTCP)) || (r.ports && !r.dport.has(port)) {
				continue
			}
			switch {
			case r.peerGroup != "":
				if r.peerIdx >= 0 {
					members += uint64(len(a.groups[r.peerIdx].members))
				}
			case r.peer.Addr().Is4():
				peers = append(peers, clientRange{prefix32(r.peer), anyPort})
			}
		}
	}
	_, n := publicClients(peers)
	return n+members >= partInternet
}

// internetClients returns the internet clients (address, source port)
// that can open a TCP connection to port of the IPv4 address local of e:
// policy.AdmittedSources (ad's answer), less those whose reply the network
// ACL's egress entries drop. The ranges are disjoint. ok is false when the
// answer is too fragmented to compute (more than admitLimit ranges).
func (a *Analyzer) internetClients(ad *policy.Admitter, e *eniInfo, local netip.Addr, port uint16) (out []clientRange, ok bool) {
	return a.replyClients(e, ad.Admit(e.e.ID, local, port))
}

// replyClients is internetClients on the admission adm.
func (a *Analyzer) replyClients(e *eniInfo, adm policy.Admission) (out []clientRange, ok bool) {
	if !adm.OK {
		return nil, false
	}
	var in []clientRange
	if adm.All {
		in = []clientRange{{span32{0, 1<<32 - 1}, anyPort}}
	}
	for _, r := range adm.Ranges {
		in = append(in, clientRange{span32{addr32(r.Addr.From), addr32(r.Addr.To)}, span{r.SPort.From, r.SPort.To}})
	}
	if e.vsw == nil || e.vsw.NetworkAclID == "" || len(in) == 0 {
		return in, true
	}
	// The reply (local:port -> client:sport) leaves through the ACL's
	// egress entries, first match: exempt peers pass, an entry's CIDR is
	// the client's address and its ports the client's source port, no
	// match (or an ACL that does not exist) denies.
	decide := func(c clientRange, accept bool) bool {
		var rest []clientRange
		for _, r := range in {
			if x, hit := r.intersect(c); hit {
				if accept {
					out = append(out, x)
				}
				rest = r.minus(c, rest)
			} else {
				rest = append(rest, r)
			}
		}
		in = rest
		return len(in)+len(out) <= 4*admitLimit
	}
	for _, p := range aclExemptPrefixes {
		decide(clientRange{prefix32(p), anyPort}, true)
	}
	if ai := a.acls[e.vsw.NetworkAclID]; ai != nil {
		for _, r := range ai.egress {
			if r.inert || r.family != fam4 || !r.proto.has(uint16(ProtoTCP)) {
				continue
			}
			sport := anyPort
			if r.ports {
				sport = r.dport
			}
			if !decide(clientRange{prefix32(r.cidr), sport}, !r.drop) {
				return nil, false
			}
			if len(in) == 0 {
				break
			}
		}
	}
	return out, true
}

// publicClients clips client ranges to the public address space and
// returns the pieces and how many distinct public addresses they hold.
func publicClients(rs []clientRange) ([]clientRange, uint64) {
	var pieces []clientRange
	var addrs []span32
	for _, r := range rs {
		for _, p := range public4 {
			if x, ok := r.intersect(clientRange{p, anyPort}); ok {
				pieces = append(pieces, x)
				addrs = append(addrs, x.addr)
			}
		}
	}
	slices.SortFunc(addrs, func(x, y span32) int { return cmp.Compare(x.lo, y.lo) })
	var n uint64
	var cur span32
	for i, s := range addrs {
		switch {
		case i == 0:
			cur = s
		case uint64(s.lo) <= uint64(cur.hi)+1:
			cur.hi = max(cur.hi, s.hi)
		default:
			n += cur.size()
			cur = s
		}
	}
	if len(addrs) > 0 {
		n += cur.size()
	}
	return pieces, n
}

// maxAttribution bounds the probes that name the rules of one exposure.
const maxAttribution = 4096

// deciders names the security-group rules that admit the client ranges rs
// at port of local on e: the analyzer's evaluator (which agrees with
// policy's, down to the rule) at one client of each cell of rs cut by the
// rules' source CIDRs and source ports and by the addresses of the VPC's
// ENIs (group references and intra-group access), where every client is
// decided by the same rule. inner reports an admission by the intra-group
// policy; partial that the cells were too many to probe them all.
func (a *Analyzer) deciders(e *eniInfo, local netip.Addr, port uint16, rs []clientRange, vpcCuts []uint32) (rules []*srule, inner, partial bool) {
	acuts := slices.Clone(vpcCuts) // first addresses of cells
	scuts := []uint16{}
	for _, r := range a.contextOf(e).ingress {
		if r.peer.IsValid() && r.peer.Addr().Is4() {
			s := prefix32(r.peer)
			acuts = append(acuts, s.lo)
			if s.hi != 1<<32-1 {
				acuts = append(acuts, s.hi+1)
			}
		}
		if r.ports {
			scuts = append(scuts, r.sport.lo)
			if r.sport.hi != 65535 {
				scuts = append(scuts, r.sport.hi+1)
			}
		}
	}
	slices.Sort(acuts)
	acuts = slices.Compact(acuts)
	slices.Sort(scuts)
	scuts = slices.Compact(scuts)
	// starts returns lo and the cuts inside (lo, hi].
	starts32 := func(lo, hi uint32) []uint32 {
		out := []uint32{lo}
		i, _ := slices.BinarySearch(acuts, lo+1)
		for ; lo != hi && i < len(acuts) && acuts[i] <= hi; i++ {
			out = append(out, acuts[i])
		}
		return out
	}
	starts16 := func(lo, hi uint16) []uint16 {
		out := []uint16{lo}
		i, _ := slices.BinarySearch(scuts, lo+1)
		for ; lo != hi && i < len(scuts) && scuts[i] <= hi; i++ {
			out = append(out, scuts[i])
		}
		return out
	}
	seen := map[*srule]bool{}
	probes := 0
	for _, r := range rs {
		for _, addr := range starts32(r.addr.lo, r.addr.hi) {
			for _, sp := range starts16(r.sport.lo, r.sport.hi) {
				if probes++; probes > maxAttribution {
					return rules, inner, true
				}
				d := a.evalSG(e, model.Ingress, Packet{Src: addrOf32(addr), Dst: local, Proto: ProtoTCP, SrcPort: sp, DstPort: port})
				switch {
				case !d.allow:
				case d.by == ByIntraGroup:
					inner = true
				case d.by == ByRule && !seen[d.rule]:
					seen[d.rule] = true
					rules = append(rules, d.rule)
				}
			}
		}
	}
	return rules, inner, false
}

// publicENICuts returns the cell cuts of deciders for the public IPv4
// addresses held by ENIs of vpc (group references and intra-group access
// match them one by one; private ones never matter for the internet).
func (a *Analyzer) publicENICuts(vpc string) []uint32 {
	var out []uint32
	for _, o := range a.enis {
		if o.e.VpcID != vpc {
			continue
		}
		for _, ad := range o.e.Addrs() {
			if ad = ad.Unmap(); !ad.Is4() {
				continue
			}
			v := addr32(ad)
			if !slices.ContainsFunc(public4, func(p span32) bool { return p.lo <= v && v <= p.hi }) {
				continue
			}
			out = append(out, v)
			if v != 1<<32-1 {
				out = append(out, v+1)
			}
		}
	}
	return out
}

// classExposure is what internetExposure derives from one admission
// class at one ENI address: the public clients (pieces, n addresses) or
// tooMany, and once named, the rules that admit them.
type classExposure struct {
	tooMany        bool
	pieces         []clientRange
	n              uint64
	named          bool
	rules          []*srule
	inner, partial bool
}

// exposureKey gathers the exposures a finding reports: one severity, one
// set of deciding rules.
type exposureKey struct {
	severity string
	rules    string // group/rule IDs of the deciding rules
}

type exposureAcc struct {
	rules    []*srule
	inner    bool
	partial  bool
	resource string // the first rule's group, else the ENI
	ports    []string
	enis     []string // "eni-1 (EIP 47.0.0.1)"
	eniIDs   []string
}

// internetExposure reports, for each ENI of the audited VPCs with an EIP
// and each sensitive TCP port, a port open to the whole internet (high) or
// to a large part of it (medium), naming the rules that admit it; one
// finding gathers the ports and ENIs opened by one set of rules.
func (a *Analyzer) internetExposure(in func(string) bool) []Finding {
	var ad *policy.Admitter
	acc := map[exposureKey]*exposureAcc{}
	var order []exposureKey
	var out []Finding
	cuts := map[string][]uint32{}
	// judge decides one sensitive port of one address of e, which the
	// internet reaches as where: at eip:eipPort, directly or through a
	// WAF forwarding to it; byClass holds the admission classes already
	// judged for the address.
	judge := func(e *eniInfo, local netip.Addr, port uint16, where string, eip netip.Addr, eipPort int, byClass map[int]*classExposure) {
		if ad == nil {
			// One Admitter for the audit: it computes each distinct
			// admission once (ports to which the same rules apply,
			// ENIs with the same groups and vSwitch).
			ad = policy.NewAdmitter(policy.NewWorld(a.w.Groups, a.w.ENIs, a.w.VSwitches, a.w.ACLs), admitLimit)
		}
		label := fmt.Sprintf("tcp/%d (%s)", port, SensitivePorts[port])
		if !a.mayOpenToInternet(e, port) {
			return
		}
		adm := ad.Admit(e.e.ID, local, port)
		// The Internet firewall narrows the clients per EIP and port,
		// which admission classes do not know of: no cache then.
		fwAllowed, fwApplies := a.firewallSources(eip, uint16(eipPort))
		c := byClass[adm.Class]
		if c == nil || adm.Class == 0 || fwApplies {
			c = &classExposure{}
			clients, ok := a.replyClients(e, adm)
			c.tooMany = !ok
			if ok {
				if fwApplies {
					clients = restrictClients(clients, fwAllowed)
				}
				c.pieces, c.n = publicClients(clients)
			}
			if !fwApplies {
				byClass[adm.Class] = c
			}
		}
		if c.tooMany {
			out = append(out, Finding{SeverityMedium, CodeSensitivePortOpen, e.e.ID, "",
				fmt.Sprintf("%s may be open to the internet on %s: its network ACL and security groups are too fragmented for the audit to decide (over %d ranges)", label, where, admitLimit),
				"check it with palisade analyze reach --from <address> --to " + eip.String() + " --port " + fmt.Sprint(eipPort) + ", and merge rules and ACL entries"})
			return
		}
		sev := SeverityHigh
		switch n := c.n; {
		case n == publicSize:
		case n >= partInternet:
			sev = SeverityMedium
			label = fmt.Sprintf("tcp/%d (%s, from %.1f%% of public IPv4 addresses)", port, SensitivePorts[port], float64(n)*100/float64(publicSize))
		default:
			return
		}
		if !c.named {
			vc, done := cuts[e.e.VpcID]
			if !done {
				vc = a.publicENICuts(e.e.VpcID)
				cuts[e.e.VpcID] = vc
			}
			c.rules, c.inner, c.partial = a.deciders(e, local, port, c.pieces, vc)
			slices.SortStableFunc(c.rules, func(x, y *srule) int {
				if c := policy.CompareRuleOrder(x.priority, x.drop, y.priority, y.drop); c != 0 {
					return c
				}
				if c := strings.Compare(x.groupID, y.groupID); c != 0 {
					return c
				}
				return strings.Compare(x.rule.ID, y.rule.ID)
			})
			c.named = true
		}
		rules, inner, partial := c.rules, c.inner, c.partial
		var ids []string
		for _, r := range rules {
			ids = append(ids, r.groupID+"/"+r.rule.ID)
		}
		if inner {
			ids = append(ids, "intra-group")
		}
		k := exposureKey{sev, strings.Join(ids, ",")}
		x := acc[k]
		if x == nil {
			x = &exposureAcc{rules: rules, inner: inner, resource: e.e.ID}
			if len(rules) > 0 {
				x.resource = rules[0].groupID
			}
			acc[k] = x
			order = append(order, k)
		}
		x.partial = x.partial || partial
		if !slices.Contains(x.ports, label) {
			x.ports = append(x.ports, label)
		}
		if !slices.Contains(x.enis, where) {
			x.enis = append(x.enis, where)
		}
		if !slices.Contains(x.eniIDs, e.e.ID) {
			x.eniIDs = append(x.eniIDs, e.e.ID)
		}
	}
	for _, e := range a.enis {
		if !in(e.e.VpcID) {
			continue
		}
		for _, local := range e.e.Addrs() {
			local = local.Unmap()
			eip := a.eipByPrivate[eniAddr{e.e.ID, local}]
			if eip == nil || !local.Is4() {
				continue
			}
			where := fmt.Sprintf("%s (EIP %s)", e.e.ID, eip.Address)
			// The ports of one admission class have the same clients,
			// decided by the same rules: judged once per address.
			byClass := map[int]*classExposure{}
			for _, port := range sortedSensitive() {
				judge(e, local, port, where, eip.Address, int(port), byClass)
			}
		}
	}
	// A protected port whose WAF forwards to another address of the
	// instance exposes that address's upstream port to the internet (the
	// WAF connects from the client's own address, so its filters decide
	// as for a direct client), although no EIP maps to it. The upstream
	// at the EIP's own address is judged above: its ports are reached
	// directly too, under the same filters.
	for _, u := range a.wafUpstreams() {
		if !in(u.eip.e.e.VpcID) || SensitivePorts[u.up.port] == "" {
			continue
		}
		where := fmt.Sprintf("%s (%s, reached from the internet through the WAF of port %d of EIP %s)", u.up.eni.e.ID, u.up.addr, u.steer.Port, u.eip.Address)
		judge(u.up.eni, u.up.addr, u.up.port, where, u.eip.Address, u.steer.Port, map[int]*classExposure{})
	}
	for _, k := range order {
		out = append(out, a.exposureFinding(k.severity, acc[k]))
	}
	return out
}

// wafForward is a protected port whose WAF forwards to another address of
// the instance than the one its EIP maps to.
type wafForward struct {
	steer *WAFSteer
	eip   struct {
		Address netip.Addr
		e       *eniInfo
	}
	up wafUpstream
}

// wafUpstreams lists the protected ports whose WAF forwards to another
// address of the instance than the steered EIP's: the internet reaches
// that address through the WAF, although no EIP maps to it.
func (a *Analyzer) wafUpstreams() []wafForward {
	var out []wafForward
	for i := range a.w.WAF {
		w := &a.w.WAF[i]
		inst := a.insts[w.InstanceID]
		if inst == nil {
			continue
		}
		for j := range a.w.EIPs {
			eip := &a.w.EIPs[j]
			if eip.ID != a.steered[inst.ID] {
				continue
			}
			ei, ok := a.eniIdx[eip.ENIID]
			if !ok {
				continue
			}
			t := target{eni: a.enis[ei], addr: eip.PrivateIP.Unmap(), vpc: inst.VpcID}
			up, ok := a.wafUpstream(w, t)
			if !ok || up.eni == nil || up.addr == t.addr {
				continue
			}
			f := wafForward{steer: w, up: up}
			f.eip.Address, f.eip.e = eip.Address, t.eni
			out = append(out, f)
		}
	}
	return out
}

type eniPort struct {
	eni  string
	port uint16
}

// wafUpstreamPorts are the ENIs and ports of wafUpstreams.
func (a *Analyzer) wafUpstreamPorts() map[eniPort]bool {
	out := map[eniPort]bool{}
	for _, u := range a.wafUpstreams() {
		out[eniPort{u.up.eni.e.ID, u.up.port}] = true
	}
	return out
}

// exposureFinding words one gathered exposure.
func (a *Analyzer) exposureFinding(sev string, x *exposureAcc) Finding {
	f := Finding{Severity: sev, Code: CodeSensitivePortOpen, Resource: x.resource}
	sameGroup := true
	for _, r := range x.rules {
		sameGroup = sameGroup && r.groupID == x.resource
	}
	var names, ids []string
	for _, r := range x.rules {
		if sameGroup {
			names = append(names, fmt.Sprintf("%s (%s)", r.rule.ID, ruleSummary(r.rule)))
			ids = append(ids, r.rule.ID)
		} else {
			names = append(names, fmt.Sprintf("%s of %s (%s)", r.rule.ID, r.groupID, ruleSummary(r.rule)))
			ids = append(ids, r.rule.ID+" ("+r.groupID+")")
		}
	}
	if x.inner {
		names = append(names, "the intra-group policy")
	}
	who := "ingress rule " + strings.Join(names, "")
	verb := "opens"
	if len(names) > 1 {
		who, verb = "ingress rules "+strings.Join(names, ", "), "together open"
		if len(x.rules) == 0 || x.inner {
			who = strings.Join(names, ", ")
		}
	} else if len(x.rules) == 0 {
		who = strings.Join(names, "")
	}
	if x.partial {
		who += " and possibly others"
	}
	if len(x.rules) > 0 {
		f.Rule = x.rules[0].rule.ID
	}
	reach := "the whole internet"
	if sev != SeverityHigh {
		reach = "part of the internet"
	}
	enis := x.enis
	if len(enis) > 3 {
		enis = append(slices.Clone(enis[:3]), fmt.Sprintf("and %d more", len(enis)-3))
	}
	on := "on " + strings.Join(enis, ", ")
	if gi, ok := a.groupIdx[x.resource]; ok && len(x.rules) > 0 {
		on = fmt.Sprintf("on %d of the %d ENIs of %s: %s", len(x.eniIDs), len(a.groups[gi].members), x.resource, strings.Join(enis, ", "))
	}
	admits := "every public IPv4 address"
	if sev != SeverityHigh {
		admits = "at least a /8's worth of public IPv4 addresses"
	}
	f.Message = fmt.Sprintf("%s %s %s to %s %s; the network ACL and security groups admit %s through the EIP",
		who, verb, strings.Join(x.ports, ", "), reach, on, admits)
	if len(ids) == 0 {
		f.Fix = "restrict the port in the network ACL of the ENI's vSwitch, or take the ENI out of the groups that accept its peers"
		return f
	}
	f.Fix = "restrict the sources to the addresses that need it (a bastion, a VPN range, a security group), e.g. palisade sg rule add " + x.resource +
		" --direction ingress --protocol tcp --port <port> --cidr <your-range>, then remove " + strings.Join(ids, ", ") + "; or deny the port in the network ACL of the ENI's vSwitch"
	return f
}
