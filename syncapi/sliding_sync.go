package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/syncapi/sliding"
	"github.com/rohrpost/rohrpost/syncapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

// Simplified Sliding Sync (MSC4186): POST
// /_matrix/client/unstable/org.matrix.simplified_msc3575/sync. A client
// keeps a connection (user, device, conn_id); each answer carries a pos,
// and what the connection was sent per room is stored with it (decision
// 0015), so the next answer is a delta against what this connection has,
// whichever sync server answers it. The wire format and the rules that
// need no storage are in syncapi/sliding; this file reads the request and
// waits, sliding_sync_rooms.go builds the rooms, sliding_sync_ext.go the
// extensions.

// errUnknownPos tells the client to start its connection afresh.
func errUnknownPos() error {
	return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_UNKNOWN_POS", Msg: "Unknown or expired pos; start the connection again"}
}

// slidingRequest is a parsed request with the connection state of its pos.
type slidingRequest struct {
	*sliding.Request
	device *userapi.Device
	// from is the state of the request's pos; nil starts the connection.
	from *storage.SlidingPosition
	// since is the stream token the from position reached.
	since       Token
	pos         string
	timeout     time.Duration
	setPresence string
}

func (s *Server) parseSlidingRequest(r *http.Request, dev *userapi.Device) (*slidingRequest, error) {
	body, err := mxhttp.ReadBody(r, mxhttp.DefaultMaxBody)
	if err != nil {
		return nil, err
	}
	parsed, err := sliding.ParseRequest(body)
	if err != nil {
		return nil, err
	}
	req := &slidingRequest{Request: parsed, device: dev, setPresence: "online"}
	q := r.URL.Query()
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return nil, mxhttp.InvalidParam("timeout must be a non-negative integer")
		}
		req.timeout = min(time.Duration(ms)*time.Millisecond, maxSyncTimeout)
	}
	switch v := q.Get("set_presence"); v {
	case "":
	case "online", "offline", "unavailable":
		req.setPresence = v
	default:
		return nil, mxhttp.InvalidParam("set_presence must be online, offline or unavailable")
	}
	if v := q.Get("pos"); v != "" {
		conn, pos, ok := parsePos(v)
		if !ok {
			return nil, errUnknownPos()
		}
		from, err := s.store.LoadSlidingPosition(r.Context(), dev.UserID.String(), dev.ID, parsed.ConnID, conn, pos)
		if errors.Is(err, storage.ErrUnknownPos) {
			return nil, errUnknownPos()
		}
		if err != nil {
			return nil, err
		}
		if req.since, err = ParseToken(from.Token); err != nil {
			return nil, errUnknownPos()
		}
		req.from, req.pos = from, v
	}
	return req, nil
}

// A pos is "<connection>_<position>".
func formatPos(conn, pos int64) string {
	return strconv.FormatInt(conn, 10) + "_" + strconv.FormatInt(pos, 10)
}

func parsePos(v string) (conn, pos int64, ok bool) {
	a, b, found := strings.Cut(v, "_")
	if !found || len(v) > 60 {
		return 0, 0, false
	}
	conn, err1 := strconv.ParseInt(a, 10, 64)
	pos, err2 := strconv.ParseInt(b, 10, 64)
	return conn, pos, err1 == nil && err2 == nil && conn > 0 && pos > 0
}

// handleSlidingSync answers at once when anything is new for the
// connection (or it starts), otherwise waits for the notifier, as /sync
// does, up to the timeout.
func (s *Server) handleSlidingSync(r *http.Request, dev *userapi.Device) (any, error) {
	req, err := s.parseSlidingRequest(r, dev)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	type built struct {
		resp *sliding.Response
		save *storage.SlidingSave
	}
	// Without a pos, or with something new, it answers at once.
	b, err := longPoll(ctx, s, dev.UserID.String(), req.setPresence, req.timeout, func(to Token) (built, bool, func(), error) {
		resp, save, err := s.buildSliding(ctx, req, to)
		return built{resp, save}, req.from == nil || save != nil, nil, err
	})
	if err != nil {
		return nil, err
	}
	return s.finishSliding(ctx, req, b.resp, b.save)
}

// finishSliding stores the answer's position, or, when nothing changed,
// answers with the position the client sent.
func (s *Server) finishSliding(ctx context.Context, req *slidingRequest, resp *sliding.Response, save *storage.SlidingSave) (any, error) {
	now := time.Now().UnixMilli()
	if save == nil {
		resp.Pos = req.pos
		if err := s.store.TouchSlidingConnection(ctx, req.from.ConnNID, now); err != nil {
			return nil, err
		}
		return resp, nil
	}
	// A request the client gave up on must not replace the answer it is
	// waiting for on another request.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	save.NowMS = now
	conn, pos, err := s.store.SaveSlidingPosition(ctx, *save)
	if errors.Is(err, storage.ErrUnknownPos) {
		return nil, errUnknownPos()
	}
	if err != nil {
		return nil, err
	}
	resp.Pos = formatPos(conn, pos)
	return resp, nil
}

// buildSliding assembles an answer for the streams up to to. save is nil
// when the answer carries nothing the connection does not have.
func (s *Server) buildSliding(ctx context.Context, req *slidingRequest, to Token) (*sliding.Response, *storage.SlidingSave, error) {
	next := to
	if req.from != nil {
		next = to.Max(req.since)
	}
	b, err := s.newSlidingBuild(ctx, req, next)
	if err != nil {
		return nil, nil, err
	}
	if err := s.loadFilterData(ctx, b, req.Lists); err != nil {
		return nil, nil, err
	}
	resp := &sliding.Response{TxnID: req.TxnID, Lists: map[string]sliding.ListResult{}, Rooms: map[string]*sliding.Room{}}
	for name, l := range req.Lists {
		resp.Lists[name] = b.list(name, l)
	}
	b.subscribe(req.RoomSubscriptions)
	saved, err := s.slidingRooms(ctx, b, resp)
	if err != nil {
		return nil, nil, err
	}
	if err := s.slidingExtensions(ctx, b, resp); err != nil {
		return nil, nil, err
	}
	hash := listsHash(resp.Lists)
	if req.from != nil && len(resp.Rooms) == 0 && resp.Extensions.Empty() && hash == req.from.ListsHash {
		return resp, nil, nil
	}
	return resp, &storage.SlidingSave{UserID: req.device.UserID.String(), DeviceID: req.device.ID, ConnID: req.ConnID,
		From: req.from, Token: b.to.String(), ListsHash: hash, Rooms: saved}, nil
}

func listsHash(lists map[string]sliding.ListResult) string {
	raw, _ := json.Marshal(lists) // maps marshal in key order
	h := fnv.New64a()
	_, _ = h.Write(raw)
	return fmt.Sprintf("%016x", h.Sum64())
}
