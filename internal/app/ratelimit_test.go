package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
)

// limitedConfig is the test configuration with rate limits on: lenient
// ones, and tight ones where a test says so.
func limitedConfig(t *testing.T, tighten func(*config.Config)) *config.Config {
	cfg := apptest.Config(t.TempDir())
	cfg.RateLimiting.Enabled = true
	for _, l := range []*config.RateLimit{&cfg.RCMessage, &cfg.RCRegistration, &cfg.RCLogin.Address, &cfg.RCLogin.Account,
		&cfg.RCLogin.FailedAttempts, &cfg.RCJoins.Local, &cfg.RCJoins.Remote, &cfg.RCInvites.PerRoom, &cfg.RCInvites.PerUser,
		&cfg.RC3PIDValidation, &cfg.RCMediaCreate, &cfg.RCContentScanner} {
		*l = config.RateLimit{PerSecond: 100, BurstCount: 100}
	}
	tighten(cfg)
	return cfg
}

// put sends PUT …/send with a raw client, to see status and headers.
func sendRaw(t *testing.T, srv *apptest.Server, cli *mautrix.Client, roomID, txn string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/%s", srv.URL, roomID, txn),
		bytes.NewReader([]byte(`{"msgtype":"m.text","body":"hallo"}`)))
	req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// rc_message: a user sends burst_count messages, the next is 429
// M_LIMIT_EXCEEDED with retry_after_ms and Retry-After, and after that
// wait it goes through. An admin is not limited.
func TestRateLimitedMessages(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, limitedConfig(t, func(c *config.Config) {
		c.RCMessage = config.RateLimit{PerSecond: 2, BurstCount: 3}
	}))
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if resp := sendRaw(t, srv, alice, room.RoomID.String(), fmt.Sprint("t", i)); resp.StatusCode != 200 {
			t.Fatalf("message %d: %d", i, resp.StatusCode)
		}
	}
	resp := sendRaw(t, srv, alice, room.RoomID.String(), "t3")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Errcode      string `json:"errcode"`
		RetryAfterMS int64  `json:"retry_after_ms"`
	}
	_ = json.Unmarshal(body, &e)
	after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || e.Errcode != "M_LIMIT_EXCEEDED" || e.RetryAfterMS <= 0 || e.RetryAfterMS > 500 || after != 1 {
		t.Fatalf("fourth message: %d %s, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	time.Sleep(time.Duration(e.RetryAfterMS) * time.Millisecond)
	if resp := sendRaw(t, srv, alice, room.RoomID.String(), "t3"); resp.StatusCode != 200 {
		t.Fatalf("after retry_after_ms: %d", resp.StatusCode)
	}

	admin := registerAdmin(t, srv, "chef")
	aroom, err := admin.CreateRoom(ctx, &mautrix.ReqCreateRoom{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := admin.SendMessageEvent(ctx, aroom.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": "x"}); err != nil {
			t.Fatalf("admin message %d: %v", i, err)
		}
	}
}

// rc_registration counts accounts made per address, not the rounds of
// authentication; after rc_login.failed_attempts wrong passwords an
// account refuses logins, even with the right password, until the wait
// is over (as Synapse does).
func TestRateLimitedRegistrationAndLogin(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, limitedConfig(t, func(c *config.Config) {
		c.RCRegistration = config.RateLimit{PerSecond: 0.001, BurstCount: 2}
		c.RCLogin.FailedAttempts = config.RateLimit{PerSecond: 0.001, BurstCount: 2}
	}))
	ctx := context.Background()
	alice := srv.Register(t, "alice") // a dummy round and the registration
	srv.Register(t, "bob")
	cli, _ := mautrix.NewClient(srv.URL, "", "")
	_, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister{Username: "carol", Password: "correct horse battery staple"})
	if herr, ok := err.(mautrix.HTTPError); !ok || herr.RespError == nil || herr.RespError.ErrCode != "M_LIMIT_EXCEEDED" {
		t.Fatalf("third registration from one address: %v", err)
	}
	login := func(password string) error {
		c, _ := mautrix.NewClient(srv.URL, "", "")
		_, err := c.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: alice.UserID.String()}, Password: password})
		return err
	}
	for range 2 {
		if err := login("falsch"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	err = login("correct horse battery staple")
	if herr, ok := err.(mautrix.HTTPError); !ok || herr.RespError == nil || herr.RespError.ErrCode != "M_LIMIT_EXCEEDED" {
		t.Fatalf("login after two failures: %v", err)
	}
}

// rc_content_scanner bounds the decrypting endpoints of the content
// scanner API per client address, before anything is decrypted.
func TestRateLimitedContentScanner(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, limitedConfig(t, func(c *config.Config) {
		c.RCContentScanner = config.RateLimit{PerSecond: 0.01, BurstCount: 3}
	}))
	alice := srv.Register(t, "alice")
	for i := range 4 {
		req, _ := http.NewRequest("POST", srv.URL+"/_matrix/media_proxy/unstable/scan_encrypted",
			bytes.NewReader([]byte(`{"encrypted_body":{"ciphertext":"AAAA","mac":"AAAA","ephemeral":"AAAA"}}`)))
		req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := 403
		if i == 3 {
			want = 429
		}
		if resp.StatusCode != want || (want == 429 && (resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte("retry_after_ms")))) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

// What rc_message costs a message: sending with limits off and on (in
// memory, as in a single process).
func BenchmarkSendRateLimited(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("limits=%v", on), func(b *testing.B) {
			cfg := apptest.Config(b.TempDir())
			if on {
				cfg.RateLimiting.Enabled = true
				cfg.RCMessage = config.RateLimit{PerSecond: 1e6, BurstCount: 1e6}
			}
			srv := apptest.StartWith(b, cfg)
			cli := srv.Register(b, "alice")
			room, err := cli.CreateRoom(context.Background(), &mautrix.ReqCreateRoom{})
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				i++
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/_matrix/client/v3/rooms/%s/send/m.room.message/b%d", srv.URL, room.RoomID, i),
					bytes.NewReader([]byte(`{"msgtype":"m.text","body":"hallo"}`)))
				req.Header.Set("Authorization", "Bearer "+cli.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(err, resp.StatusCode)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// rc_invites.per_user counts the invites createRoom sends as /invite's:
// one new room per invite does not go round the invitee's limit.
func TestRateLimitedInvitesThroughCreateRoom(t *testing.T) {
	t.Parallel()
	srv := apptest.StartWith(t, limitedConfig(t, func(c *config.Config) {
		c.RCInvites.PerUser = config.RateLimit{PerSecond: 0.1, BurstCount: 2}
	}))
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	for i := range 2 {
		if _, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{bob.UserID}}); err != nil {
			t.Fatalf("room %d with bob invited: %v", i, err)
		}
	}
	_, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{bob.UserID}})
	if !errors.Is(err, mautrix.MLimitExceeded) {
		t.Fatalf("third invite of bob: %v, want M_LIMIT_EXCEEDED", err)
	}
	if _, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}); err != nil {
		t.Fatalf("a room without invitees: %v", err)
	}
}
