package service

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Membership of ENIs in security groups is stored twice on purpose: the
// ENI lists its groups (ENI.SecurityGroupIDs, ordered) and each group has a
// key member/<sg>/<eni> so that "who is in this group" is a prefix scan,
// which group references (SourceGroupId) and capacity checks need.

func memberKey(sgID, eniID string) string { return model.PrefixMember + sgID + "/" + eniID }

// errGroupNotFound is the cloud's answer for a group that does not exist or
// belongs to another account.
func errGroupNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidSecurityGroupId.NotFound",
		"The specified SecurityGroupId %q does not exist.", id)
}

// getGroup reads a group of the account.
func getGroup(tx store.ReadTxn, accountID, id string) (*model.SecurityGroup, error) {
	return getOwned(tx, model.PrefixSecurityGroup, "SecurityGroupId", accountID, id, func(v *model.SecurityGroup) string { return v.AccountID }, errGroupNotFound)
}

// groupMemberENIs returns the IDs of the ENIs in a group, sorted.
func groupMemberENIs(tx store.ReadTxn, sgID string) ([]string, error) {
	prefix := model.PrefixMember + sgID + "/"
	var ids []string
	err := tx.List(prefix, func(key string, _ []byte) error {
		ids = append(ids, strings.TrimPrefix(key, prefix))
		return nil
	})
	return ids, err
}

// countMembers returns the number of ENIs in a group and their private
// IPv4 addresses (the capacity unit of basic groups).
func countMembers(tx store.ReadTxn, sgID string) (enis, ips int, err error) {
	ids, err := groupMemberENIs(tx, sgID)
	if err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		var eni model.ENI
		ok, err := getJSON(tx, model.PrefixENI+id, &eni)
		if err != nil {
			return 0, 0, err
		}
		if ok {
			enis++
			ips += 1 + len(eni.SecondaryIPs)
		}
	}
	return enis, ips, nil
}

// checkGroupsForENI validates a set of groups for one ENI in vpcID: each
// exists in the account, is in the same VPC, no duplicates, all of one type,
// at most Quotas.GroupsPerENI, and the pooled rule count fits RulesPerENI.
// It returns the groups in the given order.
func (s *Service) checkGroupsForENI(tx store.ReadTxn, accountID, vpcID string, ids []string) ([]*model.SecurityGroup, error) {
	if len(ids) == 0 {
		return nil, errs.MissingParameter("SecurityGroupId")
	}
	if len(ids) > s.cfg.Quotas.GroupsPerENI {
		return nil, errs.InvalidParam("InstanceSecurityGroupLimitExceeded",
			"An ENI can be in at most %d security groups; %d were given.", s.cfg.Quotas.GroupsPerENI, len(ids))
	}
	seen := map[string]bool{}
	groups := make([]*model.SecurityGroup, 0, len(ids))
	rules := 0
	for _, id := range ids {
		if seen[id] {
			return nil, errs.InvalidParameter("SecurityGroupId", "security group %s is given twice", id)
		}
		seen[id] = true
		sg, err := getGroup(tx, accountID, id)
		if err != nil {
			return nil, err
		}
		if sg.VpcID != vpcID {
			return nil, errs.InvalidParam("InvalidSecurityGroupId.VPCMismatch",
				"Security group %s is in VPC %s, not in the ENI's VPC %s.", id, sg.VpcID, vpcID)
		}
		if len(groups) > 0 && groups[0].Type != sg.Type {
			return nil, errs.InvalidParam("InvalidSecurityGroupType.Mixed",
				"An ENI cannot be in basic and advanced security groups at once (%s is %s, %s is %s).",
				groups[0].ID, groups[0].Type, sg.ID, sg.Type)
		}
		rules += len(sg.Rules)
		groups = append(groups, sg)
	}
	if rules > s.cfg.Quotas.RulesPerENI {
		// The same limit and code as AuthorizeSecurityGroup's (codeRuleLimit).
		return nil, errs.Quota(codeRuleLimit,
			"The security groups on one ENI may hold at most %d rules in total; these hold %d.", s.cfg.Quotas.RulesPerENI, rules)
	}
	return groups, nil
}

