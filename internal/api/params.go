package api

import (
	"encoding/json"
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
// in index order. Empty values are skipped.
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
// in index order.
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
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]Params, len(ns))
	for i, n := range ns {
		out[i] = byN[n]
	}
	return out
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

// Tags decodes "Tag.N.Key"/"Tag.N.Value" (prefix "Tag") or "Tags.N.Key".
func (p Params) Tags(prefix string) ([]model.Tag, error) {
	var out []model.Tag
	for _, s := range p.Structs(prefix) {
		k := s.Get("Key")
		if k == "" {
			if s.Get("Value") != "" {
				return nil, errs.InvalidParameter(prefix+".N.Key", "a tag value was given without its key")
			}
			continue
		}
		if len(k) > 128 || strings.HasPrefix(strings.ToLower(k), "aliyun") || strings.HasPrefix(strings.ToLower(k), "acs:") {
			return nil, errs.InvalidParameter(prefix+".N.Key", "tag key %q is too long or uses a reserved prefix", k)
		}
		out = append(out, model.Tag{Key: k, Value: s.Get("Value")})
	}
	if len(out) > 20 {
		return nil, errs.InvalidParameter(prefix, "at most 20 tags are allowed, got %d", len(out))
	}
	return out, nil
}
