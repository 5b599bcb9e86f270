package service

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// checkDirection validates a rule direction.
func checkDirection(dir string) error {
	if dir != model.Ingress && dir != model.Egress {
		return errs.InvalidParameter("Direction", "use ingress or egress, got %q", dir)
	}
	return nil
}

// canonicalPort reports whether s is one end of a port range as the API
// writes it: "-1" or a decimal integer without sign, spaces or leading
// zeros. (strconv.Atoi alone would take "+22", and a caller trimming spaces
// " 22"; such a range would be stored as one the caller did not write.)
func canonicalPort(s string) bool {
	if s == "-1" || s == "0" {
		return true
	}
	if s == "" || s[0] == '0' || len(s) > 5 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkPortSyntax refuses a PortRange or SourcePortRange that is not
// written exactly "start/end" with canonical ends (see canonicalPort). An
// absent (empty or blank) value is left to ParseRule, which knows whether
// the protocol needs one; the values themselves (1-65535, start <= end,
// -1/-1 for protocols without ports) are ParseRule's too.
func checkPortSyntax(param, v string) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	if from, to, ok := strings.Cut(v, "/"); ok && canonicalPort(from) && canonicalPort(to) {
		return nil
	}
	return errs.InvalidParam("InvalidIpPortRange.Malformed",
		"The specified parameter %s %q is not valid: write start/end with plain decimal ports, without spaces, signs or leading zeros, such as 22/22, 1024/65535 or -1/-1.", param, v)
}

// checkRuleSyntax applies checkPortSyntax to a rule's port ranges.
func checkRuleSyntax(spec RuleSpec) error {
	if err := checkPortSyntax("PortRange", spec.PortRange); err != nil {
		return err
	}
	return checkPortSyntax("SourcePortRange", spec.SourcePortRange)
}

// resolvePeer checks what a parsed rule references: the peer group must be
// a group of the same account in the same VPC, and advanced groups neither
// reference nor get referenced. Prefix lists are not implemented, so a
// prefix list reference is refused as not found rather than silently
// matching nothing.
func resolvePeer(tx store.ReadTxn, accountID string, sg *model.SecurityGroup, r *model.Rule) error {
	names := paramNames(r.Direction)
	switch {
	case r.PeerGroupID != "":
		if r.PeerGroupOwnerID != "" && r.PeerGroupOwnerID != accountID {
			// Cross-account references would disclose another tenant's
			// membership; Palisade keeps accounts apart.
			return errs.NotFound("Invalid"+names.peerGroup+".NotFound",
				"The specified %s %q does not exist in your account.", names.peerGroup, r.PeerGroupID)
		}
		r.PeerGroupOwnerID = ""
		if sg.Type == model.GroupTypeAdvanced {
			return errs.InvalidParam("InvalidSecurityGroup.NotSupportReference",
				"Advanced security group %s cannot reference other security groups; use CIDR blocks.", sg.ID)
		}
		var peer model.SecurityGroup
		ok, err := getJSON(tx, model.PrefixSecurityGroup+r.PeerGroupID, &peer)
		if err != nil {
			return err
		}
		if !ok || peer.AccountID != accountID {
			return errs.NotFound("Invalid"+names.peerGroup+".NotFound",
				"The specified %s %q does not exist in your account.", names.peerGroup, r.PeerGroupID)
		}
		if peer.Type == model.GroupTypeAdvanced {
			return errs.InvalidParam("InvalidSecurityGroup.NotSupportReference",
				"Advanced security group %s cannot be referenced by other security groups.", peer.ID)
		}
		if peer.VpcID != sg.VpcID {
			return errs.InvalidParam("Invalid"+names.peerGroup+".Mismatch",
				"Security group %s is in VPC %s; a rule may reference only groups of its own VPC (%s).", peer.ID, peer.VpcID, sg.VpcID)
		}
	case r.PeerPrefixListID != "":
		return errs.NotFound("InvalidPrefixListId.NotFound",
			"The specified prefix list %q does not exist.", r.PeerPrefixListID)
	}
	return nil
}

// codeRuleLimit is the code of every rule-count limit: the rules of a
// group, its group-referencing rules, and the 1,000 rules pooled across the
// groups of one ENI. AuthorizeSecurityGroup, AuthorizeSecurityGroupEgress
// and ModifySecurityGroupRule document it ("The limit of authorization
// records in the security group reaches"); the membership actions
// (JoinSecurityGroup, ModifyNetworkInterfaceAttribute, CreateNetworkInterface,
// RunInstances) document no code of their own for the per-ENI limit, so
// the same limit answers the same code whichever action reaches it.
const codeRuleLimit = "AuthorizationLimitExceed"

