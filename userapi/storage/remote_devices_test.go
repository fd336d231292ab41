package storage

import (
	"context"
	"testing"
)

// The cache of remote device lists: a snapshot, then updates that follow
// on it; a gap drops the list, a stale update changes nothing, a slow
// snapshot does not undo newer updates, a snapshot of the cached state
// changes nothing. A snapshot stored and an update applied are key changes
// of the user; an update that cannot be applied is not (the fetch that
// follows records one).
func TestRemoteDeviceListUpdates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		bob := "@bob:remote.test"
		keyChanges := func() int {
			t.Helper()
			pos, err := s.KeyChangePosition(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return int(pos)
		}
		apply := func(stream int64, prev []int64, device string, deleted bool) UpdateOutcome {
			t.Helper()
			out, _, err := s.ApplyRemoteDeviceUpdate(ctx, RemoteDeviceUpdate{UserID: bob, StreamID: stream, PrevIDs: prev, Deleted: deleted,
				Device: RemoteDevice{DeviceID: device, Keys: []byte(`{"device_id":"` + device + `"}`)}})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		devices := func() map[string][]byte {
			t.Helper()
			q, err := s.RemoteKeysForQuery(ctx, []string{bob})
			if err != nil {
				t.Fatal(err)
			}
			return q.DeviceKeys[bob]
		}

		if got := apply(3, []int64{2}, "PHONE", false); got != UpdateUntracked {
			t.Fatalf("update of an untracked list: %v", got)
		}
		if keyChanges() != 0 {
			t.Fatalf("untracked update recorded %d key changes, want none", keyChanges())
		}
		// A snapshot older than that update would miss it.
		if pos, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 2}); err != nil || pos != 0 {
			t.Fatalf("a snapshot behind a seen update was stored: %d %v", pos, err)
		}
		name := "Telefon"
		pos, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 5, RoomPos: 40,
			Devices:          []RemoteDevice{{DeviceID: "PHONE", DisplayName: &name, Keys: []byte(`{"device_id":"PHONE"}`)}, {DeviceID: "NOKEYS"}},
			CrossSigningKeys: map[string][]byte{"master": []byte(`{"usage":["master"]}`)}})
		if err != nil || pos == 0 || keyChanges() != 1 {
			t.Fatalf("snapshot: %d %v, %d key changes", pos, err, keyChanges())
		}
		// The same state fetched again (a query's fetch racing a background
		// one) is no change; it vouches for the list up to its room position.
		if pos, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 5, RoomPos: 45}); err != nil || pos != 0 || keyChanges() != 1 {
			t.Fatalf("snapshot of the cached state: %d %v, %d key changes", pos, err, keyChanges())
		}
		if d := devices(); len(d) != 1 || d["PHONE"] == nil {
			t.Fatalf("devices after a snapshot of the cached state: %v", d)
		}
		heads, err := s.RemoteListHeads(ctx, []string{bob, "@carol:remote.test"})
		if err != nil || len(heads) != 1 || heads[bob] != (RemoteListHead{StreamID: 5, RoomPos: 45}) {
			t.Fatalf("heads %v %v", heads, err)
		}
		if got := apply(5, []int64{4}, "PHONE", false); got != UpdateStale {
			t.Fatalf("stale update: %v", got)
		}
		if got := apply(6, []int64{5}, "LAPTOP", false); got != UpdateApplied {
			t.Fatalf("update following the snapshot: %v", got)
		}
		if got := apply(7, []int64{6}, "PHONE", true); got != UpdateApplied {
			t.Fatalf("deletion: %v", got)
		}
		if d := devices(); len(d) != 1 || d["LAPTOP"] == nil {
			t.Fatalf("devices after the updates: %v", d)
		}
		// A slower snapshot of an older state changes nothing.
		if pos, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 6, RoomPos: 41}); err != nil || pos != 0 {
			t.Fatalf("older snapshot stored: %d %v", pos, err)
		}
		before := keyChanges()
		if got := apply(9, []int64{8}, "TABLET", false); got != UpdateGap {
			t.Fatalf("update after a gap: %v", got)
		}
		if keyChanges() != before {
			t.Fatal("a gap recorded a key change before the fetch")
		}
		if heads, _ := s.RemoteListHeads(ctx, []string{bob}); len(heads) != 0 {
			t.Fatalf("the list survived a gap: %v", heads)
		}
		// Updates that name no predecessor cannot follow a cached list.
		if pos, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 9}); err != nil || pos == 0 {
			t.Fatalf("a snapshot as new as the gap's update: %d %v", pos, err)
		}
		if got := apply(10, nil, "TABLET", false); got != UpdateGap {
			t.Fatalf("update without prev_id: %v", got)
		}
		// A change that cannot be fetched is told on its own.
		before = keyChanges()
		if pos, err := s.NoteRemoteKeyChange(ctx, bob); err != nil || pos == 0 || keyChanges() != before+1 {
			t.Fatalf("noted change: %d %v", pos, err)
		}
	})
}

