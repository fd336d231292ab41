package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matrix-org/gomatrix"
	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/fclient"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/roomserver"
	"maunium.net/go/mautrix"
)

// A misbehaving peer gets the spec's error for each kind of bad input and
// never changes a room: hs2 plays the bad peer with its own, valid keys.

// peerClient is a federation client speaking as srv.
func peerClient(t testing.TB, srv *apptest.Server) fclient.FederationClient {
	t.Helper()
	c, err := federationapi.NewFederationClient(srv.App.Config, srv.App.Keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signedRequest sends a request signed by from to to and returns the
// status and errcode of the answer.
func signedRequest(t *testing.T, c fclient.FederationClient, from, to *apptest.Server, method, path string, body any) (int, string) {
	t.Helper()
	req := fclient.NewFederationRequest(method, from.ServerName, to.ServerName, path)
	if body != nil {
		if raw, ok := body.([]byte); ok {
			// Not JSON: sign an empty object and send the bytes instead,
			// which the receiver must refuse before it looks further.
			httpReq := mustRequest(t, req, from)
			httpReq.Body = io.NopCloser(bytes.NewReader(raw))
			httpReq.ContentLength = int64(len(raw))
			return statusOf(c.DoRequestAndParseResponse(context.Background(), httpReq, &struct{}{}))
		}
		if err := req.SetContent(body); err != nil {
			t.Fatal(err)
		}
	}
	return statusOf(c.DoRequestAndParseResponse(context.Background(), mustRequest(t, req, from), &struct{}{}))
}

func mustRequest(t *testing.T, req fclient.FederationRequest, from *apptest.Server) *http.Request {
	t.Helper()
	key := from.App.Keys[0]
	if err := req.Sign(key.ServerName, key.ID, key.Private); err != nil {
		t.Fatal(err)
	}
	httpReq, err := req.HTTPRequest()
	if err != nil {
		t.Fatal(err)
	}
	return httpReq
}

func statusOf(err error) (int, string) {
	if err == nil {
		return http.StatusOK, ""
	}
	var he gomatrix.HTTPError
	if errors.As(err, &he) {
		var body struct {
			Errcode string `json:"errcode"`
		}
		_ = json.Unmarshal(he.Contents, &body)
		return he.Code, body.Errcode
	}
	return 0, err.Error()
}

// buildAs builds an event on hs1's view of the room, signed by signer.
func buildAs(t *testing.T, hs1, signer *apptest.Server, roomID, sender, evType string, stateKey *string, content any) gomatrixserverlib.PDU {
	t.Helper()
	raw, _ := json.Marshal(content)
	tmpl, err := hs1.App.Rooms.EventTemplate(context.Background(), roomserver.TemplateRequest{RoomID: roomID, Sender: sender, Type: evType, StateKey: stateKey, Content: raw})
	if err != nil {
		t.Fatal(err)
	}
	verImpl, _ := gomatrixserverlib.GetRoomVersion(tmpl.Event.Version())
	b := verImpl.NewEventBuilderFromProtoEvent(&gomatrixserverlib.ProtoEvent{
		SenderID: sender, RoomID: roomID, Type: evType, StateKey: stateKey, Content: raw,
		PrevEvents: tmpl.Event.PrevEventIDs(), AuthEvents: tmpl.Event.AuthEventIDs(), Depth: tmpl.Event.Depth(),
	})
	key := signer.App.Keys[0]
	pdu, err := b.Build(time.Now(), key.ServerName, key.ID, key.Private)
	if err != nil {
		t.Fatal(err)
	}
	return pdu
}

func sendPDUs(t *testing.T, c fclient.FederationClient, from, to *apptest.Server, txnID string, pdus ...gomatrixserverlib.PDU) fclient.RespSend {
	t.Helper()
	txn := gomatrixserverlib.Transaction{TransactionID: gomatrixserverlib.TransactionID(txnID), Origin: from.ServerName,
		Destination: to.ServerName, OriginServerTS: spec.AsTimestamp(time.Now())}
	for _, p := range pdus {
		txn.PDUs = append(txn.PDUs, p.JSON())
	}
	res, err := c.SendTransaction(context.Background(), txn)
	if err != nil {
		t.Fatalf("send transaction: %v", err)
	}
	return res
}

func TestFederationBadPeer(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 2)
	hs1, hs2 := servers[0], servers[1]
	ctx := context.Background()
	alice, bob, room := federatedRoom(t, hs1, hs2)
	c := peerClient(t, hs2)
	roomID := room.String()
	plBefore, err := hs1.App.Rooms.StateEvent(ctx, roomID, spec.MRoomPowerLevels, "")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("an event forged in a local user's name", func(t *testing.T) {
		forged := buildAs(t, hs1, hs2, roomID, alice.UserID.String(), "m.room.message", nil, map[string]string{"msgtype": "m.text", "body": "forged"})
		res := sendPDUs(t, c, hs2, hs1, "forged", forged)
		if res.PDUs[forged.EventID()].Error == "" {
			t.Errorf("forged event accepted: %+v", res.PDUs)
		}
	})
	t.Run("an event that fails the auth rules", func(t *testing.T) {
		empty := ""
		grab := buildAs(t, hs1, hs2, roomID, bob.UserID.String(), spec.MRoomPowerLevels, &empty, map[string]any{"users": map[string]int{bob.UserID.String(): 100}})
		// Handled (stored as rejected), so no error for the sender; what
		// counts is that the room's power levels stay as they were.
		sendPDUs(t, c, hs2, hs1, "grab", grab)
		plAfter, err := hs1.App.Rooms.StateEvent(ctx, roomID, spec.MRoomPowerLevels, "")
		if err != nil || string(plAfter.Content) != string(plBefore.Content) {
			t.Errorf("power levels changed: %s", plAfter.Content)
		}
	})
	t.Run("an event changed after signing", func(t *testing.T) {
		ok := buildAs(t, hs1, hs2, roomID, bob.UserID.String(), "m.room.message", nil, map[string]string{"msgtype": "m.text", "body": "original"})
		tampered := strings.Replace(string(ok.JSON()), "original", "tampered", 1)
		txn := gomatrixserverlib.Transaction{TransactionID: "tampered", Origin: hs2.ServerName, Destination: hs1.ServerName,
			OriginServerTS: spec.AsTimestamp(time.Now()), PDUs: []json.RawMessage{json.RawMessage(tampered)}}
		res, err := c.SendTransaction(ctx, txn)
		if err != nil {
			t.Fatal(err)
		}
		// The content hash no longer matches: the event is redacted, not
		// taken as sent.
		if r, ok2 := res.PDUs[ok.EventID()]; ok2 && r.Error == "" {
			msgs, _ := alice.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 20)
			for _, ev := range msgs.Chunk {
				if ev.Content.Raw["body"] == "tampered" {
					t.Errorf("tampered content shown to alice")
				}
			}
		}
	})
	t.Run("a valid event from the peer is taken", func(t *testing.T) {
		good := buildAs(t, hs1, hs2, roomID, bob.UserID.String(), "m.room.message", nil, map[string]string{"msgtype": "m.text", "body": "signed properly"})
		res := sendPDUs(t, c, hs2, hs1, "good", good)
		if e := res.PDUs[good.EventID()].Error; e != "" {
			t.Fatalf("good event refused: %s", e)
		}
		waitForMessage(t, alice, room, "signed properly")
	})
	tests := []struct {
		name, method, path string
		body               any
		status             int
		errcode            string
	}{
		{"too many PDUs", "PUT", "/_matrix/federation/v1/send/big", map[string]any{"pdus": make([]json.RawMessage, 51), "edus": []any{}}, 400, "M_BAD_JSON"},
		{"too many EDUs", "PUT", "/_matrix/federation/v1/send/edus", map[string]any{"pdus": []any{}, "edus": make([]map[string]any, 101)}, 400, "M_BAD_JSON"},
		{"a body that is not JSON", "PUT", "/_matrix/federation/v1/send/notjson", []byte("{not json"), 400, "M_NOT_JSON"},
		{"PDUs that are not objects", "PUT", "/_matrix/federation/v1/send/strings", map[string]any{"pdus": []string{"x"}}, 200, ""},
		{"an unknown event", "GET", "/_matrix/federation/v1/event/$nope", nil, 404, "M_NOT_FOUND"},
		{"state of an unknown room", "GET", "/_matrix/federation/v1/state_ids/!nope:" + string(hs1.ServerName) + "?event_id=$x", nil, 404, "M_NOT_FOUND"},
		{"state without event_id", "GET", "/_matrix/federation/v1/state_ids/" + roomID, nil, 400, "M_MISSING_PARAM"},
		{"make_join for another server's user", "GET", "/_matrix/federation/v1/make_join/" + roomID + "/@mallory:elsewhere.example?ver=10&ver=11", nil, 403, "M_FORBIDDEN"},
		{"backfill without limit", "GET", "/_matrix/federation/v1/backfill/" + roomID + "?v=$x", nil, 400, "M_INVALID_PARAM"},
		{"an unknown endpoint", "GET", "/_matrix/federation/v1/nonsense", nil, 404, "M_UNRECOGNIZED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, errcode := signedRequest(t, c, hs2, hs1, tc.method, tc.path, tc.body)
			if status != tc.status || errcode != tc.errcode {
				t.Errorf("got %d %q, want %d %q", status, errcode, tc.status, tc.errcode)
			}
		})
	}
	// hs1 is still in good shape: the conversation goes on.
	if _, err := alice.SendText(ctx, room, "still fine"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, room, "still fine")
}

