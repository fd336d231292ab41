package roomserver

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

// remoteServer builds and signs events as another homeserver would.
type remoteServer struct {
	t   *testing.T
	key serverkey.Key
	s   *Server
}

func newRemote(t *testing.T, s *Server) *remoteServer {
	key, err := serverkey.LoadOrCreate(filepath.Join(t.TempDir(), "remote.key"), "remote.test")
	if err != nil {
		t.Fatal(err)
	}
	return &remoteServer{t: t, key: key, s: s}
}

// build makes an event on top of prev, with auth events chosen from the
// room's current state.
func (rs *remoteServer) build(roomID string, sender spec.UserID, evType string, stateKey *string, content string, prev []string) gomatrixserverlib.PDU {
	rs.t.Helper()
	r, err := rs.s.room(context.Background(), roomID)
	if err != nil {
		rs.t.Fatal(err)
	}
	return rs.buildOn(r, sender, evType, stateKey, content, prev)
}

// buildOn is build with auth events from a given (earlier) room state, as
// a server that has not seen the latest events would choose them.
func (rs *remoteServer) buildOn(r *room, sender spec.UserID, evType string, stateKey *string, content string, prev []string) gomatrixserverlib.PDU {
	rs.t.Helper()
	roomID := r.id
	proto := &gomatrixserverlib.ProtoEvent{SenderID: sender.String(), RoomID: roomID, Type: evType, StateKey: stateKey, Content: spec.RawJSON(content)}
	builder := r.version.NewEventBuilderFromProtoEvent(proto)
	builder.PrevEvents = prev
	builder.Depth = r.depth + 1
	if err := builder.AddAuthEvents(r); err != nil {
		rs.t.Fatal(err)
	}
	pdu, err := builder.Build(time.Now(), rs.key.ServerName, rs.key.ID, rs.key.Private)
	if err != nil {
		rs.t.Fatal(err)
	}
	return pdu
}

func (rs *remoteServer) input(pdu gomatrixserverlib.PDU) (InputResult, error) {
	res, err := apiOf(rs.t, rs.s).InputEvents(context.Background(), []InputEvent{{Kind: InputNew, PDU: pdu}})
	if err != nil {
		return InputResult{}, err
	}
	return res[0], nil
}

func extremities(t *testing.T, s *Server, roomID string) []string {
	r, err := s.room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	return r.extremities
}

// remoteJoinedRoom is a public room of alice's that rob, of another
// server, has joined; join is rob's join event.
func remoteJoinedRoom(t *testing.T, s *Server) (room string, alice, rob spec.UserID, remote *remoteServer, join gomatrixserverlib.PDU) {
	t.Helper()
	alice, rob = user(t, "@alice:test.local"), user(t, "@rob:remote.test")
	created, err := apiOf(t, s).CreateRoom(context.Background(), CreateRoomRequest{Creator: alice, Preset: "public_chat", RoomVersion: "10"})
	if err != nil {
		t.Fatal(err)
	}
	room = created.RoomID
	remote = newRemote(t, s)
	robKey := rob.String()
	join = remote.build(room, rob, spec.MRoomMember, &robKey, `{"membership":"join"}`, extremities(t, s, room))
	if res, err := remote.input(join); err != nil || res.Rejected || res.SoftFailed || res.StreamPos == 0 {
		t.Fatalf("remote join: %+v, %v", res, err)
	}
	return room, alice, rob, remote, join
}

