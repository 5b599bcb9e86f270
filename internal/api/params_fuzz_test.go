package api

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
)

// FuzzParams decodes arbitrary query strings with every Params helper:
// none may panic, every error must be a coded API error, and repeated
// structures come back in index order with only their own fields.
func FuzzParams(f *testing.F) {
	f.Add("Permissions.1.IpProtocol=tcp&Permissions.2.PortRange=1/2&Permissions.10.Policy=drop")
	f.Add("Tag.1.Key=a&Tag.1.Value=b&Tag.2.Value=orphan")
	f.Add("PageNumber=2&PageSize=50&NextToken=abc&MaxResults=0")
	f.Add("SecurityGroupIds=%5B%22sg-1%22%2C%22sg-2%22%5D&InstanceIds=i-1,i-2")
	f.Add("SecurityGroupId.1=sg-a&SecurityGroupId.01=sg-b&SecurityGroupId.-1=x&SecurityGroupId.=y")
	f.Add("Permissions.0.IpProtocol=tcp&Permissions.99.Policy=drop&Permissions.3=x&MaxResults=5000")
	f.Add("NextToken=azF8RGVzY3JpYmVTZWN1cml0eUdyb3Vwc3wwfHNnLTE&MaxResults=2")
	f.Fuzz(func(t *testing.T, query string) {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		p := Params{}
		for k, v := range vals {
			p[k] = v[0]
		}
		coded := func(err error) {
			if err == nil {
				return
			}
			if _, ok := errs.As(err); !ok {
				t.Fatalf("uncoded error %T: %v", err, err)
			}
		}
		for _, s := range p.Structs("Permissions") {
			for k := range s {
				if k == "" {
					t.Fatalf("empty field name from %q", query)
				}
			}
		}
		_ = p.List("SecurityGroupId")
		_, err = p.Tags("Tag")
		coded(err)
		_, err = p.JSONList("SecurityGroupIds")
		coded(err)
		pg, err := p.Paging(10, 50)
		coded(err)
		if err == nil {
			if pg.Size < 1 || pg.Size > 50 || pg.Number < 1 || pg.Offset < 0 {
				t.Fatalf("paging out of range: %+v from %q", pg, query)
			}
			items := make([]int, 7)
			page, total, _ := Paginate(items, pg)
			if total != 7 || len(page) > pg.Size {
				t.Fatalf("Paginate: %d items of %d with %+v", len(page), total, pg)
			}
		}
		// The strict list readers: an error is coded, and every element
		// they return is in the documented range, in index order.
		for _, r := range []Indexes{IndexACLEntries, IndexPermissions} {
			items, err := p.StructsIn("Permissions", r)
			coded(err)
			last := r.Min - 1
			for _, it := range items {
				n, err := strconv.Atoi(strings.TrimPrefix(it.Param, "Permissions."))
				if err != nil || n < r.Min || n > r.Max || n <= last || len(it.Fields) == 0 {
					t.Fatalf("StructsIn %+v: element %q out of range or order from %q", r, it.Param, query)
				}
				last = n
			}
			vals, err := p.ListItemsIn("SecurityGroupId", r)
			coded(err)
			for _, it := range vals {
				if it.Value == "" || !strings.HasPrefix(it.Param, "SecurityGroupId.") {
					t.Fatalf("ListItemsIn: %+v from %q", it, query)
				}
			}
		}
		for _, l := range []PageLimits{PageSecurityGroups, PageSecurityGroupRules, PageInstances} {
			pg, err := p.PagingFor(l)
			coded(err)
			if err != nil {
				continue
			}
			if pg.Token && (pg.MaxResults < l.MinResults || pg.MaxResults > l.MaxResults) {
				t.Fatalf("PagingFor %s: MaxResults %d from %q", l.Scope, pg.MaxResults, query)
			}
			type item struct {
				at time.Time
				id string
			}
			items := make([]item, 7)
			for i := range items {
				items[i] = item{time.Unix(int64(i/2), 0), strconv.Itoa(6 - i)}
			}
			page, total, next := PaginateKeyset(items, pg, func(it item) (time.Time, string) { return it.at, it.id })
			if total != 7 || (pg.Token && len(page) > pg.MaxResults) || (!pg.Token && len(page) > pg.Size) {
				t.Fatalf("PaginateKeyset: %d items of %d with %+v", len(page), total, pg)
			}
			if next != "" {
				if _, err := (Params{"NextToken": next}).PagingFor(l); err != nil {
					t.Fatalf("PaginateKeyset made a token PagingFor refuses: %q: %v", next, err)
				}
			}
		}
		_, err = p.IntRange("Priority", 1, 1, 100)
		coded(err)
		_, err = p.Bool("DryRun", false)
		coded(err)
	})
}
