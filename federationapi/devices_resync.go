package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/userapi"
)

// A remote user's device list is fetched whole (/user/devices) when we
// start tracking it and when an m.device_list_update shows that we missed
// one (docs/decisions/0012). Fetches run in the background, a few at a
// time, one per user at once; a server that failed is left alone for a
// while. Until a fetch lands, queries go to the user's server directly,
// so a slow or failed fetch costs time, never correctness.

const (
	resyncWorkers = 4
	// maxPendingResyncs bounds the users waiting for a fetch; a peer
	// announcing many users cannot make the queue grow without end.
	maxPendingResyncs = 10000
	resyncTimeout     = 30 * time.Second
	// resyncBackoff is how long a server that failed a fetch is left alone.
	resyncBackoff = time.Minute
	// resyncAttempts bounds the fetches of one list that stay behind an
	// update we saw.
	resyncAttempts = 3
)

// resyncer runs device list fetches in the background.
type resyncer struct {
	fetch func(context.Context, spec.UserID) error
	// announce records a key change of a user whose list changed (an
	// update we could not apply) and could not be fetched: the snapshot
	// would have recorded it, and clients must hear of the change.
	announce func(context.Context, spec.UserID) error

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	pending map[string]*pendingResync
	failed  map[spec.ServerName]time.Time
}

// pendingResync is a fetch of one user's list, waiting or running.
type pendingResync struct {
	running bool
	// changed: the list changed (an update we could not apply); if the
	// fetch fails, the change is announced without it.
	changed bool
	// again: an update came while the fetch ran; the snapshot it got may
	// predate it, so another fetch follows.
	again bool
	// done is closed when the fetch ended, with err its outcome.
	done chan struct{}
	err  error
}

func newResyncer(fetch, announce func(context.Context, spec.UserID) error) *resyncer {
	ctx, cancel := context.WithCancel(context.Background())
	return &resyncer{fetch: fetch, announce: announce, ctx: ctx, cancel: cancel, sem: make(chan struct{}, resyncWorkers),
		pending: map[string]*pendingResync{}, failed: map[spec.ServerName]time.Time{}}
}

// schedule fetches the user's list soon, unless a fetch of it is waiting
// (it serves as well) or its server failed a moment ago. changed says
// that the list changed (an update we could not apply). It tells whether
// a fetch will come; when not, the caller announces a change itself.
func (r *resyncer) schedule(user spec.UserID, changed bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := user.String()
	if p, ok := r.pending[id]; ok {
		p.changed = p.changed || changed
		p.again = p.again || (p.running && changed)
		return true
	}
	if len(r.pending) >= maxPendingResyncs || r.ctx.Err() != nil || time.Now().Before(r.failed[user.Domain()]) {
		return false
	}
	p := &pendingResync{changed: changed, done: make(chan struct{})}
	r.pending[id] = p
	r.wg.Add(1)
	go r.run(user, p)
	return true
}

// fetchNow fetches the user's list within ctx and returns the outcome; a
// fetch of the list already running (a background one an update started)
// is waited for instead of racing it with another request, and one still
// waiting for a worker is taken over and run now.
func (r *resyncer) fetchNow(ctx context.Context, user spec.UserID) error {
	r.mu.Lock()
	id := user.String()
	p, ok := r.pending[id]
	if ok && p.running {
		r.mu.Unlock()
		select {
		case <-p.done:
			return p.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if !ok {
		p = &pendingResync{done: make(chan struct{})}
		r.pending[id] = p
	}
	p.running = true
	r.mu.Unlock()
	err := r.fetch(ctx, user)
	r.done(user, p, err)
	return err
}

// run is a background fetch: it waits for a worker and fetches, unless a
// query took the fetch over meanwhile.
func (r *resyncer) run(user spec.UserID, p *pendingResync) {
	defer r.wg.Done()
	select {
	case r.sem <- struct{}{}:
	case <-r.ctx.Done():
		if r.take(p) {
			r.done(user, p, r.ctx.Err())
		}
		return
	}
	if !r.take(p) {
		<-r.sem
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, resyncTimeout)
	err := r.fetch(ctx, user)
	cancel()
	<-r.sem
	if err != nil && !errors.Is(err, errNotShared) {
		slog.Info("federation: device list fetch failed", "user", user.String(), "err", err)
		r.mu.Lock()
		r.failed[user.Domain()] = time.Now().Add(resyncBackoff)
		r.mu.Unlock()
	}
	r.done(user, p, err)
}

// take marks p running and tells whether it was not yet, so that a
// fetch runs once and ends once.
func (r *resyncer) take(p *pendingResync) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.running {
		return false
	}
	p.running = true
	return true
}

// done ends a fetch: another follows when an update came while it ran;
// a change it was to bring is announced if it failed (not when nobody
// shares a room with the user any more: nobody to tell).
func (r *resyncer) done(user spec.UserID, p *pendingResync, err error) {
	r.mu.Lock()
	delete(r.pending, user.String())
	p.err = err
	close(p.done)
	r.mu.Unlock()
	if err == nil && p.again && r.schedule(user, true) {
		return
	}
	if (err == nil && !p.again) || !p.changed || errors.Is(err, errNotShared) {
		return
	}
	// The fetch's context may be over; the announcement is short.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if aerr := r.announce(ctx, user); aerr != nil {
		slog.Warn("federation: announce device list change", "user", user.String(), "err", aerr)
	}
}

