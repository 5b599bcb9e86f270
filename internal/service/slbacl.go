package service

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Access control lists of load balancer listeners (Slb 2014-05-15, CLB
// "access control"): CreateAccessControlList, DeleteAccessControlList,
// DescribeAccessControlLists, DescribeAccessControlListAttribute,
// SetAccessControlListAttribute, AddAccessControlListEntry and
// RemoveAccessControlListEntry. A TCP or UDP listener uses one list with
// AclStatus on, AclType white (only the sources of its entries are
// forwarded) or black (they are refused) and AclId (slb.go:
// ListenerSpec); a list without entries admits everyone, white or black,
// as the cloud documents. The agent of the load balancer's zone filters
// the listener's new connections by it (the lists are mirrored to agents).
//
// Decisions (where the cloud's documentation leaves a choice):
//   - IPv4 only, like the load balancers: AddressIPVersion "" or ipv4;
//     ipv6 is refused (OperationUnsupported.AddressIPVersion).
//   - AclName is required: 1-80 characters, letters, digits, ".", "-",
//     "/" and "_", unique among the account's lists (AclNameExist: the
//     cloud's "unique within each region"). DescribeAccessControlLists'
//     AclName matches names that contain it (the cloud's fuzzy match).
//   - An entry is an IPv4 address (a /32) or CIDR block. A block with
//     host bits set (10.0.0.1/24) is refused, naming the block meant
//     (10.0.0.0/24), never silently masked: a list holds each block once,
//     in one spelling (a bare address is shown as /32). Comments: at most
//     100 characters, no control characters.
//   - Entries of a list are unique: adding one it has is refused
//     (Duplicated.AclEntry), removing one it does not have too
//     (ResourceNotFound.AclEntry); an entry given twice in one call is
//     InvalidParameter. At most LBACLEntriesPerCall (50) entries per Add
//     or Remove call. Each call is all or nothing.
//   - Limits: a list holds at most Quotas.LBACLEntries (1000) entries,
//     the cloud's limit of a listener's list: a listener has one list, so
//     the bound of the list is the bound of each listener that uses it
//     (OverQuota; associating a list is checked against it again); a list
//     is used by at most Quotas.LBListenersPerACL (50) listeners
//     (OverQuota); an account has at most Quotas.LBACLsPerAccount (50)
//     lists (AclNumberOverLimit).
//   - A list may lose all its entries while listeners use it (it then
//     admits everyone). DeleteAccessControlList is refused while a
//     listener uses it (AclInUsed, naming them); deleting the listener or
//     its load balancer ends the use.
//   - No ClientToken: the SDK sends none for these actions.
//
// Error codes (HTTP status):
//   - AclNotExist (404): no such list of the caller (another account's
//     list does not exist for it).
//   - MissingParameter (400): AclId, AclName, AclEntrys; InvalidParameter
//     (400): malformed, out of range, too many entries in one call, an
//     entry given twice; OperationUnsupported.AddressIPVersion (400).
//   - AclNameExist (400); Duplicated.AclEntry (400);
//     ResourceNotFound.AclEntry (404).
//   - AclNumberOverLimit (400): lists per account; OverQuota (400):
//     entries per list, listeners per list.
//   - AclInUsed (400): deleting a list that listeners use.

// Limits of access control lists.
const (
	LBACLEntriesPerCall      = 50
	DefaultLBACLsPerAccount  = 50
	DefaultLBACLEntries      = 1000
	DefaultLBListenersPerACL = 50
	lbACLIDParam             = "AclId"
	lbACLCommentMax          = 100
)

func errLBACLNotFound(id string) *errs.Error {
	return errs.NotFound("AclNotExist", "The specified AclId %q does not exist: give the ID (acl-...) of an access control list of your account.", id)
}

// getLBACL reads an access control list of the account.
func getLBACL(tx store.ReadTxn, accountID, id string) (*model.LBAccessControlList, error) {
	return getOwned(tx, model.PrefixLBACL, lbACLIDParam, accountID, id, func(v *model.LBAccessControlList) string { return v.AccountID }, errLBACLNotFound)
}

// checkLBACLName checks an AclName: 1-80 letters, digits, ".", "-", "/"
// and "_".
func checkLBACLName(name string) error {
	if name == "" {
		return errs.MissingParameter("AclName")
	}
	if n := utf8.RuneCountInString(name); n > 80 || !utf8.ValidString(name) {
		return errs.InvalidParameter("AclName", "use 1-80 characters (letters, digits, periods, hyphens, forward slashes and underscores)")
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".-/_", r) {
			return errs.InvalidParameter("AclName", "%q contains %q: use letters, digits, periods (.), hyphens (-), forward slashes (/) and underscores (_)", name, r)
		}
	}
	return nil
}