// errRulesPerENI is the error of the per-ENI rule limit.
func errRulesPerENI(eniID string, total, limit int) error {
	return errs.Quota(codeRuleLimit,
		"Network interface %s would carry %d rules across its security groups; the maximum is %d.", eniID, total, limit)
}

// checkRuleQuotas enforces the per-group rule count, the group-reference
// rule count of basic groups, and the 1,000-rule total across the groups
// of every member ENI, for sg holding its new rule list.
func (s *Service) checkRuleQuotas(tx store.ReadTxn, sg *model.SecurityGroup) error {
	q := s.cfg.Quotas
	if len(sg.Rules) > q.RulesPerGroup {
		return errs.Quota(codeRuleLimit,
			"Security group %s would hold %d rules; the maximum is %d.", sg.ID, len(sg.Rules), q.RulesPerGroup)
	}
	refs := 0
	for _, r := range sg.Rules {
		if r.PeerGroupID != "" {
			refs++
		}
	}
	if refs > q.GroupRefRulesPerGroup {
		return errs.Quota(codeRuleLimit,
			"Security group %s would hold %d rules that reference other groups; the maximum is %d.", sg.ID, refs, q.GroupRefRulesPerGroup)
	}
	members, err := groupMemberENIs(tx, sg.ID)
	if err != nil {
		return err
	}
	ruleCount := map[string]int{sg.ID: len(sg.Rules)}
	for _, eniID := range members {
		var eni model.ENI
		ok, err := getJSON(tx, model.PrefixENI+eniID, &eni)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		total := 0
		for _, gid := range eni.SecurityGroupIDs {
			n, seen := ruleCount[gid]
			if !seen {
				var g model.SecurityGroup
				if _, err := getJSON(tx, model.PrefixSecurityGroup+gid, &g); err != nil {
					return err
				}
				n = len(g.Rules)
				ruleCount[gid] = n
			}
			total += n
		}
		if total > q.RulesPerENI {
			return errRulesPerENI(eniID, total, q.RulesPerENI)
		}
	}
	return nil
}

// AuthorizeRules adds rules of one direction to a group. All rules are
// validated first; a rule identical to an existing one (or to an earlier
// one in the same call) adds nothing. Nothing is written when any fails.
func (s *Service) AuthorizeRules(ctx context.Context, accountID, sgID, dir string, specs []RuleSpec, clientToken string) error {
	if err := checkDirection(dir); err != nil {
		return err
	}
	if len(specs) == 0 {
		return errs.MissingParameter("Permissions.1.IpProtocol")
	}
	if len(specs) > 100 {
		return errs.InvalidParameter("Permissions.N", "at most 100 rules per call, got %d", len(specs))
	}
	parsed := make([]model.Rule, len(specs))
	for i, spec := range specs {
		if err := checkRuleSyntax(spec); err != nil {
			return err
		}
		r, err := ParseRule(dir, spec)
		if err != nil {
			return err
		}
		parsed[i] = r
	}
	action := "AuthorizeSecurityGroup"
	if dir == model.Egress {
		action += "Egress"
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, action+"/"+sgID, clientToken, specs, &done, func() error {
			done = true
			sg, err := getGroup(tx, accountID, sgID)
			if err != nil {
				return err
			}
			now := s.now()
			added := 0
			for _, r := range parsed {
				if err := resolvePeer(tx, accountID, sg, &r); err != nil {
					return err
				}
				dup := false
				for _, old := range sg.Rules {
					if sameRule(old, r) {
						dup = true
						break
					}
				}
				if dup {
					continue
				}
				r.ID = NewID("sgr")
				r.CreatedAt = now
				sg.Rules = append(sg.Rules, r)
				added++
			}
			if added == 0 {
				return nil
			}
			if err := s.checkRuleQuotas(tx, sg); err != nil {
				return err
			}
			return putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg)
		})
		return err
	})
	return err
}

