package adminapi

import (
	"net/http"
	"strconv"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// maxLimit bounds one page of any admin listing.
const maxLimit = 1000

// paging is Synapse's paging of admin listings: an offset (from), a page
// size (limit), a sort key (order_by) and a direction (dir, f or b).
type paging struct {
	From, Limit int
	OrderBy     string
	Forward     bool
}

// parsePaging reads from, limit, order_by and dir; orderBy lists the sort
// keys the endpoint knows, the first being the default (none: order_by is
// not accepted). Bad values are 400 M_INVALID_PARAM.
func parsePaging(r *http.Request, defaultLimit int, orderBy ...string) (paging, error) {
	q := r.URL.Query()
	p := paging{Limit: defaultLimit, Forward: true}
	var err error
	if p.From, err = nonNegative(q, "from", 0); err != nil {
		return p, err
	}
	if p.Limit, err = nonNegative(q, "limit", defaultLimit); err != nil {
		return p, err
	}
	if p.Limit > maxLimit {
		p.Limit = maxLimit
	}
	switch q.Get("dir") {
	case "", "f":
	case "b":
		p.Forward = false
	default:
		return p, mxhttp.InvalidParam("Query parameter dir must be f or b")
	}
	if len(orderBy) > 0 {
		p.OrderBy = orderBy[0]
	}
	if v := q.Get("order_by"); v != "" {
		ok := false
		for _, k := range orderBy {
			ok = ok || k == v
		}
		if !ok {
			return p, mxhttp.InvalidParam("Unknown value for order_by: " + v)
		}
		p.OrderBy = v
	}
	return p, nil
}

func nonNegative(q map[string][]string, name string, def int) (int, error) {
	vs := q[name]
	if len(vs) == 0 || vs[0] == "" {
		return def, nil
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 0 {
		return 0, mxhttp.InvalidParam("Query parameter " + name + " must be a non-negative integer")
	}
	return n, nil
}

// boolParam reads a "true"/"false" query parameter; absent gives def.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, mxhttp.InvalidParam("Query parameter " + name + " must be true or false")
}

// optBoolParam is boolParam without a default: nil when absent.
func optBoolParam(r *http.Request, name string) (*bool, error) {
	if r.URL.Query().Get(name) == "" {
		return nil, nil
	}
	b, err := boolParam(r, name, false)
	return &b, err
}

// page adds next_token (and prev_token past the first page) to a listing
// of n items out of total.
func (p paging) tokens(out map[string]any, n, total int) map[string]any {
	out["total"] = total
	if p.From+n < total && n > 0 {
		out["next_token"] = strconv.Itoa(p.From + n)
	}
	if p.From > 0 {
		prev := p.From - p.Limit
		if prev < 0 {
			prev = 0
		}
		out["prev_token"] = strconv.Itoa(prev)
	}
	return out
}