// checkLBACLIPVersion checks an AddressIPVersion of a list ("" is ipv4).
func checkLBACLIPVersion(v string) error {
	switch strings.ToLower(v) {
	case "", LBAddressIPv4:
		return nil
	case "ipv6":
		return slbUnsupported("AddressIPVersion", "access control lists are IPv4, like Palisade's load balancers: use AddressIPVersion ipv4 (or leave it out).")
	}
	return errs.InvalidParameter("AddressIPVersion", "%q is not ipv4", v)
}

// lbACLNameTaken refuses a name another list of the account has
// (AclNameExist).
func lbACLNameTaken(tx store.ReadTxn, accountID, name, exceptID string) error {
	return listJSON(tx, model.PrefixLBACL, func(a *model.LBAccessControlList) error {
		if a.AccountID == accountID && a.ID != exceptID && a.Name == name {
			return errs.InvalidParam("AclNameExist", "The AclName %q is already the name of access control list %s: choose another name.", name, a.ID)
		}
		return nil
	})
}

// CreateLBACLInput is the request of CreateAccessControlList.
type CreateLBACLInput struct {
	Name             string
	AddressIPVersion string // "" or ipv4
	ResourceGroupID  string
	Tags             []model.Tag
}

// CreateLBACL creates an empty access control list.
func (s *Service) CreateLBACL(ctx context.Context, accountID string, in CreateLBACLInput) (model.LBAccessControlList, error) {
	var out model.LBAccessControlList
	if err := checkLBACLName(in.Name); err != nil {
		return out, err
	}
	if err := checkLBACLIPVersion(in.AddressIPVersion); err != nil {
		return out, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		n := 0
		if err := listJSON(tx, model.PrefixLBACL, func(a *model.LBAccessControlList) error {
			if a.AccountID == accountID {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		if limit := s.cfg.Quotas.LBACLsPerAccount; n >= limit {
			return errs.InvalidParam("AclNumberOverLimit",
				"An account may have at most %d access control lists and this one has %d: delete unused ones (DeleteAccessControlList) or ask the operator to raise the quota.", limit, n)
		}
		if err := lbACLNameTaken(tx, accountID, in.Name, ""); err != nil {
			return err
		}
		out = model.LBAccessControlList{
			ID: NewID("acl"), AccountID: accountID, RegionID: s.cfg.Region, Name: in.Name, AddressIPVersion: LBAddressIPv4,
			Entries: []model.LBACLEntry{}, CreatedAt: s.stamp(), ResourceGroupID: in.ResourceGroupID, Tags: in.Tags,
		}
		return putJSON(tx, model.PrefixLBACL+out.ID, out)
	})
	return out, err
}

// LBACLListener is a listener that uses an access control list.
type LBACLListener struct {
	LoadBalancerID string
	Port           int
	Protocol       string
	AclType        string // model.LBACLWhite or LBACLBlack
}

func (l LBACLListener) String() string {
	return fmt.Sprintf("%s %s:%d", l.LoadBalancerID, strings.ToUpper(l.Protocol), l.Port)
}

// lbACLUsers returns the listeners that use list aclID, by load balancer
// (oldest first) and listener; replace, when set, stands for the stored
// version of its load balancer (a change not yet written).
func lbACLUsers(tx store.ReadTxn, aclID string, replace *model.LoadBalancer) ([]LBACLListener, error) {
	var lbs []*model.LoadBalancer
	if err := listJSON(tx, model.PrefixLoadBalancer, func(lb *model.LoadBalancer) error {
		if replace == nil || lb.ID != replace.ID {
			lbs = append(lbs, lb)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if replace != nil {
		lbs = append(lbs, replace)
	}
	slices.SortFunc(lbs, func(a, b *model.LoadBalancer) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	var out []LBACLListener
	for _, lb := range lbs {
		for _, l := range lb.Listeners {
			if l.AclStatus == model.LBACLOn && l.AclID == aclID {
				out = append(out, LBACLListener{LoadBalancerID: lb.ID, Port: l.Port, Protocol: l.Protocol, AclType: l.AclType})
			}
		}
	}
	return out, nil
}

// listenerNames lists at most 10 listeners for a message.
func listenerNames(ls []LBACLListener) string {
	var names []string
	for i, l := range ls {
		if i == 10 {
			names = append(names, fmt.Sprintf("and %d more", len(ls)-i))
			break
		}
		names = append(names, l.String())
	}
	return strings.Join(names, ", ")
}

// DeleteLBACL deletes an access control list no listener uses.
func (s *Service) DeleteLBACL(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getLBACL(tx, accountID, id)
		if err != nil {
			return err
		}
		users, err := lbACLUsers(tx, a.ID, nil)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errs.InvalidParam("AclInUsed",
				"Access control list %s is used by %d listener(s): %s. Turn their access control off (AclStatus off) or give them another list first.", a.ID, len(users), listenerNames(users))
		}
		return tx.Delete(model.PrefixLBACL + a.ID)
	})
	return err
}

// LBACLView is an access control list with the listeners that use it
// (DescribeAccessControlListAttribute).
type LBACLView struct {
	model.LBAccessControlList
	Listeners []LBACLListener
}

// GetLBACL returns an access control list of the caller with its
// listeners.
func (s *Service) GetLBACL(ctx context.Context, accountID, id string) (LBACLView, error) {
	var out LBACLView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		a, err := getLBACL(tx, accountID, id)
		if err != nil {
			return err
		}
		users, err := lbACLUsers(tx, a.ID, nil)
		if err != nil {
			return err
		}
		out = LBACLView{LBAccessControlList: *a, Listeners: users}
		return nil
	})
	return out, err
}

// LBACLQuery selects lists in DescribeAccessControlLists; empty fields
// match all.
type LBACLQuery struct {
	Name             string // names that contain it
	AddressIPVersion string
	ResourceGroupID  string
	Tags             []model.Tag
}

// DescribeLBACLs lists the caller's access control lists, oldest first.
func (s *Service) DescribeLBACLs(ctx context.Context, accountID string, q LBACLQuery) ([]model.LBAccessControlList, error) {
	var out []model.LBAccessControlList
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixLBACL, func(a *model.LBAccessControlList) error {
			if a.AccountID == accountID && strings.Contains(a.Name, q.Name) &&
				(q.AddressIPVersion == "" || strings.EqualFold(q.AddressIPVersion, a.AddressIPVersion)) &&
				(q.ResourceGroupID == "" || a.ResourceGroupID == q.ResourceGroupID) && hasTags(a.Tags, q.Tags) {
				out = append(out, *a)
			}
			return nil
		})
	})
	sortByCreation(out, func(a model.LBAccessControlList) (int64, string) { return a.CreatedAt.UnixNano(), a.ID })
	return out, err
}

