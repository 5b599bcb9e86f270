package api

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
)

// Page is the paging request of a Describe action: either PageNumber/PageSize
// or NextToken/MaxResults (token mode when NextToken or MaxResults is sent).
type Page struct {
	Number, Size int  // page mode
	Token        bool // token mode
	Offset       int  // token mode of Paging: decoded offset NextToken
	MaxResults   int
	after        *pageKey // token mode of PagingFor: the last item of the previous page
	scope        string   // PagingFor: the list the tokens belong to
}

// Paging decodes the paging parameters; defSize is the default page size
// and maxSize the largest allowed (the cloud uses 10 and 50 or 100). Its
// NextToken is a plain offset, for the short lists answered in one page
// whose actions never return a NextToken (DescribeEipAddresses,
// DescribeFlowLogs). Lists that return NextTokens use PagingFor and
// PaginateKeyset, whose tokens survive deletes and inserts between pages.
func (p Params) Paging(defSize, maxSize int) (Page, error) {
	var pg Page
	var err error
	if p.Get("NextToken") != "" || p.Get("MaxResults") != "" {
		pg.Token = true
		if pg.MaxResults, err = p.IntRange("MaxResults", defSize, 1, maxSize); err != nil {
			return pg, err
		}
		if t := p.Get("NextToken"); t != "" {
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 {
				return pg, errNextToken(t)
			}
			pg.Offset = n
		}
		pg.Number, pg.Size = 1, pg.MaxResults
		return pg, nil
	}
	return p.PageOnly(defSize, maxSize)
}

// PageOnly decodes PageNumber/PageSize for the actions that page only that
// way (the VPC Describe actions); NextToken and MaxResults are not theirs
// and are ignored like any parameter an action does not take.
func (p Params) PageOnly(defSize, maxSize int) (Page, error) {
	var pg Page
	var err error
	if pg.Number, err = p.IntRange("PageNumber", 1, 1, 1<<30); err != nil {
		return pg, err
	}
	if pg.Size, err = p.IntRange("PageSize", defSize, 1, maxSize); err != nil {
		return pg, err
	}
	return pg, nil
}

// pageOf is the page pg of items converted by conv (never nil: an empty
// page is an empty JSON list), with the number of items in all.
func pageOf[T, I any](items []T, pg Page, conv func(T) I) ([]I, int) {
	page, total, _ := Paginate(items, pg)
	out := make([]I, 0, len(page))
	for _, it := range page {
		out = append(out, conv(it))
	}
	return out, total
}

// Paginate cuts one page out of items. next is the NextToken for the
// following page ("" when none, and always "" in page mode).
func Paginate[T any](items []T, pg Page) (page []T, total int, next string) {
	total = len(items)
	start, size := (pg.Number-1)*pg.Size, pg.Size
	if pg.Token {
		start, size = pg.Offset, pg.MaxResults
	}
	if start >= total {
		return []T{}, total, ""
	}
	end := start + size
	if end > total {
		end = total
	}
	if pg.Token && end < total {
		next = strconv.Itoa(end)
	}
	return items[start:end], total, next
}

// PageLimits are the documented paging limits of one Describe action.
type PageLimits struct {
	// Scope names the list in its NextTokens (the action name), so that a
	// token of one list is refused by another.
	Scope string
	// DefaultSize and MaxSize bound PageSize; 0 when the action pages only
	// with NextToken/MaxResults.
	DefaultSize, MaxSize int
	// DefaultResults, MinResults and MaxResults bound MaxResults.
	DefaultResults, MinResults, MaxResults int
	// Clamp: a MaxResults outside the range is moved into it, as the action
	// documents (DescribeInstances, DescribeNetworkInterfaces), instead of
	// being refused.
	Clamp bool
}

// The paging limits of the cloud's Describe actions that take NextToken, as
// the ECS API reference documents them.
var (
	// DescribeSecurityGroups: PageSize 1-50 (default 10); MaxResults up to
	// 100 (default 10).
	PageSecurityGroups = PageLimits{Scope: "DescribeSecurityGroups", DefaultSize: 10, MaxSize: 50,
		DefaultResults: 10, MinResults: 1, MaxResults: 100}
	// DescribeSecurityGroupAttribute: MaxResults 10-1000 (default 500); no
	// page mode.
	PageSecurityGroupRules = PageLimits{Scope: "DescribeSecurityGroupAttribute",
		DefaultResults: 500, MinResults: 10, MaxResults: 1000}
	// DescribeInstances: PageSize 1-100 (default 10); MaxResults default 10,
	// and a value below 10 counts as 10, above 100 as 100.
	PageInstances = PageLimits{Scope: "DescribeInstances", DefaultSize: 10, MaxSize: 100,
		DefaultResults: 10, MinResults: 10, MaxResults: 100, Clamp: true}
	// DescribeNetworkInterfaces: PageSize 1-500 here (the cloud documents up
	// to 1000); MaxResults 10-500, default 10, below 10 counts as 10 and
	// above 500 as 500.
	PageNetworkInterfaces = PageLimits{Scope: "DescribeNetworkInterfaces", DefaultSize: 10, MaxSize: 500,
		DefaultResults: 10, MinResults: 10, MaxResults: 500, Clamp: true}
	// DescribeFlowLogRecords (Palisade's own): PageSize and MaxResults
	// 1-1000, default 100.
	PageFlowLogRecords = PageLimits{Scope: "DescribeFlowLogRecords", DefaultSize: 100, MaxSize: 1000,
		DefaultResults: 100, MinResults: 1, MaxResults: 1000}
)

