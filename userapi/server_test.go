package userapi

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"golang.org/x/crypto/bcrypt"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/bus"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/internal/testdb"
)

// newTestServer is the API as the tests call it: the server itself, or with
// ROHRPOST_TEST_OVER_BUS set a client of it over NATS (with its caches), so
// that these tests cover the API both ways.
func newTestServer(t testing.TB) API {
	t.Helper()
	db, err := sqlutil.Open(testdb.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cfg := config.Default()
	cfg.ServerName = "test"
	overBus := os.Getenv("ROHRPOST_TEST_OVER_BUS") != ""
	var b *bus.Conn
	if overBus {
		if b, err = bus.Connect(context.Background(), bus.Options{StoreDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
	}
	s, err := New(cfg, db, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.PasswordCost = bcrypt.MinCost
	if !overBus {
		return s
	}
	srv, err := Serve(b.NC, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return NewClient(b)
}

func uid(t testing.TB, s string) spec.UserID {
	t.Helper()
	u, err := spec.NewUserID(s, true)
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

func TestRegister(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, RegisterRequest{User: uid(t, "@taken:test"), Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		req        RegisterRequest
		wantErr    error
		wantPrefix string
		wantToken  bool
	}{
		{"user", RegisterRequest{User: uid(t, "@alice:test"), Password: "pw", DeviceID: "DEV"}, nil, "@alice:test", true},
		{"plus and slash", RegisterRequest{User: uid(t, "@a+b/c:test"), Password: "pw"}, nil, "@a+b/c:test", true},
		{"no login", RegisterRequest{User: uid(t, "@quiet:test"), NoDevice: true}, nil, "@quiet:test", false},
		{"guest", RegisterRequest{Kind: KindGuest, DeviceID: "IGNORED"}, nil, "@", true},
		{"no username", RegisterRequest{Password: "pw"}, nil, "@", true},
		{"taken", RegisterRequest{User: uid(t, "@taken:test")}, ErrUserInUse, "", false},
		{"upper case", RegisterRequest{User: uid(t, "@Alice:test")}, ErrInvalidUsername, "", false},
		{"numeric", RegisterRequest{User: uid(t, "@12345:test")}, ErrInvalidUsername, "", false},
		{"remote", RegisterRequest{User: uid(t, "@bob:elsewhere")}, ErrInvalidUsername, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := s.Register(ctx, tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !strings.HasPrefix(sess.UserID.String(), tc.wantPrefix) || !strings.HasSuffix(sess.UserID.String(), ":test") {
				t.Errorf("user id = %s", sess.UserID.String())
			}
			if (sess.AccessToken != "") != tc.wantToken {
				t.Errorf("access token = %q", sess.AccessToken)
			}
			if !tc.wantToken {
				return
			}
			dev, err := s.VerifyAccessToken(ctx, sess.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if dev.UserID != sess.UserID || dev.ID != sess.DeviceID || dev.IsGuest != (tc.req.Kind == KindGuest) {
				t.Errorf("device = %+v", dev)
			}
			if tc.req.DeviceID != "" && tc.req.Kind != KindGuest && sess.DeviceID != tc.req.DeviceID {
				t.Errorf("device id = %s, want %s", sess.DeviceID, tc.req.DeviceID)
			}
			if tc.req.Kind == KindGuest && sess.DeviceID == tc.req.DeviceID {
				t.Error("guest kept the requested device id")
			}
		})
	}
	p, err := s.Profile(ctx, uid(t, "@alice:test"))
	if err != nil || p.DisplayName != "alice" {
		t.Errorf("default display name: %+v, %v", p, err)
	}
}

func TestUsernameAvailable(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, RegisterRequest{User: uid(t, "@taken:test"), NoDevice: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user    string
		want    bool
		wantErr error
	}{
		{"@free:test", true, nil},
		{"@taken:test", false, nil},
		{"@Bad:test", false, ErrInvalidUsername},
		{"@free:elsewhere", false, ErrInvalidUsername},
	}
	for _, tc := range tests {
		t.Run(tc.user, func(t *testing.T) {
			got, err := s.UsernameAvailable(ctx, uid(t, tc.user))
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestLoginAndPasswords(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	alice := uid(t, "@alice:test")
	long := strings.Repeat("x", 100)
	if _, err := s.Register(ctx, RegisterRequest{User: alice, Password: long, NoDevice: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, RegisterRequest{Kind: KindGuest}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		user     spec.UserID
		password string
		wantErr  error
	}{
		{"right", alice, long, nil},
		// bcrypt alone would accept this: it ignores bytes after the 72nd.
		{"same first 72 bytes", alice, long[:72] + "y", ErrBadCredentials},
		{"wrong", alice, "nope", ErrBadCredentials},
		{"unknown user", uid(t, "@nobody:test"), "pw", ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := s.LoginPassword(ctx, LoginRequest{User: tc.user, Password: tc.password, DeviceDisplayName: "Phone"})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (sess.AccessToken == "" || len(sess.DeviceID) != 10) {
				t.Errorf("session = %+v", sess)
			}
		})
	}

	if err := s.SetPassword(ctx, alice, "new", false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckPassword(ctx, alice, "new"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.CheckPassword(ctx, alice, long); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password: %v", err)
	}
	if err := s.SetPassword(ctx, uid(t, "@nobody:test"), "x", false, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}

	if err := s.Deactivate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoginPassword(ctx, LoginRequest{User: alice, Password: "new"}); !errors.Is(err, ErrDeactivated) {
		t.Errorf("login after deactivation: %v", err)
	}
	acc, err := s.Account(ctx, alice)
	if err != nil || !acc.Deactivated || acc.HasPassword {
		t.Errorf("account = %+v, %v", acc, err)
	}
}

// Every way a token stops working must also empty the cache.
func TestTokenRevocation(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		revoke func(s API, user spec.UserID, dev *Device) error
	}{
		{"logout", func(s API, _ spec.UserID, dev *Device) error { return s.Logout(ctx, dev) }},
		{"logout all", func(s API, user spec.UserID, _ *Device) error { return s.LogoutAll(ctx, user) }},
		{"delete device", func(s API, user spec.UserID, dev *Device) error {
			return s.DeleteDevices(ctx, user, []string{dev.ID})
		}},
		{"password change", func(s API, user spec.UserID, _ *Device) error {
			return s.SetPassword(ctx, user, "new", true, "OTHER")
		}},
		{"deactivate", func(s API, user spec.UserID, _ *Device) error { return s.Deactivate(ctx, user) }},
		{"login again with the device id", func(s API, user spec.UserID, dev *Device) error {
			_, err := s.LoginPassword(ctx, LoginRequest{User: user, Password: "pw", DeviceID: dev.ID})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t)
			user := uid(t, "@alice:test")
			sess, err := s.Register(ctx, RegisterRequest{User: user, Password: "pw", DeviceID: "DEV"})
			if err != nil {
				t.Fatal(err)
			}
			dev, err := s.VerifyAccessToken(ctx, sess.AccessToken) // now cached
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.revoke(s, user, dev); err != nil {
				t.Fatal(err)
			}
			if _, err := s.VerifyAccessToken(ctx, sess.AccessToken); !errors.Is(err, ErrUnknownToken) {
				t.Errorf("token still works: %v", err)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	user := uid(t, "@alice:test")
	sess, err := s.Register(ctx, RegisterRequest{User: user, Password: "pw", DeviceID: "A", DeviceDisplayName: "Phone"})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := s.VerifyAccessToken(ctx, sess.AccessToken)
	if err != nil || dev.DisplayName != "Phone" {
		t.Fatalf("device = %+v, %v", dev, err)
	}
	if err := s.DeviceSeen(ctx, dev, "10.1.2.3", "test-agent"); err != nil {
		t.Fatal(err)
	}
	name := "Laptop"
	if err := s.UpdateDevice(ctx, user, "A", &name); err != nil {
		t.Fatal(err)
	}
	if dev, _ := s.VerifyAccessToken(ctx, sess.AccessToken); dev.DisplayName != "Laptop" {
		t.Errorf("cached name not updated: %q", dev.DisplayName)
	}
	if err := s.UpdateDevice(ctx, user, "NOPE", &name); !errors.Is(err, ErrNotFound) {
		t.Errorf("rename unknown: %v", err)
	}
	if err := s.UpdateDevice(ctx, user, "NOPE", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("touch unknown: %v", err)
	}
	info, err := s.Device(ctx, user, "A")
	if err != nil || *info.DisplayName != "Laptop" || info.LastSeenIP == nil || *info.LastSeenIP != "10.1.2.3" || info.LastSeenUserAgent != "test-agent" {
		t.Errorf("device info = %+v, %v", info, err)
	}
	list, err := s.Devices(ctx, uid(t, "@nobody:test"))
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("devices of nobody = %#v, %v", list, err)
	}
}

func TestAccountDataAndTags(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	user := uid(t, "@alice:test")
	if _, err := s.PutAccountData(ctx, user, "", "m.direct", json.RawMessage(`{"@b:test":["!r:test"]}`)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() (int64, error)
		want string
	}{
		{"add", func() (int64, error) {
			return s.PutTag(ctx, user, "!r:test", "m.favourite", json.RawMessage(`{"order":0.5}`))
		}, `{"tags":{"m.favourite":{"order":0.5}}}`},
		{"add another", func() (int64, error) { return s.PutTag(ctx, user, "!r:test", "u.work", json.RawMessage(`{}`)) }, `{"tags":{"m.favourite":{"order":0.5},"u.work":{}}}`},
		{"delete", func() (int64, error) { return s.DeleteTag(ctx, user, "!r:test", "m.favourite") }, `{"tags":{"u.work":{}}}`},
		{"delete missing", func() (int64, error) { return s.DeleteTag(ctx, user, "!r:test", "m.favourite") }, `{"tags":{"u.work":{}}}`},
	}
	prev := int64(1)
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			pos, err := st.do()
			if err != nil {
				t.Fatal(err)
			}
			if pos <= prev {
				t.Errorf("position %d did not grow past %d", pos, prev)
			}
			prev = pos
			got, err := s.AccountData(ctx, user, "!r:test", "m.tag")
			if err != nil || string(got) != st.want {
				t.Errorf("m.tag = %s, %v; want %s", got, err, st.want)
			}
		})
	}
	items, err := s.AccountDataSince(ctx, user, 0, prev)
	if err != nil || len(items) != 2 || items[0].Type != "m.direct" || items[1].RoomID != "!r:test" {
		t.Errorf("since = %+v, %v", items, err)
	}
	if pos, _ := s.AccountDataPosition(ctx); pos != prev {
		t.Errorf("position = %d, want %d", pos, prev)
	}
	if _, err := s.AccountData(ctx, user, "", "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestFilters(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	user := uid(t, "@alice:test")
	tests := []struct {
		name    string
		filter  string
		wantErr error
	}{
		{"object", `{"room":{"timeline":{"limit":10}}}`, nil},
		{"array", `[1]`, ErrInvalidFilter},
		{"broken", `{"room":`, ErrInvalidFilter},
		{"empty", ``, ErrInvalidFilter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := s.PutFilter(ctx, user, json.RawMessage(tc.filter))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got, err := s.Filter(ctx, user, id)
			if err != nil || string(got) != tc.filter {
				t.Errorf("filter %s = %s, %v", id, got, err)
			}
		})
	}
	for _, id := range []string{"7", "-1", "01", "x", "{"} {
		if _, err := s.Filter(ctx, user, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("filter %q: %v", id, err)
		}
	}
}

func TestProfile(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	user := uid(t, "@alice:test")
	if _, err := s.Register(ctx, RegisterRequest{User: user, NoDevice: true, DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	av := "mxc://test/abc"
	p, err := s.SetProfile(ctx, user, nil, &av)
	if err != nil || p.DisplayName != "Alice" || p.AvatarURL != av {
		t.Errorf("set avatar: %+v, %v", p, err)
	}
	for _, u := range []string{"@nobody:test", "@alice:elsewhere"} {
		if _, err := s.Profile(ctx, uid(t, u)); !errors.Is(err, ErrNotFound) {
			t.Errorf("profile of %s: %v", u, err)
		}
	}
}
