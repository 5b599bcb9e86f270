package api

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// Params are the decoded request parameters: query and form merged, common
// signature parameters included. Names are case-sensitive as on the wire.
type Params map[string]string

// Get returns the parameter or "".
func (p Params) Get(name string) string { return p[name] }

// Has reports whether the parameter was sent (even if empty).
func (p Params) Has(name string) bool { _, ok := p[name]; return ok }

// Required returns the parameter or a MissingParameter error.
func (p Params) Required(name string) (string, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return "", errs.MissingParameter(name)
	}
	return v, nil
}

// Int parses an integer parameter; def when absent.
func (p Params) Int(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, errs.InvalidParameter(name, "%q is not an integer", v)
	}
	return n, nil
}

// IntRange parses an integer that must lie in [min, max]; def when absent.
func (p Params) IntRange(name string, def, min, max int) (int, error) {
	n, err := p.Int(name, def)
	if err != nil {
		return 0, err
	}
	if p.Has(name) && p[name] != "" && (n < min || n > max) {
		return 0, errs.InvalidParameter(name, "%d is out of range, expected %d to %d", n, min, max)
	}
	return n, nil
}

// Bool parses "true"/"false" (case-insensitive); def when absent.
func (p Params) Bool(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errs.InvalidParameter(name, "%q is not a boolean, expected true or false", v)
}

// indexOf parses "Prefix.N" or "Prefix.N.Rest" and returns N and Rest.
// It is the lenient reading of List and Structs: an index that is not a
// positive integer makes the key not part of the list.
func indexOf(key, prefix string) (n int, rest string, ok bool) {
	if !strings.HasPrefix(key, prefix+".") {
		return 0, "", false
	}
	s := key[len(prefix)+1:]
	num, rest, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return 0, "", false
	}
	return n, rest, true
}

// List returns the values of a repeated scalar "Prefix.1", "Prefix.2", ...
// in index order. Empty values are skipped. It is lenient (keys whose index
// is not a positive integer are ignored) and serves Palisade's own agent
// API only; the cloud actions read their lists with ListIn, which refuses
// what it cannot take instead of dropping it.
func (p Params) List(prefix string) []string {
	type iv struct {
		n int
		v string
	}
	var items []iv
	for k, v := range p {
		n, rest, ok := indexOf(k, prefix)
		if !ok || rest != "" || v == "" {
			continue
		}
		items = append(items, iv{n, v})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// Structs returns the elements of a repeated struct "Prefix.N.Field" as
// Params keyed by Field (which may itself be nested, e.g. "SecurityGroupIds.1"),
// in index order. Lenient like List; the cloud actions use StructsIn.
func (p Params) Structs(prefix string) []Params {
	byN := map[int]Params{}
	for k, v := range p {
		n, rest, ok := indexOf(k, prefix)
		if !ok || rest == "" {
			continue
		}
		if byN[n] == nil {
			byN[n] = Params{}
		}
		byN[n][rest] = v
	}
	ns := slices.Sorted(maps.Keys(byN))
	out := make([]Params, len(ns))
	for i, n := range ns {
		out[i] = byN[n]
	}
	return out
}

// Indexes is the range of N in a repeated "Name.N" parameter. The cloud
// numbers most lists from 1 (the SDKs always do), but documents some VPC
// lists from 0: UpdateNetworkAclEntries' IngressAclEntries.N and
// EgressAclEntries.N take N from 0 to 99 (at most 100 entries),
// AssociateNetworkAcl's Resource.N from 0 to 29 (at most 30 vSwitches).
// Those lists take index 0 and also the index the SDKs give the last of
// the documented number of elements (100, 30), since the SDKs number from
// 1: the documented count is enforced as a count.
type Indexes struct{ Min, Max int }

// The index ranges of the lists the cloud actions read. Where the cloud
// bounds a list by a quota (the groups an ENI may join, the ENIs of an
// instance), the range is a syntactic cap and the service checks the count
// against the deployment's quota.
var (
	IndexTags          = Indexes{1, 20}    // Tag.N, Tags.N
	IndexPermissions   = Indexes{1, 100}   // Permissions.N of Authorize/Revoke
	IndexRuleIDs       = Indexes{1, 100}   // SecurityGroupRuleId.N of Revoke
	IndexGroupRefs     = Indexes{1, 10}    // DescribeSecurityGroupReferences SecurityGroupId.N
	IndexACLEntries    = Indexes{0, 100}   // IngressAclEntries.N, EgressAclEntries.N (documented 0-99; the SDKs send 1-100)
	IndexACLResources  = Indexes{0, 30}    // AssociateNetworkAcl/UnassociateNetworkAcl Resource.N (documented 0-29; SDKs 1-30)
	IndexInstanceIDs   = Indexes{1, 100}   // DeleteInstances InstanceId.N
	IndexENIGroups     = Indexes{1, 100}   // SecurityGroupIds.N, SecurityGroupId.N of an ENI (quota: GroupsPerENI)
	IndexNetworkIfaces = Indexes{1, 100}   // RunInstances NetworkInterface.N (quota: ENIsPerInstance)
	IndexIPv6Addrs     = Indexes{1, 10}    // Ipv6Address.N of RunInstances and CreateNetworkInterface
	IndexCreateENIIPs  = Indexes{0, 10}    // CreateNetworkInterface PrivateIpAddress.N
	IndexAssignIPs     = Indexes{1, 50}    // Assign/UnassignPrivateIpAddresses PrivateIpAddress.N
	IndexFilterIDs     = Indexes{1, 100}   // DescribeNetworkInterfaces NetworkInterfaceId.N, PrivateIpAddress.N
	IndexAgentReports  = Indexes{1, 10000} // ReportStatus Instance.N, NetworkInterface.N, Eip.N (Palisade's own)
)

// ListItem is one element of a repeated scalar: its wire name
// ("PrivateIpAddress.2") and value.
type ListItem struct {
	Param string
	Value string
}

// StructItem is one element of a repeated struct: its wire name
// ("IngressAclEntries.0") and fields.
type StructItem struct {
	Param  string
	Fields Params
}

// listIndex parses key as an element of name: "name.N" or "name.N.Rest".
// in reports whether key belongs to the list at all. An index that is not
// a plain decimal integer, or is outside r, is an error: an element the
// action cannot take is refused, never dropped.
func listIndex(key, name string, r Indexes) (n int, rest string, in bool, err error) {
	if !strings.HasPrefix(key, name+".") {
		return 0, "", false, nil
	}
	num, rest, _ := strings.Cut(key[len(name)+1:], ".")
	n, convErr := strconv.Atoi(num)
	if convErr != nil || strconv.Itoa(n) != num {
		return 0, "", true, errs.InvalidParameter(key,
			"%q is not a list index; number the elements of %s.N with decimal integers from %d to %d", num, name, r.Min, r.Max)
	}
	if n < r.Min || n > r.Max {
		return 0, "", true, errs.InvalidParameter(key,
			"N is %d, out of range: %s.N takes N from %d to %d", n, name, r.Min, r.Max)
	}
	return n, rest, true, nil
}

// ListIn returns the values of the repeated scalar "name.N" in index
// order, N in r. Gaps are allowed (name.1 and name.3 give two values, as in
// the cloud, which takes what is present in index order); empty values are
// skipped, as the SDKs never send them. An index outside r, a malformed
// index or a "name.N.Field" key is refused with InvalidParameter.
func (p Params) ListIn(name string, r Indexes) ([]string, error) {
	items, err := p.ListItemsIn(name, r)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Value
	}
	return out, nil
}

// ListItemsIn is ListIn keeping each element's wire name.
func (p Params) ListItemsIn(name string, r Indexes) ([]ListItem, error) {
	type iv struct {
		n int
		ListItem
	}
	var items []iv
	for k, v := range p {
		n, rest, in, err := listIndex(k, name, r)
		if !in {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rest != "" {
			return nil, errs.InvalidParameter(k, "%s.N takes a value, not fields; use %s.%d", name, name, n)
		}
		if v == "" {
			continue
		}
		items = append(items, iv{n, ListItem{Param: k, Value: v}})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].n < items[j].n })
	out := make([]ListItem, len(items))
	for i, it := range items {
		out[i] = it.ListItem
	}
	return out, nil
}

