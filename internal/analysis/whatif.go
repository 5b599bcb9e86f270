package analysis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// Change is a proposed security group change: add Rule to GroupID, or
// remove rule RuleID from it. The service validates rules (ParseRule)
// before they get here.
type Change struct {
	Action  string // "add" or "remove"
	GroupID string
	Rule    model.Rule
	RuleID  string
}

// WithChanges returns a copy of w with the changes applied (w is left
// alone) and a one-line description of each.
func (w *World) WithChanges(cs []Change) (*World, []string, error) {
	if len(cs) == 0 {
		return w, nil, nil
	}
	out := *w
	out.Groups = slices.Clone(w.Groups)
	idx := map[string]int{}
	for i := range out.Groups {
		idx[out.Groups[i].ID] = i
	}
	copied := map[int]bool{}
	var desc []string
	for n, c := range cs {
		i, ok := idx[c.GroupID]
		if !ok {
			return nil, nil, errs.NotFound("InvalidSecurityGroupId.NotFound", "change %d: the specified security group %q does not exist.", n+1, c.GroupID)
		}
		g := &out.Groups[i]
		if !copied[i] {
			g.Rules = slices.Clone(g.Rules)
			copied[i] = true
		}
		switch strings.ToLower(c.Action) {
		case "add":
			r := c.Rule
			if r.ID == "" {
				r.ID = fmt.Sprintf("sgr-whatif-%d", n+1)
			}
			g.Rules = append(g.Rules, r)
			desc = append(desc, fmt.Sprintf("add %s rule %s to %s: %s, priority %d, %s", r.Direction, r.ID, g.ID, ruleSummary(&r), r.Priority, r.Policy))
		case "remove":
			k := slices.IndexFunc(g.Rules, func(r model.Rule) bool { return r.ID == c.RuleID })
			if k < 0 {
				return nil, nil, errs.NotFound("InvalidSecurityGroupRuleId.NotFound", "change %d: group %s has no rule %q.", n+1, g.ID, c.RuleID)
			}
			desc = append(desc, fmt.Sprintf("remove %s rule %s from %s: %s", g.Rules[k].Direction, c.RuleID, g.ID, ruleSummary(&g.Rules[k])))
			g.Rules = slices.Delete(g.Rules, k, k+1)
		default:
			return nil, nil, errs.InvalidParameter("Changes", "change %d: action must be add or remove, got %q", n+1, c.Action)
		}
	}
	return &out, desc, nil
}
