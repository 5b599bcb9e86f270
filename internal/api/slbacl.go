package api

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Access control lists of load balancer listeners (Slb 2014-05-15);
// semantics and error codes in service/slbacl.go. Response names are those
// of github.com/alibabacloud-go/slb-20140515/v4 (and the V1 SDK's
// services/slb): "Acls":{"Acl":[...]}, "AclEntrys":{"AclEntry":[...]},
// "RelatedListeners":{"RelatedListener":[...]}.

// DescribeAccessControlLists pages with PageNumber and PageSize (1-50,
// default 10); DescribeAccessControlListAttribute pages the entries with
// Page and PageSize (1-50, default 10) when either is sent, and answers
// every entry otherwise (the clients that predate its paging expect them
// all).
const (
	lbACLPageDefault = 10
	lbACLPageMax     = 50
)

// lbACLItem is a list as DescribeAccessControlLists lists it.
type lbACLItem struct {
	AclId            string
	AclName          string
	AddressIPVersion string
	CreateTime       string
	ResourceGroupId  string
	Tags             lbTags
}

func toLBACLItem(a model.LBAccessControlList) lbACLItem {
	return lbACLItem{AclId: a.ID, AclName: a.Name, AddressIPVersion: a.AddressIPVersion, CreateTime: formatTime(a.CreatedAt),
		ResourceGroupId: a.ResourceGroupID, Tags: toLBTags(a.Tags)}
}

type lbACLEntryItem struct {
	AclEntryIP      string
	AclEntryComment string
}

type lbRelatedListener struct {
	LoadBalancerId string
	ListenerPort   int
	Protocol       string
	AclType        string
}

