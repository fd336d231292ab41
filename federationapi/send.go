package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/roomserver"
)

// An inbound transaction carries up to 50 PDUs and 100 EDUs. Each PDU gets
// its own result and one bad PDU never fails the others. PDUs enter the
// roomserver's one input path; one whose prev_events we lack is preceded
// by what /get_missing_events brings, or, when the gap is too wide, by the
// state before it (/state) so that it can be judged without the gap
// (gap.go).

const (
	maxTxnPDUs = 50
	maxTxnEDUs = 100
)

type txnBody struct {
	Origin         spec.ServerName         `json:"origin"`
	OriginServerTS spec.Timestamp          `json:"origin_server_ts"`
	PDUs           []json.RawMessage       `json:"pdus"`
	EDUs           []gomatrixserverlib.EDU `json:"edus"`
}

type pduResult struct {
	Error string `json:"error,omitempty"`
}

type sendResponse struct {
	PDUs map[string]pduResult `json:"pdus"`
}

// send is PUT /_matrix/federation/v1/send/{txnId}.
func (s *Server) send(r *http.Request, origin spec.ServerName, body []byte) (any, error) {
	var txn txnBody
	if err := mxhttp.Unmarshal(body, &txn); err != nil {
		return nil, err
	}
	if len(txn.PDUs) > maxTxnPDUs || len(txn.EDUs) > maxTxnEDUs {
		return nil, mxhttp.BadJSON(fmt.Sprintf("a transaction holds at most %d PDUs and %d EDUs", maxTxnPDUs, maxTxnEDUs))
	}
	if txn.Origin != "" && txn.Origin != origin {
		return nil, mxhttp.Forbidden("the transaction's origin is not the server that sent it")
	}
	// The sender retries a transaction it got no answer for with the same
	// id; the second attempt waits for the first and gets its answer.
	key := string(origin) + "\x00" + mux.Vars(r)["txnId"]
	return s.txns.do(key, func() (any, error) {
		// The work goes on when the sender hangs up: it will retry and
		// must then find it done.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Minute)
		defer cancel()
		res := sendResponse{PDUs: map[string]pduResult{}}
		report := func(id string, err error) {
			if err != nil {
				slog.Info("federation: PDU refused", "origin", origin, "event_id", id, "err", err)
				res.PDUs[id] = pduResult{Error: err.Error()}
			} else {
				res.PDUs[id] = pduResult{}
			}
		}
		var ready []checkedPDU
		for _, raw := range txn.PDUs {
			p, id, err := s.checkPDU(ctx, origin, raw)
			switch {
			case id == "":
				continue // not even an event id: nothing to report against
			case p == nil:
				report(id, err)
				continue
			}
			ready = append(ready, *p)
			// The ACL decides over the PDUs after it: they are checked
			// once it is in.
			if p.pdu.Type() == "m.room.server_acl" {
				s.inputPDUs(ctx, origin, ready, report)
				ready = ready[:0]
			}
		}
		s.inputPDUs(ctx, origin, ready, report)
		s.handleEDUs(ctx, origin, txn.EDUs)
		return res, nil
	})
}

// checkedPDU is a PDU of a room we are in that passed what the federation
// API checks itself.
type checkedPDU struct {
	pdu     gomatrixserverlib.PDU
	verImpl gomatrixserverlib.IRoomVersion
}

// checkPDU checks one PDU: policy, signatures and hashes, the room's ACL.
// A PDU for a room we are not in is dealt with here (our users' invites
// and their rejections are stored, the rest refused): then it returns no
// checkedPDU. The event id is "" if the PDU could not be parsed that far.
func (s *Server) checkPDU(ctx context.Context, origin spec.ServerName, raw json.RawMessage) (*checkedPDU, string, error) {
	roomID := gjson.GetBytes(raw, "room_id").String()
	version, err := s.rooms.RoomVersion(ctx, roomID)
	if err != nil {
		return nil, "", err
	}
	verImpl, err := gomatrixserverlib.GetRoomVersion(gomatrixserverlib.RoomVersion(version))
	if err != nil {
		return nil, "", err
	}
	pdu, err := verImpl.NewEventFromUntrustedJSON(raw)
	if err != nil {
		return nil, "", err
	}
	if !s.policy.Allowed(pdu.SenderID().ToUserID().Domain()) {
		return nil, pdu.EventID(), ErrNotAllowed
	}
	if err := s.verifySignatures(ctx, pdu); err != nil {
		return nil, pdu.EventID(), err
	}
	if err := s.checkACL(ctx, roomID, origin); err != nil {
		return nil, pdu.EventID(), err
	}
	if in, _ := s.localServerInRoom(ctx, roomID); !in {
		// We hold only our users' invites (or their rejections) here; the
		// room's other events are not ours to take.
		if s.aboutLocalUser(pdu) {
			_, err := s.rooms.StoreOutOfRoomMembership(ctx, pdu)
			return nil, pdu.EventID(), err
		}
		return nil, pdu.EventID(), fmt.Errorf("no user of this server is in room %s", roomID)
	}
	return &checkedPDU{pdu: pdu, verImpl: verImpl}, pdu.EventID(), nil
}