// pageKey is the position of an item in a keyset-paged list: the lists are
// sorted by creation time, then ID.
type pageKey struct {
	created int64 // UnixNano
	id      string
}

func comparePageKeys(a, b pageKey) int {
	if c := cmp.Compare(a.created, b.created); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// tokenVersion prefixes every NextToken, so the format can change later.
const tokenVersion = "k1"

func encodePageToken(scope string, k pageKey) string {
	raw := tokenVersion + "|" + scope + "|" + strconv.FormatInt(k.created, 10) + "|" + k.id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodePageToken(scope, t string) (pageKey, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return pageKey{}, false
	}
	parts := strings.SplitN(string(raw), "|", 4)
	if len(parts) != 4 || parts[0] != tokenVersion || parts[1] != scope || parts[3] == "" {
		return pageKey{}, false
	}
	n, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return pageKey{}, false
	}
	return pageKey{created: n, id: parts[3]}, true
}

func errNextToken(t string) error {
	return errs.InvalidParam("InvalidNextToken.Malformed",
		"The specified NextToken %q is not valid; pass the NextToken of the previous response of the same action, or omit it for the first page.", t)
}

// PagingFor decodes the paging parameters of an action with limits l.
// Token mode (NextToken or MaxResults sent) takes a NextToken that only
// PaginateKeyset of the same action produced: anything else is refused with
// InvalidNextToken.Malformed.
func (p Params) PagingFor(l PageLimits) (Page, error) {
	if p.Get("NextToken") == "" && p.Get("MaxResults") == "" && l.MaxSize > 0 {
		return p.PageOnly(l.DefaultSize, l.MaxSize)
	}
	pg := Page{Token: true, scope: l.Scope}
	n, err := p.Int("MaxResults", l.DefaultResults)
	if err != nil {
		return pg, err
	}
	if n < l.MinResults || n > l.MaxResults {
		if !l.Clamp {
			return pg, errs.InvalidParameter("MaxResults", "%d is out of range, expected %d to %d", n, l.MinResults, l.MaxResults)
		}
		n = min(max(n, l.MinResults), l.MaxResults)
	}
	pg.MaxResults = n
	pg.Number, pg.Size = 1, n
	if t := p.Get("NextToken"); t != "" {
		k, ok := decodePageToken(l.Scope, t)
		if !ok {
			return pg, errNextToken(t)
		}
		pg.after = &k
	}
	return pg, nil
}

// PaginateKeyset cuts one page out of items, whose position is given by
// key: creation time, then ID. In page mode it pages as Paginate does. In
// token mode the page starts strictly after the item the NextToken names
// (which may since have been deleted), so deletes and inserts between two
// calls neither skip nor repeat an item; the NextToken it returns names the
// page's last item. items is sorted by key here (a no-op for the lists the
// service already returns in that order).
func PaginateKeyset[T any](items []T, pg Page, key func(T) (time.Time, string)) (page []T, total int, next string) {
	if !pg.Token {
		return Paginate(items, pg)
	}
	k := func(it T) pageKey {
		t, id := key(it)
		return pageKey{created: t.UnixNano(), id: id}
	}
	items = slices.Clone(items)
	slices.SortStableFunc(items, func(a, b T) int { return comparePageKeys(k(a), k(b)) })
	total = len(items)
	start := 0
	if pg.after != nil {
		start, _ = slices.BinarySearchFunc(items, *pg.after, func(it T, after pageKey) int {
			if comparePageKeys(k(it), after) <= 0 {
				return -1
			}
			return 1
		})
	}
	end := min(start+pg.MaxResults, total)
	page = items[start:end]
	if end < total && len(page) > 0 {
		next = encodePageToken(pg.scope, k(page[len(page)-1]))
	}
	return page, total, next
}
