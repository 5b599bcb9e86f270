package api

import (
	"strconv"

	"github.com/palisade-project/palisade/internal/errs"
)

// Page is the paging request of a Describe action: either PageNumber/PageSize
// or NextToken/MaxResults (token mode when NextToken or MaxResults is sent).
type Page struct {
	Number, Size int  // page mode
	Token        bool // token mode
	Offset       int  // token mode: decoded NextToken
	MaxResults   int
}

// Paging decodes the paging parameters; defSize is the default page size
// and maxSize the largest allowed (the cloud uses 10 and 50 or 100).
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
				return pg, errs.InvalidParam("InvalidNextToken.Malformed", "The specified NextToken %q is not valid; pass the NextToken of the previous response.", t)
			}
			pg.Offset = n
		}
		pg.Number, pg.Size = 1, pg.MaxResults
		return pg, nil
	}
	if pg.Number, err = p.IntRange("PageNumber", 1, 1, 1<<30); err != nil {
		return pg, err
	}
	if pg.Size, err = p.IntRange("PageSize", defSize, 1, maxSize); err != nil {
		return pg, err
	}
	return pg, nil
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