// inputPDUs puts checked PDUs through the roomserver in one call, so that
// a transaction costs one commit, not one per PDU. Each PDU that failed
// there (a gap before it, most often) goes through again on its own,
// in order, filling its gap first: a PDU that built on one with a gap
// then finds it in.
func (s *Server) inputPDUs(ctx context.Context, origin spec.ServerName, pdus []checkedPDU, report func(string, error)) {
	if len(pdus) == 0 {
		return
	}
	in := make([]roomserver.InputEvent, len(pdus))
	for i, p := range pdus {
		in[i] = roomserver.InputEvent{Kind: roomserver.InputNew, PDU: p.pdu, Separately: true}
	}
	results, err := s.rooms.InputEvents(ctx, in)
	if err != nil || len(results) != len(pdus) {
		results = nil
	}
	for i, p := range pdus {
		var err error
		switch {
		case results == nil || results[i].Err != "":
			err = s.inputPDU(ctx, origin, p)
		case results[i].Rejected:
			slog.Info("federation: PDU rejected", "origin", origin, "event_id", p.pdu.EventID())
		}
		report(p.pdu.EventID(), err)
	}
}

// inputPDU puts one checked PDU through the roomserver, filling a gap
// before it if needed.
func (s *Server) inputPDU(ctx context.Context, origin spec.ServerName, p checkedPDU) error {
	err := s.input(ctx, p.pdu, roomserver.InputNew)
	if isGap(err) {
		err = s.fillGap(ctx, origin, p.verImpl, p.pdu)
	}
	if errors.Is(err, errRejected) {
		slog.Info("federation: PDU rejected", "origin", origin, "event_id", p.pdu.EventID())
		err = nil
	}
	return err
}

// aboutLocalUser tells whether pdu is a member event about a local user.
func (s *Server) aboutLocalUser(pdu gomatrixserverlib.PDU) bool {
	if pdu.Type() != spec.MRoomMember || pdu.StateKey() == nil {
		return false
	}
	u, err := spec.NewUserID(*pdu.StateKey(), true)
	return err == nil && s.isLocal(u.Domain())
}

func (s *Server) verifySignatures(ctx context.Context, pdu gomatrixserverlib.PDU) error {
	return gomatrixserverlib.VerifyEventSignatures(ctx, pdu, s.keyRing, userIDForSender)
}

// input runs one event through the roomserver and turns a rejection into
// an error for the sender.
func (s *Server) input(ctx context.Context, pdu gomatrixserverlib.PDU, kind roomserver.InputKind) error {
	res, err := s.rooms.InputEvents(ctx, []roomserver.InputEvent{{Kind: kind, PDU: pdu}})
	if err != nil {
		return err
	}
	if res[0].Rejected {
		return fmt.Errorf("event %s: %w", pdu.EventID(), errRejected)
	}
	return nil
}

// errRejected is an event the auth rules refused: stored as rejected,
// which for a transaction is a PDU handled, not an error (the sender
// cannot do anything about it).
var errRejected = errors.New("rejected by the auth rules")

// localNameFor is the local server name that speaks for us in a room.
func (s *Server) localNameFor(ctx context.Context, roomID string) spec.ServerName {
	_, name := s.localServerInRoom(ctx, roomID)
	return name
}

// inboundTxns makes retries of a transaction wait for the first attempt
// and answers them from its result for a while after.
type inboundTxns struct {
	mu      sync.Mutex
	running map[string]*txnCall
}

type txnCall struct {
	done chan struct{}
	res  any
	err  error
	at   time.Time
}

// txnMemory is how long a finished transaction's answer is kept; senders
// retry within seconds to minutes. A retry after it (or after a restart)
// runs again, which is harmless: stored events are recognised as
// duplicates.
const txnMemory = 10 * time.Minute

func newInboundTxns() *inboundTxns { return &inboundTxns{running: map[string]*txnCall{}} }

func (t *inboundTxns) do(key string, fn func() (any, error)) (any, error) {
	t.mu.Lock()
	now := time.Now()
	for k, c := range t.running {
		select {
		case <-c.done:
			if now.Sub(c.at) > txnMemory {
				delete(t.running, k)
			}
		default:
		}
	}
	if c, ok := t.running[key]; ok {
		t.mu.Unlock()
		<-c.done
		return c.res, c.err
	}
	c := &txnCall{done: make(chan struct{})}
	t.running[key] = c
	t.mu.Unlock()
	defer func() {
		c.at = time.Now()
		close(c.done)
	}()
	c.res, c.err = fn()
	return c.res, c.err
}
