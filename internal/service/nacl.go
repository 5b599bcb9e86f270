package service

import (
	"context"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

func errACLNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidNetworkAclId.NotFound", "The specified NetworkAclId %q does not exist.", id)
}

// getACL reads a network ACL of the account.
func getACL(tx store.ReadTxn, accountID, id string) (*model.NetworkACL, error) {
	return getOwned(tx, model.PrefixNetworkACL, "NetworkAclId", accountID, id, func(v *model.NetworkACL) string { return v.AccountID }, errACLNotFound)
}

// ACLEntrySpec is an ACL entry as the API gives it.
type ACLEntrySpec struct {
	Param       string // the element's wire name, e.g. "IngressAclEntries.0"; "" names it by position from 1
	ID          string // NetworkAclEntryId: kept when given (an update of an existing entry)
	Name        string
	Description string
	Policy      string // accept (default) | drop
	Protocol    string // tcp | udp | icmp | gre | all
	Port        string // "start/end"; -1/-1 for icmp, gre, all
	Cidr        string // SourceCidrIp (ingress) or DestinationCidrIp (egress)
	EntryType   string // custom (default)
	IPVersion   string // IPv4 | IPv6, must agree with Cidr when given
}

// ParseACLEntry validates one entry of direction dir ("ingress"/"egress").
// param names the list element in errors, e.g. "IngressAclEntries.1".
func ParseACLEntry(dir, param string, spec ACLEntrySpec) (model.ACLEntry, error) {
	cidrParam := param + ".SourceCidrIp"
	if dir == model.Egress {
		cidrParam = param + ".DestinationCidrIp"
	}
	e := model.ACLEntry{ID: spec.ID, Name: spec.Name, Description: spec.Description, EntryType: "custom"}
	if e.ID == "" {
		e.ID = NewID("nae")
	}
	if err := validateName("IllegalParam.NetworkAclEntryName", param+".NetworkAclEntryName", spec.Name); err != nil {
		return e, err
	}
	if err := validateDescription(spec.Description); err != nil {
		return e, err
	}
	switch strings.ToLower(spec.EntryType) {
	case "", "custom":
	default:
		return e, errs.InvalidParam("IllegalParam.EntryType", "The specified %s.EntryType %q is not valid; use custom.", param, spec.EntryType)
	}
	switch strings.ToLower(spec.Policy) {
	case "", model.PolicyAccept:
		e.Policy = model.PolicyAccept
	case model.PolicyDrop:
		e.Policy = model.PolicyDrop
	default:
		return e, errs.InvalidParam("IllegalParam.Policy", "The specified %s.Policy %q is not valid; use accept or drop.", param, spec.Policy)
	}
	e.Protocol = strings.ToLower(spec.Protocol)
	switch e.Protocol {
	case model.ACLProtoTCP, model.ACLProtoUDP, model.ACLProtoICMP, model.ACLProtoGRE, model.ACLProtoAll:
	case "":
		return e, errs.MissingParameter(param + ".Protocol")
	default:
		return e, errs.InvalidParam("IllegalParam.Protocol", "The specified %s.Protocol %q is not valid; use tcp, udp, icmp, gre or all.", param, spec.Protocol)
	}
	ports, err := parseACLPorts(param+".Port", spec.Port, e.Protocol)
	if err != nil {
		return e, err
	}
	e.Ports = ports
	if spec.Cidr == "" {
		return e, errs.MissingParameter(cidrParam)
	}
	p, err := netip.ParsePrefix(spec.Cidr)
	if err != nil || p.Masked() != p {
		return e, errs.InvalidParam("IllegalParam.CidrIp", "The specified %s %q is not a network in CIDR notation (for example 10.0.0.0/24, host bits zero).", cidrParam, spec.Cidr)
	}
	switch strings.ToLower(spec.IPVersion) {
	case "":
	case "ipv4":
		if !p.Addr().Is4() {
			return e, errs.InvalidParam("IllegalParam.IpVersion", "%s.IpVersion is IPv4 but %s is %s.", param, cidrParam, p)
		}
	case "ipv6":
		if !p.Addr().Is6() {
			return e, errs.InvalidParam("IllegalParam.IpVersion", "%s.IpVersion is IPv6 but %s is %s.", param, cidrParam, p)
		}
	default:
		return e, errs.InvalidParam("IllegalParam.IpVersion", "The specified %s.IpVersion %q is not valid; use IPv4 or IPv6.", param, spec.IPVersion)
	}
	e.Cidr = p
	return e, nil
}

