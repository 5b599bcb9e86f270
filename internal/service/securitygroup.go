package service

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// CreateSecurityGroupInput is the request of CreateSecurityGroup.
type CreateSecurityGroupInput struct {
	VpcID         string
	Name          string
	Description   string
	Type          string // "" or normal: basic; enterprise: advanced
	ResourceGroup string
	Tags          []model.Tag
	ClientToken   string
}

// SecurityGroupView is a group with the counts DescribeSecurityGroups shows.
type SecurityGroupView struct {
	model.SecurityGroup
	ENICount           int // member ENIs (EcsCount)
	GroupRefRuleCount  int // rules that reference another group
	AvailableENISlots  int // remaining capacity (AvailableInstanceAmount)
	PeerGroupNames     map[string]string
	ReferencedByGroups []string
}

// SecurityGroupFilter selects groups in DescribeSecurityGroups.
type SecurityGroupFilter struct {
	VpcID         string
	IDs           []string
	Name          string
	Type          string
	ResourceGroup string
	Tags          []model.Tag
}

// validateGroupName checks a SecurityGroupName as the cloud does: 2-128
// characters, starting with a letter (Chinese characters are letters), then
// letters, digits, '.', '_', ':' and '-', and not starting with http:// or
// https://. Empty means not given.
func validateGroupName(name string) error {
	if name == "" {
		return nil
	}
	if why := nameProblem(name, true); why != "" {
		return errs.InvalidParam("InvalidSecurityGroupName.Malformed",
			"The specified SecurityGroupName %q is not valid: %s. Use 2-128 characters: letters (Chinese characters too), digits, '.', '_', ':' and '-', starting with a letter and not with http:// or https://.", name, why)
	}
	return nil
}

// nameProblem says what is wrong with the name of an instance or a
// security group ("" when nothing): the cloud's rule for both is 2-128
// characters (not bytes), the first a Unicode letter, the others letters,
// digits, '.', '_', ':' or '-'. With noURL, a name that starts with http://
// or https:// is named as such (the character set forbids it anyway).
func nameProblem(name string, noURL bool) string {
	lower := strings.ToLower(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "it is not valid UTF-8"
	case n < 2:
		return "it is shorter than 2 characters"
	case n > 128:
		return fmt.Sprintf("it is %d characters long, more than 128", n)
	case noURL && (strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://")):
		return "it starts with http:// or https://"
	}
	for i, r := range name {
		if i == 0 {
			if !unicode.IsLetter(r) {
				return fmt.Sprintf("it starts with %q, not a letter", r)
			}
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._:-", r) {
			return fmt.Sprintf("it contains %q", r)
		}
	}
	return ""
}

func validateDescription(d string) error {
	if len(d) > 256 || strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		return errs.InvalidParam("InvalidDescription.Malformed",
			"The specified Description is not valid: use at most 256 characters, not starting with http:// or https://.")
	}
	return nil
}

// CreateSecurityGroup creates a group in a VPC of the account.
func (s *Service) CreateSecurityGroup(ctx context.Context, accountID string, in CreateSecurityGroupInput) (string, error) {
	if in.VpcID == "" {
		return "", errs.MissingParameter("VpcId")
	}
	typ := model.GroupTypeBasic
	switch strings.ToLower(in.Type) {
	case "", "normal":
	case "enterprise":
		typ = model.GroupTypeAdvanced
	default:
		return "", errs.InvalidParam("InvalidSecurityGroupType.Malformed",
			"The specified SecurityGroupType %q is not valid; use normal (basic) or enterprise (advanced).", in.Type)
	}
	if err := validateGroupName(in.Name); err != nil {
		return "", err
	}
	if err := validateDescription(in.Description); err != nil {
		return "", err
	}
	var id string
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateSecurityGroup", in.ClientToken, in, &id, func() error {
			var vpc model.VPC
			ok, err := getJSON(tx, model.PrefixVPC+in.VpcID, &vpc)
			if err != nil {
				return err
			}
			if !ok || vpc.AccountID != accountID {
				return errs.NotFound("InvalidVpcId.NotFound", "The specified VpcId %q does not exist.", in.VpcID)
			}
			n := 0
			if err := listJSON(tx, model.PrefixSecurityGroup, func(g *model.SecurityGroup) error {
				if g.AccountID == accountID {
					n++
				}
				return nil
			}); err != nil {
				return err
			}
			if n >= s.cfg.Quotas.SecurityGroupsPerAccount {
				return errs.Quota("QuotaExceed.SecurityGroup",
					"The account already has %d security groups, the maximum; delete unused groups first.", n)
			}
			inner := model.InnerAccept
			if typ == model.GroupTypeAdvanced {
				inner = model.InnerDrop
			}
			sg := model.SecurityGroup{
				ID: NewID("sg"), AccountID: accountID, VpcID: in.VpcID, Name: in.Name,
				Description: in.Description, Type: typ, InnerAccessPolicy: inner,
				ResourceGroup: in.ResourceGroup, Tags: in.Tags, Rules: []model.Rule{}, CreatedAt: s.now(),
			}
			id = sg.ID
			return putJSON(tx, model.PrefixSecurityGroup+sg.ID, &sg)
		})
		return err
	})
	return id, err
}

