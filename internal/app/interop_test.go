package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Interoperability with another homeserver implementation (Dendrite,
// Synapse) that runs beside the test: the same conversation with
// rohrpost in both seats. The other server is not built or started here
// (its code has no place in this repository); point the test at it:
//
//	ROHRPOST_INTEROP_URL=http://127.0.0.1:18008   its client API
//	ROHRPOST_INTEROP_SERVER=127.0.0.1:18448       its server name
//
// It must allow open registration with m.login.dummy, skip TLS
// verification towards us (our test CA is made per test) and allow
// federation to loopback. docs/interop.md tells how the runs were made.

func interopPeer(t *testing.T) (url, server string) {
	url, server = os.Getenv("ROHRPOST_INTEROP_URL"), os.Getenv("ROHRPOST_INTEROP_SERVER")
	if url == "" || server == "" {
		t.Skip("no other implementation to talk to: set ROHRPOST_INTEROP_URL and ROHRPOST_INTEROP_SERVER")
	}
	return url, server
}

// interopServer is a rohrpost that talks to a server whose certificate is
// not from our test CA.
func interopServer(t *testing.T) *apptest.Server {
	hs := apptest.StartFederation(t, 1)[0]
	hs.App.Config.TLSClient.Verify = false
	hs.App.Config.TLSClient.CAFile = ""
	hs.Restart(t)
	return hs
}

func registerAt(t *testing.T, url, name string) *mautrix.Client {
	t.Helper()
	// The other server outlives the test: names must not repeat across runs.
	cli := apptest.RegisterAt(t, url, fmt.Sprintf("%s%d", name, time.Now().UnixNano()%1e9))
	cli.Client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback test peer
	return cli
}

func TestInteropRohrpostHostsOtherJoins(t *testing.T) {
	t.Parallel()
	url, _ := interopPeer(t)
	hs := interopServer(t)
	ctx := context.Background()
	alice := hs.Register(t, "alice")
	bob := registerAt(t, url, "bob")

	aliasName := fmt.Sprintf("interop%d", time.Now().UnixNano())
	created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: aliasName, Name: "Interop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendText(ctx, created.RoomID, "before the join"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, "#"+aliasName+":"+string(hs.ServerName), nil); err != nil {
		t.Fatalf("the other server joins our room by alias: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	if _, err := alice.SendText(ctx, created.RoomID, "from rohrpost"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, created.RoomID, "from rohrpost")
	if _, err := bob.SendText(ctx, created.RoomID, "from the other server"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, alice, created.RoomID, "from the other server")
	// History from before its join reaches the other server by backfill.
	waitForMessage(t, bob, created.RoomID, "before the join")
	// Leave and rejoin.
	if _, err := bob.LeaveRoom(ctx, created.RoomID); err != nil {
		t.Fatal(err)
	}
	waitForMembership(t, alice, created.RoomID, bob.UserID, event.MembershipLeave)
	if _, err := bob.JoinRoom(ctx, created.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs.ServerName)}}); err != nil {
		t.Fatalf("rejoin: %v", err)
	}
	waitForMembers(t, alice, created.RoomID, alice.UserID, bob.UserID)
	if _, err := alice.SendText(ctx, created.RoomID, "welcome back"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, bob, created.RoomID, "welcome back")
}