func parseACLPorts(param, v, proto string) (model.PortRange, error) {
	hasPorts := proto == model.ACLProtoTCP || proto == model.ACLProtoUDP
	if v == "" {
		if hasPorts {
			return model.PortRange{}, errs.MissingParameter(param)
		}
		return model.PortRange{From: -1, To: -1}, nil
	}
	from, to, ok := strings.Cut(v, "/")
	f, err1 := strconv.Atoi(from)
	t, err2 := strconv.Atoi(to)
	if !ok || err1 != nil || err2 != nil || !canonicalPort(from) || !canonicalPort(to) {
		return model.PortRange{}, errs.InvalidParam("IllegalParam.Port", "The specified %s %q is not valid; use start/end such as 80/80, or -1/-1.", param, v)
	}
	if !hasPorts {
		if f != -1 || t != -1 {
			return model.PortRange{}, errs.InvalidParam("IllegalParam.Port",
				"The specified %s %q is not valid for protocol %s: only -1/-1 is allowed (ports exist for tcp and udp only).", param, v, proto)
		}
		return model.PortRange{From: -1, To: -1}, nil
	}
	if f < 1 || t > 65535 || f > t {
		return model.PortRange{}, errs.InvalidParam("IllegalParam.Port",
			"The specified %s %q is not valid for protocol %s: use start/end with 1 <= start <= end <= 65535.", param, v, proto)
	}
	return model.PortRange{From: f, To: t}, nil
}

// parseACLEntries validates a direction's list against the quota.
func (s *Service) parseACLEntries(dir, listParam string, specs []ACLEntrySpec) ([]model.ACLEntry, error) {
	if len(specs) > s.cfg.Quotas.ACLEntriesPerDirection {
		return nil, errs.Quota("QuotaExceeded.NetworkAclEntry",
			"A network ACL holds at most %d %s entries; %d were given.", s.cfg.Quotas.ACLEntriesPerDirection, dir, len(specs))
	}
	out := make([]model.ACLEntry, 0, len(specs))
	seen := map[string]bool{}
	for i, spec := range specs {
		param := spec.Param
		if param == "" {
			param = listParam + "." + strconv.Itoa(i+1)
		}
		e, err := ParseACLEntry(dir, param, spec)
		if err != nil {
			return nil, err
		}
		if seen[e.ID] {
			return nil, errs.InvalidParameter(param+".NetworkAclEntryId", "entry %s is given twice", e.ID)
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	return out, nil
}

// CreateNetworkAclInput is the request of CreateNetworkAcl.
type CreateNetworkAclInput struct {
	VpcID, Name, Description string
	Ingress, Egress          []ACLEntrySpec
	Tags                     []model.Tag
	ClientToken              string
	DryRun                   bool
}

// CreateNetworkAcl creates an ACL in a VPC, with optional initial entries.
// A new ACL with no entries denies all traffic it filters once associated.
func (s *Service) CreateNetworkAcl(ctx context.Context, accountID string, in CreateNetworkAclInput) (model.NetworkACL, error) {
	var out model.NetworkACL
	if in.VpcID == "" {
		return out, errs.MissingParameter("VpcId")
	}
	if err := validateName("IllegalParam.NetworkAclName", "NetworkAclName", in.Name); err != nil {
		return out, err
	}
	if err := validateDescription(in.Description); err != nil {
		return out, err
	}
	ingress, err := s.parseACLEntries(model.Ingress, "IngressAclEntries", in.Ingress)
	if err != nil {
		return out, err
	}
	egress, err := s.parseACLEntries(model.Egress, "EgressAclEntries", in.Egress)
	if err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		var id string
		replayed, err := withClientToken(tx, accountID, "CreateNetworkAcl", in.ClientToken, in, &id, func() error {
			if _, err := getVPC(tx, accountID, in.VpcID); err != nil {
				return err
			}
			n := 0
			if err := listJSON(tx, model.PrefixNetworkACL, func(a *model.NetworkACL) error {
				if a.VpcID == in.VpcID {
					n++
				}
				return nil
			}); err != nil {
				return err
			}
			if n >= s.cfg.Quotas.NetworkAclsPerVpc {
				return errs.Quota("QuotaExceeded.NetworkAcl", "VPC %s already has %d network ACLs, the maximum.", in.VpcID, n)
			}
			if in.DryRun {
				return errDryRun
			}
			out = model.NetworkACL{
				ID: NewID("nacl"), AccountID: accountID, VpcID: in.VpcID, Name: in.Name,
				Description: in.Description, Status: "Available", Ingress: ingress, Egress: egress,
				Tags: in.Tags, CreatedAt: s.stamp(),
			}
			id = out.ID
			return putJSON(tx, model.PrefixNetworkACL+out.ID, &out)
		})
		if err != nil || !replayed {
			return err
		}
		a, err := getACL(tx, accountID, id)
		if err == nil {
			out = *a
		}
		return err
	})
	return out, err
}