// errRevokeUnknownRule is the error of a Revoke call naming a rule ID that
// the group does not hold in that direction. Since 2024-07-08 the cloud
// documents one code per action: RevokeSecurityGroup answers
// InvalidParam.SecurityGroupRuleId, RevokeSecurityGroupEgress
// InvalidSecurityGroupRule.RuleNotExist (both 400).
func errRevokeUnknownRule(dir, sgID, id string) error {
	code := "InvalidParam.SecurityGroupRuleId"
	if dir == model.Egress {
		code = "InvalidSecurityGroupRule.RuleNotExist"
	}
	return errs.InvalidParam(code,
		"The specified SecurityGroupRuleId %q is not an %s rule of security group %s; list its rules with DescribeSecurityGroupAttribute.", id, dir, sgID)
}

// RevokeRules removes rules of one direction, by ID or by their fields. A
// rule ID that does not exist is an error (see errRevokeUnknownRule), and
// so is a rule ID given twice; a field-described rule that does not exist
// removes nothing and succeeds, as in the cloud.
func (s *Service) RevokeRules(ctx context.Context, accountID, sgID, dir string, specs []RuleSpec, ruleIDs []string) error {
	if err := checkDirection(dir); err != nil {
		return err
	}
	if len(specs) == 0 && len(ruleIDs) == 0 {
		return errs.MissingParameter("SecurityGroupRuleId.N | Permissions.N.IpProtocol")
	}
	for i, id := range ruleIDs {
		if slices.Contains(ruleIDs[:i], id) {
			return errs.InvalidParam("InvalidParam.SecurityGroupRuleIdRepeated",
				"The specified SecurityGroupRuleId %q is given twice; give each rule ID once.", id)
		}
	}
	parsed := make([]model.Rule, len(specs))
	for i, spec := range specs {
		if err := checkRuleSyntax(spec); err != nil {
			return err
		}
		r, err := ParseRule(dir, spec)
		if err != nil {
			return err
		}
		parsed[i] = r
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		sg, err := getGroup(tx, accountID, sgID)
		if err != nil {
			return err
		}
		remove := map[string]bool{}
		for _, id := range ruleIDs {
			found := false
			for _, r := range sg.Rules {
				if r.ID == id && r.Direction == dir {
					found = true
					break
				}
			}
			if !found {
				return errRevokeUnknownRule(dir, sgID, id)
			}
			remove[id] = true
		}
		for _, p := range parsed {
			p.PeerGroupOwnerID = ""
			for _, r := range sg.Rules {
				if sameRule(r, p) {
					remove[r.ID] = true
				}
			}
		}
		if len(remove) == 0 {
			return nil
		}
		kept := sg.Rules[:0]
		for _, r := range sg.Rules {
			if !remove[r.ID] {
				kept = append(kept, r)
			}
		}
		sg.Rules = kept
		return putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg)
	})
	return err
}

// RuleToSpec renders a stored rule back into its API form.
func RuleToSpec(r model.Rule) RuleSpec {
	spec := RuleSpec{
		IpProtocol:      r.Protocol,
		PortRange:       FormatPortRange(r.Ports),
		SourcePortRange: FormatPortRange(r.SourcePorts),
		PeerGroupID:     r.PeerGroupID,
		PeerPrefixList:  r.PeerPrefixListID,
		Policy:          r.Policy,
		Priority:        itoa(r.Priority),
		NicType:         r.NicType,
		Description:     r.Description,
	}
	if r.PeerCidr.IsValid() {
		if r.PeerCidr.Addr().Is4() {
			spec.PeerCidr = r.PeerCidr.String()
		} else {
			spec.PeerCidr6 = r.PeerCidr.String()
		}
	}
	if r.LocalCidr.IsValid() {
		if r.LocalCidr.Addr().Is4() {
			spec.LocalCidr = r.LocalCidr.String()
		} else {
			spec.LocalCidr6 = r.LocalCidr.String()
		}
	}
	return spec
}