func TestInteropOtherHostsRohrpostJoins(t *testing.T) {
	t.Parallel()
	url, server := interopPeer(t)
	hs := interopServer(t)
	ctx := context.Background()
	carol := registerAt(t, url, "carol")
	dave := hs.Register(t, "dave")

	aliasName := fmt.Sprintf("remote%d", time.Now().UnixNano())
	created, err := carol.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: aliasName, Name: "Drüben"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := carol.SendText(ctx, created.RoomID, fmt.Sprintf("old news %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dave.JoinRoom(ctx, "#"+aliasName+":"+server, nil); err != nil {
		t.Fatalf("we join the other server's room by alias: %v", err)
	}
	waitForMembers(t, carol, created.RoomID, carol.UserID, dave.UserID)
	if _, err := carol.SendText(ctx, created.RoomID, "hello rohrpost"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, dave, created.RoomID, "hello rohrpost")
	if _, err := dave.SendText(ctx, created.RoomID, "hello back"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, carol, created.RoomID, "hello back")
	// Backfill of what was said before we joined.
	waitForMessage(t, dave, created.RoomID, "old news 0")

	// An invite from the other server into a private room, accepted.
	private, err := carol.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Vertraulich"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.InviteUser(ctx, private.RoomID, &mautrix.ReqInviteUser{UserID: dave.UserID}); err != nil {
		t.Fatalf("the other server invites our user: %v", err)
	}
	syncUntil(t, dave, "", "dave is invited", func(resp *mautrix.RespSync) bool {
		_, ok := resp.Rooms.Invite[private.RoomID]
		return ok
	})
	if _, err := dave.JoinRoom(ctx, private.RoomID.String(), nil); err != nil {
		t.Fatalf("accept: %v", err)
	}
	waitForMembers(t, carol, private.RoomID, carol.UserID, dave.UserID)

	// Our invite to their user.
	mine, err := dave.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dave.InviteUser(ctx, mine.RoomID, &mautrix.ReqInviteUser{UserID: carol.UserID}); err != nil {
		t.Fatalf("we invite the other server's user: %v", err)
	}
	if _, err := carol.JoinRoom(ctx, mine.RoomID.String(), &mautrix.ReqJoinRoom{Via: []string{string(hs.ServerName)}}); err != nil {
		t.Fatalf("their user accepts: %v", err)
	}
	if _, err := carol.SendText(ctx, mine.RoomID, "danke"); err != nil {
		t.Fatal(err)
	}
	waitForMessage(t, dave, mine.RoomID, "danke")
}

// waitForMembership polls until user's membership in room is m.
func waitForMembership(t *testing.T, cli *mautrix.Client, room id.RoomID, user id.UserID, m event.Membership) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var c event.MemberEventContent
		err := cli.StateEvent(context.Background(), room, event.StateMember, user.String(), &c)
		if err == nil && c.Membership == m {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's membership in %s is %q (%v), want %q", user, room, c.Membership, err, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Restricted joins across implementations, both seats: a member of a
// space joins its restricted room on the other server, which names one of
// its own members as the authoriser.
func TestInteropRestrictedJoins(t *testing.T) {
	t.Parallel()
	url, server := interopPeer(t)
	hs := interopServer(t)
	ctx := context.Background()
	ours, theirs := hs.Register(t, "alice"), registerAt(t, url, "bob")
	restricted := func(t *testing.T, host *mautrix.Client) (space, room id.RoomID) {
		t.Helper()
		s, err := host.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: "10", CreationContent: map[string]any{"type": "m.space"}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := host.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", RoomVersion: "10",
			InitialState: admittedFrom("restricted", s.RoomID.String())})
		if err != nil {
			t.Fatal(err)
		}
		return s.RoomID, r.RoomID
	}
	for _, seat := range []struct {
		name         string
		host, joiner *mautrix.Client
		via          string
	}{
		{"rohrpost hosts", ours, theirs, string(hs.ServerName)},
		{"the other server hosts", theirs, ours, server},
	} {
		t.Run(seat.name, func(t *testing.T) {
			space, room := restricted(t, seat.host)
			via := &mautrix.ReqJoinRoom{Via: []string{seat.via}}
			if _, err := seat.joiner.JoinRoom(ctx, room.String(), via); err == nil {
				t.Fatal("joined the restricted room without being in the space")
			}
			if _, err := seat.joiner.JoinRoom(ctx, space.String(), via); err != nil {
				t.Fatalf("join the space: %v", err)
			}
			if _, err := seat.joiner.JoinRoom(ctx, room.String(), via); err != nil {
				t.Fatalf("join the restricted room: %v", err)
			}
			var member map[string]any
			if err := seat.host.StateEvent(ctx, room, event.StateMember, seat.joiner.UserID.String(), &member); err != nil {
				t.Fatal(err)
			}
			if member["membership"] != "join" || member["join_authorised_via_users_server"] != seat.host.UserID.String() {
				t.Fatalf("the member event: %v", member)
			}
		})
	}
}