// Cross-signing keys of a tracked user are cached; those of an untracked
// user only make a key change. Local users' signatures of remote keys
// come with the cached keys.
func TestRemoteCrossSigningKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		bob, carol := "@bob:remote.test", "@carol:remote.test"
		if _, err := s.ReplaceRemoteDeviceList(ctx, RemoteDeviceList{UserID: bob, StreamID: 1}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{bob, carol} {
			if pos, err := s.PutRemoteCrossSigningKeys(ctx, u, map[string][]byte{"master": []byte(`{"keys":{"ed25519:abc":"abc"}}`)}); err != nil || pos == 0 {
				t.Fatalf("%s: %d %v", u, pos, err)
			}
		}
		if _, err := s.PutSignatures(ctx, []KeySignature{{SignerUserID: "@alice:ours.test", SignerKeyID: "ed25519:usk",
			TargetUserID: bob, TargetKeyID: "abc", Signature: "sig"}}); err != nil {
			t.Fatal(err)
		}
		q, err := s.RemoteKeysForQuery(ctx, []string{bob, carol})
		if err != nil {
			t.Fatal(err)
		}
		if q.CrossSigningKeys[bob]["master"] == nil || q.CrossSigningKeys[carol] != nil {
			t.Fatalf("cached cross-signing keys: %v", q.CrossSigningKeys)
		}
		if sigs := q.Signatures[bob]["abc"]; len(sigs) != 1 || sigs[0].SignerUserID != "@alice:ours.test" {
			t.Fatalf("signatures: %v", q.Signatures)
		}
		if err := s.ForgetRemoteDeviceList(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if q, _ := s.RemoteKeysForQuery(ctx, []string{bob}); len(q.CrossSigningKeys) != 0 {
			t.Fatalf("forgotten keys remain: %v", q.CrossSigningKeys)
		}
	})
}

// The federation sender's view of local changes: each change names its
// device, the stream id of a user is their newest device change, and the
// sender's place moves forward only, from where it was.
func TestDeviceListOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice := "@alice:ours.test"
		start, err := s.DeviceListOutboxPos(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.NoteDeviceChange(ctx, alice, "PHONE"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UploadKeys(ctx, KeyUpload{UserID: alice, DeviceID: "PHONE", DeviceKeys: []byte(`{"k":1}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCrossSigningKeys(ctx, alice, map[string][]byte{"master": []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCrossSigningKeys(ctx, alice, map[string][]byte{"user_signing": []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		last, err := s.DeleteDeviceKeys(ctx, alice, []string{"PHONE", "LAPTOP"})
		if err != nil {
			t.Fatal(err)
		}
		changes, err := s.KeyChangesAfter(ctx, start, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range changes {
			got = append(got, c.DeviceID+"/"+c.OnlyFor)
		}
		want := []string{"PHONE/", "PHONE/", "/", "/" + alice, "PHONE/", "LAPTOP/"}
		if len(got) != len(want) {
			t.Fatalf("changes %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("changes %v, want %v", got, want)
			}
		}
		if id, err := s.DeviceStreamID(ctx, alice, 0); err != nil || id != last {
			t.Fatalf("stream id %d %v, want %d", id, err, last)
		}
		if prev, err := s.DeviceStreamID(ctx, alice, changes[1].Pos); err != nil || prev != changes[0].Pos {
			t.Fatalf("prev id %d %v, want %d", prev, err, changes[0].Pos)
		}
		if moved, err := s.AdvanceDeviceListOutbox(ctx, start, last); err != nil || !moved {
			t.Fatalf("advance: %v %v", moved, err)
		}
		if moved, err := s.AdvanceDeviceListOutbox(ctx, start, last); err != nil || moved {
			t.Fatalf("second advance from the old place: %v %v", moved, err)
		}
		if moved, _ := s.AdvanceDeviceListOutbox(ctx, last, start); moved {
			t.Fatal("the place moved backwards")
		}
	})
}