func TestRemoteEventsTakeTheInputPath(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	room, alice, rob, remote, join := remoteJoinedRoom(t, s)
	robKey := rob.String()
	if m, _ := apiOf(t, s).Membership(ctx, room, rob); m != spec.Join {
		t.Fatalf("rob's membership = %s", m)
	}
	if res, _ := remote.input(join); !res.Duplicate {
		t.Fatal("the same event twice must be a duplicate")
	}

	empty := ""
	t.Run("an event the auth rules forbid is rejected", func(t *testing.T) {
		pl := remote.build(room, rob, spec.MRoomPowerLevels, &empty, `{"users":{"@rob:remote.test":100}}`, extremities(t, s, room))
		res, err := remote.input(pl)
		if err != nil || !res.Rejected {
			t.Fatalf("power grab: %+v, %v", res, err)
		}
		if ev, err := apiOf(t, s).Event(ctx, pl.EventID()); err == nil {
			t.Fatalf("a rejected event is visible: %s", ev.Client)
		}
	})

	t.Run("missing prev_events are reported", func(t *testing.T) {
		orphan := remote.build(room, rob, "m.room.message", nil, `{"body":"?"}`, []string{"$unknown"})
		if _, err := remote.input(orphan); !errors.Is(err, ErrMissingPrevEvents) {
			t.Fatalf("err = %v, want ErrMissingPrevEvents", err)
		}
	})

	t.Run("a fork with other state is resolved into the current state", func(t *testing.T) {
		base := extremities(t, s, room)
		if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: room, Sender: alice, Type: spec.MRoomName, StateKey: &empty, Content: json.RawMessage(`{"name":"Amt"}`)}); err != nil {
			t.Fatal(err)
		}
		// Rob renames himself on the branch before the room got its name.
		rename := remote.build(room, rob, spec.MRoomMember, &robKey, `{"membership":"join","displayname":"Rob"}`, base)
		res, err := remote.input(rename)
		if err != nil || res.Rejected || res.SoftFailed {
			t.Fatalf("fork: %+v, %v", res, err)
		}
		if got := extremities(t, s, room); len(got) != 2 {
			t.Fatalf("extremities after a fork = %v, want two", got)
		}
		name, err := apiOf(t, s).StateEvent(ctx, room, spec.MRoomName, "")
		if err != nil || string(name.Content) != `{"name":"Amt"}` {
			t.Fatalf("room name lost in resolution: %v %v", name, err)
		}
		member, err := apiOf(t, s).StateEvent(ctx, room, spec.MRoomMember, robKey)
		if err != nil || string(member.Content) != `{"displayname":"Rob","membership":"join"}` {
			t.Fatalf("rob's rename lost in resolution: %s %v", member.Content, err)
		}
		// The next local event merges the branches.
		merged, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: room, Sender: alice, Type: "m.room.message", Content: json.RawMessage(`{"body":"merge"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if got := extremities(t, s, room); len(got) != 1 || got[0] != merged.EventID {
			t.Fatalf("extremities after merge = %v", got)
		}
	})

	t.Run("an event allowed before a ban but not after is soft-failed", func(t *testing.T) {
		before := extremities(t, s, room)
		// A published room state never changes, so it is the state the
		// remote server still sees.
		stale, err := s.room(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: room, Sender: alice, Type: spec.MRoomMember, StateKey: &robKey, Content: json.RawMessage(`{"membership":"ban"}`)}); err != nil {
			t.Fatal(err)
		}
		late := remote.buildOn(stale, rob, "m.room.message", nil, `{"body":"sneaky"}`, before)
		res, err := remote.input(late)
		if err != nil || !res.SoftFailed {
			t.Fatalf("late message: %+v, %v", res, err)
		}
		if _, err := apiOf(t, s).Event(ctx, late.EventID()); err == nil {
			t.Fatal("a soft-failed event is visible")
		}
	})
}

// A soft-failed event changes no extremity: it never becomes one, and the
// event it builds on stays one (a second soft-failed event on the same
// parent changes nothing either). An accepted event that builds on a
// chain of soft-failed events ends them all: its prev events, and what the
// soft-failed ones among them build on, are no longer extremities.
func TestSoftFailedEventsAndExtremities(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	room, alice, rob, remote, join := remoteJoinedRoom(t, s)
	empty := ""
	beforePL, err := s.room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := apiOf(t, s).SendEvent(ctx, SendEventRequest{RoomID: room, Sender: alice, Type: spec.MRoomPowerLevels, StateKey: &empty,
		Content: json.RawMessage(`{"users":{"@alice:test.local":100},"events":{"org.example.restricted":100}}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := func(what string, ids ...string) {
		t.Helper()
		got := slices.Clone(extremities(t, s, room))
		slices.Sort(got)
		slices.Sort(ids)
		if !slices.Equal(got, ids) {
			t.Fatalf("extremities after %s = %v, want %v", what, got, ids)
		}
	}
	// Rob, not having seen the power levels, writes on his join.
	m1 := remote.buildOn(beforePL, rob, "m.room.message", nil, `{"body":"M1"}`, []string{join.EventID()})
	if res, err := remote.input(m1); err != nil || res.Rejected || res.SoftFailed {
		t.Fatalf("M1: %+v, %v", res, err)
	}
	want("M1", pl.EventID, m1.EventID())
	softFail := func(name string, prev string) gomatrixserverlib.PDU {
		t.Helper()
		ev := remote.buildOn(beforePL, rob, "org.example.restricted", nil, `{"n":"`+name+`"}`, []string{prev})
		if res, err := remote.input(ev); err != nil || !res.SoftFailed {
			t.Fatalf("%s: %+v, %v", name, res, err)
		}
		return ev
	}
	sf1 := softFail("SF1", m1.EventID())
	want("SF1", pl.EventID, m1.EventID())
	softFail("SF1b", m1.EventID())
	want("a second soft-failed event on M1", pl.EventID, m1.EventID())
	sf2 := softFail("SF2", sf1.EventID())
	want("SF2", pl.EventID, m1.EventID())

	// M2 builds on the power levels and SF2; rob has seen the power levels now.
	current, err := s.room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	m2 := remote.buildOn(current, rob, "m.room.message", nil, `{"body":"M2"}`, []string{pl.EventID, sf2.EventID()})
	if res, err := remote.input(m2); err != nil || res.Rejected || res.SoftFailed {
		t.Fatalf("M2: %+v, %v", res, err)
	}
	want("M2", m2.EventID())
}