// StructsIn returns the elements of the repeated struct "name.N.Field" in
// index order, N in r, with the same rules as ListIn: gaps allowed, index
// errors refused, and a bare "name.N" (no field) refused.
func (p Params) StructsIn(name string, r Indexes) ([]StructItem, error) {
	byN := map[int]Params{}
	for k, v := range p {
		n, rest, in, err := listIndex(k, name, r)
		if !in {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rest == "" {
			return nil, errs.InvalidParameter(k, "%s.N is a list of structures; give a field such as %s.%d.<Field>", name, name, n)
		}
		if byN[n] == nil {
			byN[n] = Params{}
		}
		byN[n][rest] = v
	}
	ns := slices.Sorted(maps.Keys(byN))
	out := make([]StructItem, len(ns))
	for i, n := range ns {
		out[i] = StructItem{Param: name + "." + strconv.Itoa(n), Fields: byN[n]}
	}
	return out, nil
}

// JSONList decodes a parameter holding a JSON array of strings, such as
// DescribeInstances' InstanceIds `["i-1","i-2"]`. A bare comma-separated
// value is accepted too.
func (p Params) JSONList(name string) ([]string, error) {
	v := strings.TrimSpace(p[name])
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "[") {
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, errs.InvalidParameter(name, "expected a JSON array of strings such as [\"id-1\",\"id-2\"]")
		}
		return out, nil
	}
	return CommaList(v), nil
}

// CommaList splits "a,b , c" into trimmed, non-empty items.
func CommaList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Tags decodes "Tag.N.Key"/"Tag.N.Value" (prefix "Tag") or "Tags.N.Key",
// N from 1 to 20 as the cloud documents.
func (p Params) Tags(prefix string) ([]model.Tag, error) {
	items, err := p.StructsIn(prefix, IndexTags)
	if err != nil {
		return nil, err
	}
	var out []model.Tag
	for _, it := range items {
		s := it.Fields
		k := s.Get("Key")
		if k == "" {
			if s.Get("Value") != "" {
				return nil, errs.InvalidParameter(it.Param+".Key", "a tag value was given without its key")
			}
			continue
		}
		if len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aliyun") || strings.HasPrefix(strings.ToLower(k), "acs:") {
			return nil, errs.InvalidParameter(it.Param+".Key", "tag key %q is too long or uses a reserved prefix", k)
		}
		out = append(out, model.Tag{Key: k, Value: s.Get("Value")})
	}
	if len(out) > 20 {
		return nil, errs.InvalidParameter(prefix, "at most 20 tags are allowed, got %d", len(out))
	}
	return out, nil
}