// SetLBACLName renames an access control list.
func (s *Service) SetLBACLName(ctx context.Context, accountID, id, name string) error {
	if err := checkLBACLName(name); err != nil {
		return err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		a, err := getLBACL(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := lbACLNameTaken(tx, accountID, name, a.ID); err != nil {
			return err
		}
		a.Name = name
		return putJSON(tx, model.PrefixLBACL+a.ID, a)
	})
	return err
}

// LBACLEntrySpec is one element of an AclEntrys parameter.
type LBACLEntrySpec struct {
	Entry   string // an IPv4 address or CIDR block
	Comment string
}

// ParseLBACLEntry parses an entry: an IPv4 address (a /32) or an IPv4
// CIDR block without host bits.
func ParseLBACLEntry(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, errs.InvalidParameter("AclEntrys", "entry %q is not an IPv4 address or CIDR block (such as 10.0.0.1 or 10.0.0.0/24)", v)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, errs.InvalidParameter("AclEntrys", "entry %q is not an IPv4 address or CIDR block (such as 10.0.0.1 or 10.0.0.0/24)", v)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, errs.InvalidParameter("AclEntrys", "entry %s has host bits set: give the block %s (or the address %s alone)", p, m, p.Addr())
	}
	return p, nil
}

// parseLBACLEntries checks the elements of an AclEntrys parameter.
func parseLBACLEntries(specs []LBACLEntrySpec) ([]model.LBACLEntry, error) {
	if len(specs) == 0 {
		return nil, errs.MissingParameter("AclEntrys")
	}
	if len(specs) > LBACLEntriesPerCall {
		return nil, errs.InvalidParameter("AclEntrys", "at most %d entries per call, got %d", LBACLEntriesPerCall, len(specs))
	}
	out := make([]model.LBACLEntry, 0, len(specs))
	for i, sp := range specs {
		if strings.TrimSpace(sp.Entry) == "" {
			return nil, errs.InvalidParameter("AclEntrys", "element %d has no entry: give {\"entry\":\"10.0.0.0/24\",\"comment\":\"...\"}", i)
		}
		p, err := ParseLBACLEntry(sp.Entry)
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(sp.Comment) > lbACLCommentMax || !utf8.ValidString(sp.Comment) ||
			strings.ContainsFunc(sp.Comment, unicode.IsControl) {
			return nil, errs.InvalidParameter("AclEntrys", "the comment of entry %s: use at most %d characters, without control characters", p, lbACLCommentMax)
		}
		if slices.ContainsFunc(out, func(e model.LBACLEntry) bool { return e.Entry == p }) {
			return nil, errs.InvalidParameter("AclEntrys", "entry %s is given twice", p)
		}
		out = append(out, model.LBACLEntry{Entry: p, Comment: sp.Comment})
	}
	return out, nil
}