// DecodeLBACLEntries reads an AclEntrys parameter: a JSON array of
// {"entry":"10.0.0.0/24","comment":"..."} (the keys as the cloud
// documents them, in any case). Other fields are refused.
func DecodeLBACLEntries(v string) ([]service.LBACLEntrySpec, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errs.MissingParameter("AclEntrys")
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, errs.InvalidParameter("AclEntrys", "expected a JSON array such as [{\"entry\":\"10.0.0.0/24\",\"comment\":\"office\"}]: %v", err)
	}
	out := make([]service.LBACLEntrySpec, 0, len(raw))
	for i, m := range raw {
		if m == nil {
			return nil, errs.InvalidParameter("AclEntrys", "element %d is not an object", i)
		}
		var e service.LBACLEntrySpec
		for k, val := range m {
			var dst *string
			switch strings.ToLower(k) {
			case "entry":
				dst = &e.Entry
			case "comment":
				dst = &e.Comment
			default:
				return nil, errs.InvalidParameter("AclEntrys", "element %d: unknown field %q; an entry has \"entry\" and \"comment\"", i, k)
			}
			if err := json.Unmarshal(val, dst); err != nil {
				return nil, errs.InvalidParameter("AclEntrys", "element %d: field %s is not a string", i, k)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// lbACLAttribute is DescribeAccessControlListAttribute's answer.
type lbACLAttribute struct {
	lbACLItem
	TotalAclEntry    int
	AclEntrys        struct{ AclEntry []lbACLEntryItem }
	RelatedListeners struct{ RelatedListener []lbRelatedListener }
}

// registerSLBACL registers the access control list actions.
func registerSLBACL(rt *Router, svc *service.Service) {
	v := VersionSLB

	rt.Handle(v, "CreateAccessControlList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		in := service.CreateLBACLInput{Name: p.Get("AclName"), AddressIPVersion: p.Get("AddressIPVersion"), ResourceGroupID: p.Get("ResourceGroupId")}
		var err error
		if in.Tags, err = slbTags(p); err != nil {
			return nil, err
		}
		a, err := svc.CreateLBACL(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct{ AclId string }{a.ID}, nil
	})
	rt.Handle(v, "DeleteAccessControlList", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteLBACL(ctx, r.Account.ID, r.Params.Get("AclId"))
	})
	rt.Handle(v, "SetAccessControlListAttribute", func(ctx context.Context, r *Request) (any, error) {
		id := r.Params.Get("AclId")
		if err := svc.SetLBACLName(ctx, r.Account.ID, id, r.Params.Get("AclName")); err != nil {
			return nil, err
		}
		return struct{ AclId string }{id}, nil
	})
	rt.Handle(v, "DescribeAccessControlLists", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(lbACLPageDefault, lbACLPageMax)
		if err != nil {
			return nil, err
		}
		q := service.LBACLQuery{Name: p.Get("AclName"), AddressIPVersion: p.Get("AddressIPVersion"), ResourceGroupID: p.Get("ResourceGroupId")}
		if q.Tags, err = slbTags(p); err != nil {
			return nil, err
		}
		all, err := svc.DescribeLBACLs(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]lbACLItem, 0, len(items))
		for _, a := range items {
			out = append(out, toLBACLItem(a))
		}
		return struct {
			PageNumber, PageSize, TotalCount, Count int
			Acls                                    struct{ Acl []lbACLItem }
		}{pg.Number, pg.Size, total, len(out), struct{ Acl []lbACLItem }{out}}, nil
	})
	rt.Handle(v, "DescribeAccessControlListAttribute", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		paged := p.Get("Page") != "" || p.Get("PageSize") != ""
		page, err := p.IntRange("Page", 1, 1, 1<<30)
		if err != nil {
			return nil, err
		}
		size, err := p.IntRange("PageSize", lbACLPageDefault, 1, lbACLPageMax)
		if err != nil {
			return nil, err
		}
		a, err := svc.GetLBACL(ctx, r.Account.ID, p.Get("AclId"))
		if err != nil {
			return nil, err
		}
		entries := make([]lbACLEntryItem, 0, len(a.Entries))
		for _, e := range a.Entries {
			if c := p.Get("AclEntryComment"); c == "" || e.Comment == c {
				entries = append(entries, lbACLEntryItem{AclEntryIP: e.Entry.String(), AclEntryComment: e.Comment})
			}
		}
		total := len(entries)
		if paged {
			entries, _, _ = Paginate(entries, Page{Number: page, Size: size})
		}
		out := lbACLAttribute{lbACLItem: toLBACLItem(a.LBAccessControlList), TotalAclEntry: total}
		out.AclEntrys.AclEntry = entries
		out.RelatedListeners.RelatedListener = make([]lbRelatedListener, 0, len(a.Listeners))
		for _, l := range a.Listeners {
			out.RelatedListeners.RelatedListener = append(out.RelatedListeners.RelatedListener,
				lbRelatedListener{LoadBalancerId: l.LoadBalancerID, ListenerPort: l.Port, Protocol: l.Protocol, AclType: l.AclType})
		}
		return out, nil
	})
	for action, fn := range map[string]func(context.Context, string, string, []service.LBACLEntrySpec) error{
		"AddAccessControlListEntry":    svc.AddLBACLEntries,
		"RemoveAccessControlListEntry": svc.RemoveLBACLEntries,
	} {
		rt.Handle(v, action, func(ctx context.Context, r *Request) (any, error) {
			entries, err := DecodeLBACLEntries(r.Params.Get("AclEntrys"))
			if err != nil {
				return nil, err
			}
			return empty{}, fn(ctx, r.Account.ID, r.Params.Get("AclId"), entries)
		})
	}
}

// lbACLIDs is the AclIds of a listener's description ({"AclId":[...]}).
type lbACLIDs struct{ AclId []string }

// listenerACL spells a listener's access control for its descriptions:
// AclStatus on or off, AclType and AclId (and AclIds) when on.
func listenerACL(l model.LBListener) (status, aclType, aclID string, ids *lbACLIDs) {
	if l.AclStatus != model.LBACLOn {
		return model.LBACLOff, "", "", nil
	}
	return model.LBACLOn, l.AclType, l.AclID, &lbACLIDs{AclId: []string{l.AclID}}
}