// ACLView is an ACL with the vSwitches associated with it.
type ACLView struct {
	model.NetworkACL
	VSwitchIDs []string
}

func aclView(tx store.ReadTxn, a *model.NetworkACL) (ACLView, error) {
	v := ACLView{NetworkACL: *a, VSwitchIDs: []string{}}
	vsws, err := vpcVSwitches(tx, a.VpcID)
	for _, w := range vsws {
		if w.NetworkAclID == a.ID {
			v.VSwitchIDs = append(v.VSwitchIDs, w.ID)
		}
	}
	return v, err
}

// ACLFilter selects ACLs in DescribeNetworkAcls.
type ACLFilter struct {
	ID, VpcID, Name, ResourceID string
	Tags                        []model.Tag
}

// DescribeNetworkAcls lists the account's ACLs, oldest first.
func (s *Service) DescribeNetworkAcls(ctx context.Context, accountID string, f ACLFilter) ([]ACLView, error) {
	var out []ACLView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixNetworkACL, func(a *model.NetworkACL) error {
			if a.AccountID != accountID || (f.ID != "" && a.ID != f.ID) || (f.VpcID != "" && a.VpcID != f.VpcID) ||
				(f.Name != "" && a.Name != f.Name) || !hasTags(a.Tags, f.Tags) {
				return nil
			}
			v, err := aclView(tx, a)
			if err != nil {
				return err
			}
			if f.ResourceID != "" && !slices.Contains(v.VSwitchIDs, f.ResourceID) {
				return nil
			}
			out = append(out, v)
			return nil
		})
	})
	sortByCreation(out, func(v ACLView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

// DescribeNetworkAclAttributes returns one ACL.
func (s *Service) DescribeNetworkAclAttributes(ctx context.Context, accountID, id string) (ACLView, error) {
	var out ACLView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		out, err = aclView(tx, a)
		return err
	})
	return out, err
}

// ModifyNetworkAclAttributes renames an ACL or changes its description.
func (s *Service) ModifyNetworkAclAttributes(ctx context.Context, accountID, id string, name, description *string) error {
	if name != nil {
		if err := validateName("IllegalParam.NetworkAclName", "NetworkAclName", *name); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		if name != nil {
			a.Name = *name
		}
		if description != nil {
			a.Description = *description
		}
		return putJSON(tx, model.PrefixNetworkACL+a.ID, a)
	})
	return err
}

// UpdateNetworkAclEntries replaces the whole entry list of each direction
// whose flag is set (the list order is the priority). Both replacements
// are one store transaction, so the agent loads old or new, never a mix.
func (s *Service) UpdateNetworkAclEntries(ctx context.Context, accountID, id string, updIngress bool, ingress []ACLEntrySpec, updEgress bool, egress []ACLEntrySpec) error {
	if !updIngress && !updEgress {
		return errs.MissingParameter("UpdateIngressAclEntries or UpdateEgressAclEntries")
	}
	in, err := s.parseACLEntries(model.Ingress, "IngressAclEntries", ingress)
	if err != nil {
		return err
	}
	out, err := s.parseACLEntries(model.Egress, "EgressAclEntries", egress)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		if updIngress {
			a.Ingress = in
		}
		if updEgress {
			a.Egress = out
		}
		return putJSON(tx, model.PrefixNetworkACL+a.ID, a)
	})
	return err
}