func hasLBACLEntry(a *model.LBAccessControlList, p netip.Prefix) bool {
	return slices.ContainsFunc(a.Entries, func(e model.LBACLEntry) bool { return e.Entry == p })
}

// AddLBACLEntries adds entries to an access control list.
func (s *Service) AddLBACLEntries(ctx context.Context, accountID, id string, specs []LBACLEntrySpec) error {
	entries, err := parseLBACLEntries(specs)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		a, err := getLBACL(tx, accountID, id)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if hasLBACLEntry(a, e.Entry) {
				return errs.InvalidParam("Duplicated.AclEntry", "Access control list %s already has the entry %s: the entries of a list are unique.", a.ID, e.Entry)
			}
		}
		if limit, n := s.cfg.Quotas.LBACLEntries, len(a.Entries)+len(entries); n > limit {
			users, err := lbACLUsers(tx, a.ID, nil)
			if err != nil {
				return err
			}
			used := ""
			if len(users) > 0 {
				used = fmt.Sprintf(" (the limit of the list of each of its listeners: %s)", listenerNames(users))
			}
			return errLBQuota("an access control list holds at most %d entries%s; %s has %d and %d more would make %d.", limit, used, a.ID, len(a.Entries), len(entries), n)
		}
		a.Entries = append(a.Entries, entries...)
		return putJSON(tx, model.PrefixLBACL+a.ID, a)
	})
	return err
}

// RemoveLBACLEntries removes entries from an access control list (the
// comments of the specs are not compared).
func (s *Service) RemoveLBACLEntries(ctx context.Context, accountID, id string, specs []LBACLEntrySpec) error {
	entries, err := parseLBACLEntries(specs)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		a, err := getLBACL(tx, accountID, id)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if !hasLBACLEntry(a, e.Entry) {
				return errs.New(http.StatusNotFound, "ResourceNotFound.AclEntry", "Access control list %s has no entry %s.", a.ID, e.Entry)
			}
		}
		a.Entries = slices.DeleteFunc(a.Entries, func(o model.LBACLEntry) bool {
			return slices.ContainsFunc(entries, func(e model.LBACLEntry) bool { return e.Entry == o.Entry })
		})
		return putJSON(tx, model.PrefixLBACL+a.ID, a)
	})
	return err
}

// checkListenerACL checks the access control of listener i of lb (its
// change not yet written): with AclStatus on, its list must be one of the
// account's IPv4 lists, within the entries a listener's list may hold,
// used by no more listeners than a list may be.
func (s *Service) checkListenerACL(tx store.ReadTxn, accountID string, lb *model.LoadBalancer, i int) error {
	l := lb.Listeners[i]
	if l.AclStatus != model.LBACLOn {
		return nil
	}
	if l.AclType == "" {
		return errs.MissingParameter("AclType")
	}
	if l.AclID == "" {
		return errs.MissingParameter("AclId")
	}
	a, err := getLBACL(tx, accountID, l.AclID)
	if err != nil {
		return err
	}
	if a.AddressIPVersion != LBAddressIPv4 {
		return errs.InvalidParam("InvalidParameter.Mismatch", "Access control list %s is %s, but load balancer %s is IPv4.", a.ID, a.AddressIPVersion, lb.ID)
	}
	if limit := s.cfg.Quotas.LBACLEntries; len(a.Entries) > limit {
		return errLBQuota("a listener's access control list holds at most %d entries and %s has %d.", limit, a.ID, len(a.Entries))
	}
	users, err := lbACLUsers(tx, a.ID, lb)
	if err != nil {
		return err
	}
	if limit := s.cfg.Quotas.LBListenersPerACL; len(users) > limit {
		return errLBQuota("an access control list is used by at most %d listeners and %s is used by %d already.", limit, a.ID, len(users)-1)
	}
	return nil
}