// viewOf computes the counts of a group.
func (s *Service) viewOf(tx store.ReadTxn, sg *model.SecurityGroup) (SecurityGroupView, error) {
	v := SecurityGroupView{SecurityGroup: *sg}
	enis, ips, err := countMembers(tx, sg.ID)
	if err != nil {
		return v, err
	}
	v.ENICount = enis
	if sg.Type == model.GroupTypeAdvanced {
		v.AvailableENISlots = s.cfg.Quotas.AdvancedGroupENIs - enis
	} else {
		v.AvailableENISlots = s.cfg.Quotas.BasicGroupIPs - ips
	}
	for _, r := range sg.Rules {
		if r.PeerGroupID != "" {
			v.GroupRefRuleCount++
		}
	}
	return v, nil
}

func hasTags(have, want []model.Tag) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(t model.Tag) bool { return t.Key == w.Key && (w.Value == "" || t.Value == w.Value) }) {
			return false
		}
	}
	return true
}

// DescribeSecurityGroups lists the account's groups matching f, ordered by
// creation time then ID (stable across pages).
func (s *Service) DescribeSecurityGroups(ctx context.Context, accountID string, f SecurityGroupFilter) ([]SecurityGroupView, error) {
	var out []SecurityGroupView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = out[:0]
		visit := func(sg *model.SecurityGroup) error {
			if sg.AccountID != accountID ||
				(f.VpcID != "" && sg.VpcID != f.VpcID) ||
				(f.Name != "" && sg.Name != f.Name) ||
				(f.Type != "" && !strings.EqualFold(sg.Type, f.Type)) ||
				(f.ResourceGroup != "" && sg.ResourceGroup != f.ResourceGroup) ||
				!hasTags(sg.Tags, f.Tags) {
				return nil
			}
			v, err := s.viewOf(tx, sg)
			if err != nil {
				return err
			}
			out = append(out, v)
			return nil
		}
		if len(f.IDs) > 0 {
			// Direct lookups: cheap even with many groups in the store.
			for _, id := range f.IDs {
				var sg model.SecurityGroup
				ok, err := getJSON(tx, model.PrefixSecurityGroup+id, &sg)
				if err != nil {
					return err
				}
				if ok {
					if err := visit(&sg); err != nil {
						return err
					}
				}
			}
			return nil
		}
		return listJSON(tx, model.PrefixSecurityGroup, visit)
	})
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// DescribeSecurityGroupAttribute returns one group with its rules and the
// names of the groups its rules reference.
func (s *Service) DescribeSecurityGroupAttribute(ctx context.Context, accountID, id string) (SecurityGroupView, error) {
	var v SecurityGroupView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		sg, err := getGroup(tx, accountID, id)
		if err != nil {
			return err
		}
		v = SecurityGroupView{SecurityGroup: *sg, PeerGroupNames: map[string]string{}}
		for _, r := range sg.Rules {
			if r.PeerGroupID == "" {
				continue
			}
			if _, done := v.PeerGroupNames[r.PeerGroupID]; done {
				continue
			}
			var peer model.SecurityGroup
			if ok, err := getJSON(tx, model.PrefixSecurityGroup+r.PeerGroupID, &peer); err != nil {
				return err
			} else if ok {
				v.PeerGroupNames[r.PeerGroupID] = peer.Name
			}
		}
		return nil
	})
	return v, err
}

// ModifySecurityGroupAttribute changes the name and/or description.
func (s *Service) ModifySecurityGroupAttribute(ctx context.Context, accountID, id string, name, description *string) error {
	if name != nil {
		if err := validateGroupName(*name); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		sg, err := getGroup(tx, accountID, id)
		if err != nil {
			return err
		}
		if name != nil {
			sg.Name = *name
		}
		if description != nil {
			sg.Description = *description
		}
		return putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg)
	})
	return err
}