// ACLResource is a resource to associate with an ACL.
type ACLResource struct {
	Param    string // the element's wire name, e.g. "Resource.0"; "" names it by position from 1
	ID, Type string
}

func checkACLResources(rs []ACLResource) error {
	if len(rs) == 0 {
		return errs.MissingParameter("Resource.N.ResourceId")
	}
	for i, r := range rs {
		param := r.Param
		if param == "" {
			param = "Resource." + strconv.Itoa(i+1)
		}
		if r.ID == "" {
			return errs.MissingParameter(param + ".ResourceId")
		}
		if !strings.EqualFold(r.Type, "VSwitch") {
			return errs.InvalidParam("IllegalParam.ResourceType",
				"The specified %s.ResourceType %q is not valid; network ACLs associate with VSwitch resources.", param, r.Type)
		}
	}
	return nil
}

// AssociateNetworkAcl binds vSwitches of the ACL's VPC to it. A vSwitch
// holds one ACL: binding one that has another fails.
func (s *Service) AssociateNetworkAcl(ctx context.Context, accountID, id string, rs []ACLResource) error {
	if err := checkACLResources(rs); err != nil {
		return err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		for _, r := range rs {
			w, err := getVSwitch(tx, accountID, r.ID)
			if err != nil {
				return err
			}
			if w.VpcID != a.VpcID {
				return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
					"vSwitch %s is in VPC %s; network ACL %s serves VPC %s only.", w.ID, w.VpcID, a.ID, a.VpcID)
			}
			if w.NetworkAclID == a.ID {
				continue
			}
			if w.NetworkAclID != "" {
				return errs.InvalidParam("OperationConflict.VSwitchAssociated",
					"vSwitch %s is already associated with network ACL %s; unassociate it first (a vSwitch has one ACL).", w.ID, w.NetworkAclID)
			}
			w.NetworkAclID = a.ID
			if err := putJSON(tx, model.PrefixVSwitch+w.ID, w); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// UnassociateNetworkAcl unbinds vSwitches from the ACL.
func (s *Service) UnassociateNetworkAcl(ctx context.Context, accountID, id string, rs []ACLResource) error {
	if err := checkACLResources(rs); err != nil {
		return err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		for _, r := range rs {
			w, err := getVSwitch(tx, accountID, r.ID)
			if err != nil {
				return err
			}
			if w.NetworkAclID != a.ID {
				return errs.InvalidParam("InvalidVSwitchId.NotAssociated",
					"vSwitch %s is not associated with network ACL %s.", w.ID, a.ID)
			}
			w.NetworkAclID = ""
			if err := putJSON(tx, model.PrefixVSwitch+w.ID, w); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// CopyNetworkAclEntries replaces the entries of id with copies of the
// entries of sourceID (same VPC or not, same account), with new entry IDs.
func (s *Service) CopyNetworkAclEntries(ctx context.Context, accountID, id, sourceID string) error {
	if sourceID == "" {
		return errs.MissingParameter("SourceNetworkAclId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		src, err := getACL(tx, accountID, sourceID)
		if err != nil {
			return err
		}
		fresh := func(es []model.ACLEntry) []model.ACLEntry {
			out := slices.Clone(es)
			for i := range out {
				out[i].ID = NewID("nae")
			}
			return out
		}
		a.Ingress, a.Egress = fresh(src.Ingress), fresh(src.Egress)
		return putJSON(tx, model.PrefixNetworkACL+a.ID, a)
	})
	return err
}

// DeleteNetworkAcl deletes an ACL that no vSwitch is associated with.
func (s *Service) DeleteNetworkAcl(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getACL(tx, accountID, id)
		if err != nil {
			return err
		}
		v, err := aclView(tx, a)
		if err != nil {
			return err
		}
		if len(v.VSwitchIDs) > 0 {
			return errs.DependencyViolation("Network ACL %s is associated with vSwitch %s; unassociate its vSwitches first.", a.ID, v.VSwitchIDs[0])
		}
		return tx.Delete(model.PrefixNetworkACL + a.ID)
	})
	return err
}