// A server that is not on the allow-list can neither join nor send.
func TestFederationAllowList(t *testing.T) {
	t.Parallel()
	servers := apptest.StartFederation(t, 3)
	hs1, hs2, hs3 := servers[0], servers[1], servers[2]
	ctx := context.Background()
	// hs1 federates with hs2 only.
	hs1.App.Config.FederationDomainWhitelist = &[]string{string(hs2.ServerName)}
	hs1.Restart(t)
	alice := hs1.Register(t, "alice")
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	carol := hs3.Register(t, "carol")
	if _, err := carol.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err == nil {
		t.Fatal("a server outside the allow-list joined")
	}
	status, errcode := signedRequest(t, peerClient(t, hs3), hs3, hs1, "PUT", "/_matrix/federation/v1/send/x", map[string]any{"pdus": []any{}})
	if status != http.StatusForbidden || errcode != "M_FORBIDDEN" {
		t.Errorf("hs3's transaction: %d %s, want 403 M_FORBIDDEN", status, errcode)
	}
	// hs1 refuses to invite hs3's users, and hs2 still gets in.
	if _, err := alice.InviteUser(ctx, created.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err == nil {
		t.Error("invite to a server outside the allow-list succeeded")
	}
	bob := hs2.Register(t, "bob")
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs1.ServerName)}}); err != nil {
		t.Fatalf("allowed server cannot join: %v", err)
	}
	if _, err := alice.SendText(ctx, created.RoomID, fmt.Sprintf("only for %s", hs2.ServerName)); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, created.RoomID, fmt.Sprintf("only for %s", hs2.ServerName))
}