// stop ends the fetches and waits for them.
func (r *resyncer) stop() {
	// Under the lock, so that a schedule either added its fetch to the
	// wait group before or sees the end (Add after Wait began is misuse).
	r.mu.Lock()
	r.cancel()
	r.mu.Unlock()
	r.wg.Wait()
}

// userDevicesAnswer is /user/devices' answer, keys kept as signed.
type userDevicesAnswer struct {
	UserID   string `json:"user_id"`
	StreamID int64  `json:"stream_id"`
	Devices  []struct {
		DeviceID    string          `json:"device_id"`
		Keys        json.RawMessage `json:"keys"`
		DisplayName *string         `json:"device_display_name"`
	} `json:"devices"`
	MasterKey      json.RawMessage `json:"master_key"`
	SelfSigningKey json.RawMessage `json:"self_signing_key"`
}

var errNotShared = errors.New("no local user shares a room with the user")

// resyncDeviceList fetches a remote user's device list and caches it,
// if a local user shares a room with them (else their server would not
// keep us informed). The room position is read before the fetch: a
// sharing that starts meanwhile makes the list untrusted, not the other
// way round.
func (s *Server) resyncDeviceList(ctx context.Context, user spec.UserID) error {
	if !s.policy.Allowed(user.Domain()) {
		return ErrNotAllowed
	}
	shared, err := s.rooms.SharedWithLocalSince(ctx, []string{user.String()})
	if err != nil {
		return err
	}
	if _, ok := shared.Since[user.String()]; !ok {
		return errNotShared
	}
	path := "/_matrix/federation/v1/user/devices/" + url.PathEscape(user.String())
	for attempt := 1; ; attempt++ {
		var got userDevicesAnswer
		if err := s.signedRequest(ctx, http.MethodGet, s.cfg.ServerName, user.Domain(), path, nil, &got); err != nil {
			return err
		}
		list, err := checkUserDevices(user, &got)
		if err != nil {
			return err
		}
		list.RoomPos = shared.Pos
		stored, err := s.users.StoreRemoteDeviceList(ctx, *list)
		if err != nil || stored {
			return err
		}
		// An update newer than the snapshot came meanwhile. If it made
		// the list cached, that is as good; else the server had not
		// caught up with its own update yet: ask again.
		heads, err := s.users.RemoteDeviceListHeads(ctx, []string{user.String()})
		if err != nil {
			return err
		}
		if _, ok := heads[user.String()]; ok {
			return nil
		}
		if attempt == resyncAttempts {
			// The server's snapshots stay behind an update it sent: its
			// stream ids went backwards (a restored database) or the
			// update was not what it claimed. Its snapshot is the best
			// there is.
			slog.Info("federation: device list snapshot behind an update; taking it", "user", user.String(), "stream_id", list.StreamID)
			if err := s.users.ForgetRemoteDeviceList(ctx, user); err != nil {
				return err
			}
			_, err := s.users.StoreRemoteDeviceList(ctx, *list)
			return err
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// checkUserDevices turns a /user/devices answer into a list to cache:
// devices whose keys are not theirs are left out, keys that are not the
// user's are refused.
func checkUserDevices(user spec.UserID, got *userDevicesAnswer) (*userapi.RemoteDeviceList, error) {
	if got.UserID != user.String() || got.StreamID < 0 {
		return nil, fmt.Errorf("%w: /user/devices answered for %q at %d", errBadE2EEEDU, got.UserID, got.StreamID)
	}
	list := &userapi.RemoteDeviceList{UserID: user, StreamID: got.StreamID}
	for _, d := range got.Devices {
		if checkID("device id", d.DeviceID) != nil {
			continue
		}
		dev := userapi.RemoteDevice{DeviceID: d.DeviceID, DisplayName: d.DisplayName}
		// A device whose keys cannot be kept is still a device of the
		// user; it is listed without keys (nobody can encrypt to it).
		if len(d.Keys) > 0 && string(d.Keys) != "null" && checkDeviceKeys(user, d.DeviceID, d.Keys) == nil {
			dev.Keys = d.Keys
		}
		list.Devices = append(list.Devices, dev)
	}
	if len(got.MasterKey) > 0 && string(got.MasterKey) != "null" {
		if err := checkCrossSigningKey(user, "master", got.MasterKey); err != nil {
			return nil, err
		}
		list.MasterKey = got.MasterKey
	}
	if len(got.SelfSigningKey) > 0 && string(got.SelfSigningKey) != "null" {
		if err := checkCrossSigningKey(user, "self_signing", got.SelfSigningKey); err != nil {
			return nil, err
		}
		list.SelfSigningKey = got.SelfSigningKey
	}
	return list, nil
}
