package app_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/internal/retention"
	"github.com/tidwall/gjson"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

const day = 24 * time.Hour

// retentionAt stops the server's own scheduler and returns one with the
// same jobs whose clock reads now, so that a test decides when rounds
// run and how late it is.
func retentionAt(t *testing.T, srv *apptest.Server, now time.Time) *retention.Scheduler {
	t.Helper()
	if srv.App.Retention != nil {
		srv.App.Retention.Stop()
	}
	s, err := retention.New(context.Background(), srv.App.DB, retention.Options{Owner: "test", Now: func() time.Time { return now }}, srv.App.RetentionJobs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// backdate makes a device look last used at ts (the server stamps
// requests with the real clock).
func backdate(t *testing.T, srv *apptest.Server, cli *mautrix.Client, ts time.Time) {
	t.Helper()
	err := srv.App.DB.Write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`UPDATE devices SET created_ts = $1, last_seen_ts = $1 WHERE user_id = $2 AND device_id = $3`,
			ts.UnixMilli(), cli.UserID.String(), cli.DeviceID.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRetentionDevicesAndAddresses: with delete_stale_devices_after 90d
// and user_ips_max_age 28d, a device unused for 100 days is deleted by
// the job like a logout (its token dead, its keys gone, its owner's
// contacts told), and a device unused for 30 days keeps working but loses
// its recorded address and user agent.
func TestRetentionDevicesAndAddresses(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t.TempDir())
	cfg.DeleteStaleDevicesAfter = config.Duration(90 * day)
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice, bob := srv.Register(t, "alice"), srv.Register(t, "bob")
	stale, err := loginAs(srv, alice.UserID, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	idle, err := loginAs(srv, alice.UserID, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, cli := range []*mautrix.Client{alice, stale, idle} {
		if status, body := rawCall(t, cli, "POST", "/keys/upload", map[string]any{"device_keys": deviceKeys(t, cli, newTestKey(t))}); status != 200 {
			t.Fatalf("key upload: %d %v", status, body)
		}
	}
	room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoomByID(ctx, room.RoomID); err != nil {
		t.Fatal(err)
	}
	before, err := bob.SyncRequest(ctx, 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(2 * day)
	backdate(t, srv, stale, now.Add(-100*day))
	backdate(t, srv, idle, now.Add(-30*day))
	if ran := retentionAt(t, srv, now).RunDue(ctx); len(ran) != 2 {
		t.Fatalf("rounds done: %v, want stale_devices and user_ips", ran)
	}

	devices, err := alice.GetDevicesInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[id.DeviceID]mautrix.RespDeviceInfo{}
	for _, d := range devices.Devices {
		got[d.DeviceID] = d
	}
	if _, ok := got[stale.DeviceID]; ok || len(got) != 2 {
		t.Fatalf("devices after the job: %v, want the stale one gone and two left", got)
	}
	if d := got[idle.DeviceID]; d.LastSeenIP != "" {
		t.Fatalf("the idle device kept its address %q", d.LastSeenIP)
	}
	if d := got[alice.DeviceID]; d.LastSeenIP == "" {
		t.Fatalf("the device in use lost its address: %+v", d)
	}
	if _, err := stale.Whoami(ctx); httpStatus(err) != 401 {
		t.Fatalf("the deleted device's token: %v, want 401", err)
	}
	if _, err := idle.Whoami(ctx); err != nil {
		t.Fatalf("the idle device was logged out: %v", err)
	}
	status, body := rawCall(t, bob, "POST", "/keys/query", map[string]any{"device_keys": map[string]any{alice.UserID.String(): []string{}}})
	keys := gjsonOf(body).Get("device_keys." + gjson.Escape(alice.UserID.String())).Map()
	if _, ok := keys[stale.DeviceID.String()]; status != 200 || ok || len(keys) != 2 {
		t.Fatalf("keys of alice after the job: %d %v, want the stale device's gone", status, body)
	}
	after, err := bob.SyncRequest(ctx, 0, before.NextBatch, "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	if !containsUser(after.DeviceLists.Changed, alice.UserID.String()) {
		t.Fatalf("bob was not told that alice's devices changed: %v", after.DeviceLists.Changed)
	}
}

// resetJobs makes every retention job due again, as if its interval had
// passed.
func resetJobs(tx *sql.Tx) error {
	_, err := tx.Exec(`UPDATE retention_jobs SET next_run = 0`)
	return err
}