// ModifySecurityGroupPolicy sets InnerAccessPolicy (Accept or Drop,
// case-insensitive) of a basic group; advanced groups are always Drop.
func (s *Service) ModifySecurityGroupPolicy(ctx context.Context, accountID, id, policy string) error {
	var p string
	switch strings.ToLower(strings.TrimSpace(policy)) {
	case "accept":
		p = model.InnerAccept
	case "drop":
		p = model.InnerDrop
	case "":
		return errs.MissingParameter("InnerAccessPolicy")
	default:
		return errs.InvalidParam("InvalidInnerAccessPolicy.Malformed",
			"The specified InnerAccessPolicy %q is not valid; use Accept or Drop.", policy)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		sg, err := getGroup(tx, accountID, id)
		if err != nil {
			return err
		}
		if sg.Type == model.GroupTypeAdvanced {
			if p == model.InnerDrop {
				return nil
			}
			return errs.Forbidden("InvalidSecurityGroup.InvalidNetworkType",
				"Advanced security group %s always isolates its members; InnerAccessPolicy cannot be Accept.", id)
		}
		if sg.InnerAccessPolicy == p {
			return nil
		}
		sg.InnerAccessPolicy = p
		return putJSON(tx, model.PrefixSecurityGroup+sg.ID, sg)
	})
	return err
}

// referencingGroups returns the IDs of the groups whose rules reference
// id, sorted.
func referencingGroups(tx store.ReadTxn, id string) ([]string, error) {
	var refs []string
	err := listJSON(tx, model.PrefixSecurityGroup, func(g *model.SecurityGroup) error {
		if g.ID == id {
			return nil
		}
		for _, r := range g.Rules {
			if r.PeerGroupID == id {
				refs = append(refs, g.ID)
				break
			}
		}
		return nil
	})
	return refs, err
}

// DeleteSecurityGroup deletes a group with no members that no other group
// references.
func (s *Service) DeleteSecurityGroup(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		sg, err := getGroup(tx, accountID, id)
		if err != nil {
			return err
		}
		members, err := groupMemberENIs(tx, id)
		if err != nil {
			return err
		}
		if len(members) > 0 {
			return errs.DependencyViolation(
				"Security group %s still has %d network interface(s), e.g. %s; remove them from the group (LeaveSecurityGroup or ModifyNetworkInterfaceAttribute) first.",
				id, len(members), members[0])
		}
		refs, err := referencingGroups(tx, id)
		if err != nil {
			return err
		}
		if len(refs) > 0 {
			return errs.New(http.StatusForbidden, "InvalidOperation.ReferencedBySecurityGroup",
				"Security group %s is referenced by rules of %s; revoke those rules first (DescribeSecurityGroupReferences lists them).",
				id, strings.Join(refs, ", "))
		}
		if err := tx.Delete(model.PrefixSecurityGroup + id); err != nil {
			return err
		}
		if sg.IsDefault {
			var vpc model.VPC
			if ok, err := getJSON(tx, model.PrefixVPC+sg.VpcID, &vpc); err != nil {
				return err
			} else if ok && vpc.DefaultSecurityGroupID == id {
				vpc.DefaultSecurityGroupID = ""
				return putJSON(tx, model.PrefixVPC+vpc.ID, &vpc)
			}
		}
		return nil
	})
	return err
}

// DescribeSecurityGroupReferences returns, for each given group of the
// account, the groups of the account that reference it.
func (s *Service) DescribeSecurityGroupReferences(ctx context.Context, accountID string, ids []string) (map[string][]string, error) {
	if len(ids) == 0 {
		return nil, errs.MissingParameter("SecurityGroupId.1")
	}
	if len(ids) > 10 {
		return nil, errs.InvalidParameter("SecurityGroupId.N", "at most 10 security groups per call, got %d", len(ids))
	}
	out := map[string][]string{}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		want := map[string]bool{}
		for _, id := range ids {
			if _, err := getGroup(tx, accountID, id); err != nil {
				return err
			}
			want[id] = true
			out[id] = []string{}
		}
		return listJSON(tx, model.PrefixSecurityGroup, func(g *model.SecurityGroup) error {
			if g.AccountID != accountID {
				return nil
			}
			seen := map[string]bool{}
			for _, r := range g.Rules {
				if want[r.PeerGroupID] && r.PeerGroupID != g.ID && !seen[r.PeerGroupID] {
					seen[r.PeerGroupID] = true
					out[r.PeerGroupID] = append(out[r.PeerGroupID], g.ID)
				}
			}
			return nil
		})
	})
	return out, err
}
