package analysis

import (
	"cmp"
	"fmt"
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
)

// Finding is one result of the audit.
type Finding struct {
	Severity string
	Code     string
	Resource string // sg-, nacl-, eni-, vpc-, i- or "account"
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
				if f, ok := a.exposure(g, r, ctxOfGroup[g.idx]); ok {
					add(f)
				}
			}
		}
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

// exposure reports an ingress accept rule that opens a sensitive port to
// 0.0.0.0/0 or ::/0 and decides at least one such packet in a context of
// its group (the group alone when no ENI has it).
func (a *Analyzer) exposure(g *groupInfo, r *srule, ctxs []*context) (Finding, bool) {
	if r.drop || !strings.EqualFold(r.rule.Direction, model.Ingress) || r.peerGroup != "" || r.peer.Bits() != 0 {
		return Finding{}, false
	}
	if len(ctxs) == 0 {
		ctxs = []*context{a.buildContext([]string{g.g.ID})}
	}
	fam := prefixFamily(r.peer)
	var open []string
	for _, port := range sortedSensitive() {
		for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
			if !r.proto.has(uint16(proto)) || (r.ports && !r.dport.has(port)) {
				continue
			}
			if proto == ProtoUDP && port != 11211 && port != 135 && port != 139 {
				continue // UDP exposure matters for these only
			}
			if a.decidesSome(r, fam, ctxs, proto, port) {
				open = append(open, fmt.Sprintf("%s/%d (%s)", ProtoName(proto), port, SensitivePorts[port]))
			}
		}
	}
	if len(open) == 0 {
		return Finding{}, false
	}
	public := 0
	for _, m := range g.members {
		for _, ad := range a.enis[m].e.Addrs() {
			if a.eipByPrivate[eniAddr{a.enis[m].e.ID, ad.Unmap()}] != nil {
				public++
				break
			}
		}
	}
	return Finding{SeverityHigh, CodeSensitivePortOpen, g.g.ID, r.rule.ID,
		fmt.Sprintf("ingress rule %s (%s) opens %s to the whole internet (%s); %d of its %d ENIs have an EIP", r.rule.ID, ruleSummary(r.rule), strings.Join(open, ", "), r.peer, public, len(g.members)),
		"restrict the source to the addresses that need it (a bastion, a VPN range, a security group), e.g. palisade sg rule add " + g.g.ID + " --direction ingress --protocol tcp --port <port> --cidr <your-range>, then remove " + r.rule.ID}, true
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