// addMember records eni as a member of sg after checking the group's
// capacity (basic: private IPs; advanced: ENIs). The ENI record itself is
// written by the caller.
func (s *Service) addMember(tx store.Txn, sg *model.SecurityGroup, eni *model.ENI) error {
	key := memberKey(sg.ID, eni.ID)
	if _, ok, err := tx.Get(key); err != nil {
		return err
	} else if ok {
		return nil
	}
	enis, ips, err := countMembers(tx, sg.ID)
	if err != nil {
		return err
	}
	if sg.Type == model.GroupTypeAdvanced && enis+1 > s.cfg.Quotas.AdvancedGroupENIs {
		return errs.New(http.StatusForbidden, "SecurityGroupInstanceLimitExceeded",
			"Advanced security group %s already holds %d ENIs, the maximum.", sg.ID, enis)
	}
	if sg.Type != model.GroupTypeAdvanced && ips+1+len(eni.SecondaryIPs) > s.cfg.Quotas.BasicGroupIPs {
		return errs.New(http.StatusForbidden, "SecurityGroupInstanceLimitExceeded",
			"Basic security group %s would hold more than %d private IPs.", sg.ID, s.cfg.Quotas.BasicGroupIPs)
	}
	return tx.Put(key, nil)
}

// removeMember deletes the membership key of eni in sg.
func (s *Service) removeMember(tx store.Txn, sgID, eniID string) error {
	return tx.Delete(memberKey(sgID, eniID))
}

// checkCapacityAfterIPChange re-checks basic groups' private-IP capacity
// after an ENI gained addresses (AssignPrivateIpAddresses). eni must hold
// the new address list and must not be written yet.
func (s *Service) checkCapacityAfterIPChange(tx store.ReadTxn, eni *model.ENI, added int) error {
	for _, id := range eni.SecurityGroupIDs {
		var sg model.SecurityGroup
		ok, err := getJSON(tx, model.PrefixSecurityGroup+id, &sg)
		if err != nil || !ok || sg.Type == model.GroupTypeAdvanced {
			if err != nil {
				return err
			}
			continue
		}
		_, ips, err := countMembers(tx, id)
		if err != nil {
			return err
		}
		if ips+added > s.cfg.Quotas.BasicGroupIPs {
			return errs.New(http.StatusForbidden, "SecurityGroupInstanceLimitExceeded",
				"Basic security group %s would hold more than %d private IPs.", id, s.cfg.Quotas.BasicGroupIPs)
		}
	}
	return nil
}

// ensureDefaultSecurityGroup returns the VPC's default security group,
// creating it when missing: basic, inbound TCP 22, TCP 3389 and ICMP from
// 0.0.0.0/0 at priority 100 (SEMANTICS.md Part A). The VPC record is
// updated with its ID.
func (s *Service) ensureDefaultSecurityGroup(tx store.Txn, accountID, vpcID string) (*model.SecurityGroup, error) {
	var vpc model.VPC
	ok, err := getJSON(tx, model.PrefixVPC+vpcID, &vpc)
	if err != nil {
		return nil, err
	}
	if !ok || vpc.AccountID != accountID {
		return nil, errs.NotFound("InvalidVpcId.NotFound", "The specified VpcId %q does not exist.", vpcID)
	}
	if vpc.DefaultSecurityGroupID != "" {
		sg, err := getGroup(tx, accountID, vpc.DefaultSecurityGroupID)
		if err == nil {
			return sg, nil
		}
		if !errs.HasCode(err, "InvalidSecurityGroupId.NotFound") {
			return nil, err
		}
	}
	now := s.now()
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	rule := func(proto string, port int) model.Rule {
		r := model.Rule{
			ID: NewID("sgr"), Direction: model.Ingress, Protocol: proto,
			Ports: model.PortRange{From: -1, To: -1}, PeerCidr: any4,
			Policy: model.PolicyAccept, Priority: 100, NicType: "intranet", CreatedAt: now,
		}
		if port > 0 {
			r.Ports = model.PortRange{From: port, To: port}
		}
		return r
	}
	sg := &model.SecurityGroup{
		ID: NewID("sg"), AccountID: accountID, VpcID: vpcID,
		Name:              fmt.Sprintf("sg-default-%s", vpcID),
		Description:       "System created default security group.",
		Type:              model.GroupTypeBasic,
		InnerAccessPolicy: model.InnerAccept,
		IsDefault:         true,
		Rules:             []model.Rule{rule(model.ProtoTCP, 22), rule(model.ProtoTCP, 3389), rule(model.ProtoICMP, 0)},
		CreatedAt:         now,
	}
	if err := putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg); err != nil {
		return nil, err
	}
	vpc.DefaultSecurityGroupID = sg.ID
	if err := putJSON(tx, model.PrefixVPC+vpcID, &vpc); err != nil {
		return nil, err
	}
	return sg, nil
}