// ModifyRule changes one rule in place (its ID stays). Fields set in patch
// replace the rule's; a new peer (any of the peer fields) replaces the old
// peer, likewise for the local address. The SDK never sends empty strings,
// so "set" means non-empty.
func (s *Service) ModifyRule(ctx context.Context, accountID, sgID, dir, ruleID string, patch RuleSpec) error {
	if err := checkDirection(dir); err != nil {
		return err
	}
	if ruleID == "" {
		return errs.MissingParameter("SecurityGroupRuleId")
	}
	if err := checkRuleSyntax(patch); err != nil {
		return err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		sg, err := getGroup(tx, accountID, sgID)
		if err != nil {
			return err
		}
		idx := -1
		for i, r := range sg.Rules {
			if r.ID == ruleID && r.Direction == dir {
				idx = i
				break
			}
		}
		if idx < 0 {
			return errs.NotFound("InvalidSecurityGroupRuleId.NotFound",
				"The specified %s rule %q does not exist in security group %s.", dir, ruleID, sgID)
		}
		old := sg.Rules[idx]
		if err := checkProtocolSwitch(old, patch); err != nil {
			return err
		}
		spec := mergeSpec(RuleToSpec(old), patch)
		r, err := ParseRule(dir, spec)
		if err != nil {
			return err
		}
		if err := resolvePeer(tx, accountID, sg, &r); err != nil {
			return err
		}
		for i, other := range sg.Rules {
			if i != idx && sameRule(other, r) {
				return errs.New(http.StatusBadRequest, "InvalidSecurityGroupRule.Duplicated",
					"The modified rule would be identical to rule %s of security group %s.", other.ID, sgID)
			}
		}
		r.ID, r.CreatedAt = old.ID, old.CreatedAt
		sg.Rules[idx] = r
		if err := s.checkRuleQuotas(tx, sg); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg)
	})
	return err
}

// checkProtocolSwitch refuses a patch that moves a rule from a protocol
// without ports (ICMP, ICMPv6, GRE, ALL: -1/-1) to TCP or UDP without
// giving the new PortRange: there is no old range to keep, and
// AuthorizeSecurityGroup likewise requires PortRange for TCP and UDP.
// (The other way, to a protocol without ports, an omitted PortRange
// becomes -1/-1, as AuthorizeSecurityGroup does; an explicit TCP-style
// range is refused by ParseRule as InvalidIpPortRange.Malformed.)
func checkProtocolSwitch(old model.Rule, patch RuleSpec) error {
	if strings.TrimSpace(patch.IpProtocol) == "" || strings.TrimSpace(patch.PortRange) != "" || HasPorts(old.Protocol) {
		return nil
	}
	p, ok := canonicalProtocol(patch.IpProtocol)
	if !ok || !HasPorts(p) {
		return nil // ParseRule names a bad protocol
	}
	return errs.New(http.StatusBadRequest, "MissingParameter",
		"The input parameter \"PortRange\" that is mandatory for processing this request is not supplied: rule %s changes from %s (no ports) to %s, so give its PortRange, such as 80/80.",
		old.ID, old.Protocol, p)
}

func mergeSpec(base, patch RuleSpec) RuleSpec {
	set := func(dst *string, v string) {
		if strings.TrimSpace(v) != "" {
			*dst = v
		}
	}
	if patch.PeerCidr != "" || patch.PeerCidr6 != "" || patch.PeerGroupID != "" || patch.PeerPrefixList != "" {
		base.PeerCidr, base.PeerCidr6, base.PeerGroupID, base.PeerGroupOwner, base.PeerPrefixList = "", "", "", "", ""
	}
	if patch.LocalCidr != "" || patch.LocalCidr6 != "" {
		base.LocalCidr, base.LocalCidr6 = "", ""
	}
	if patch.IpProtocol != "" {
		// A new protocol may change what a valid port range is; keep the
		// old range only when the patch does not give one.
		if !strings.EqualFold(patch.IpProtocol, base.IpProtocol) && patch.PortRange == "" {
			if p, ok := canonicalProtocol(patch.IpProtocol); ok && !HasPorts(p) {
				base.PortRange = "-1/-1"
				base.SourcePortRange = ""
			}
		}
	}
	set(&base.IpProtocol, patch.IpProtocol)
	set(&base.PortRange, patch.PortRange)
	set(&base.SourcePortRange, patch.SourcePortRange)
	set(&base.PeerCidr, patch.PeerCidr)
	set(&base.PeerCidr6, patch.PeerCidr6)
	set(&base.PeerGroupID, patch.PeerGroupID)
	set(&base.PeerGroupOwner, patch.PeerGroupOwner)
	set(&base.PeerPrefixList, patch.PeerPrefixList)
	set(&base.LocalCidr, patch.LocalCidr)
	set(&base.LocalCidr6, patch.LocalCidr6)
	set(&base.Policy, patch.Policy)
	set(&base.Priority, patch.Priority)
	set(&base.NicType, patch.NicType)
	set(&base.Description, patch.Description)
	return base
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
