package syncapi

import (
	"net/url"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
)

// pagination is the dir/from/to/limit of /messages and /relations.
type pagination struct {
	backwards      bool
	limit          int
	from, to       int64
	hasFrom, hasTo bool
}

func parsePagination(q url.Values, defaultLimit int) (*pagination, error) {
	p := &pagination{}
	switch q.Get("dir") {
	case "", "b":
		p.backwards = true
	case "f":
	default:
		return nil, mxhttp.InvalidParam("dir must be b or f")
	}
	var err error
	if p.limit, err = parseLimit(q.Get("limit"), defaultLimit, maxTimelineLimit); err != nil {
		return nil, err
	}
	if p.from, p.hasFrom, err = parsePosition(q.Get("from")); err != nil {
		return nil, err
	}
	if p.to, p.hasTo, err = parsePosition(q.Get("to")); err != nil {
		return nil, err
	}
	return p, nil
}

// window is the stream range (lower, upper] the request may read.
func (p *pagination) window(a *roomAccess) (lower, upper int64) {
	lower, upper = a.from, a.upto
	start, end := &upper, &lower
	if !p.backwards {
		start, end = &lower, &upper
	}
	if p.hasFrom {
		if p.backwards {
			*start = min(*start, p.from)
		} else {
			*start = max(*start, p.from)
		}
	}
	if p.hasTo {
		if p.backwards {
			*end = max(*end, p.to)
		} else {
			*end = min(*end, p.to)
		}
	}
	return lower, upper
}

// next is the token that continues after the last event of a page.
func (p *pagination) next(evs []*rsstorage.Event) Token {
	last := evs[len(evs)-1].StreamPos
	if p.backwards {
		return Token{PDU: last - 1}
	}
	return Token{PDU: last}
}
