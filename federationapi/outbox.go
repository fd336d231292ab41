package federationapi

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/federationapi/storage"
	"github.com/rohrpost/rohrpost/internal/serverkey"
	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/roomserver"
)

// Outbox is the send queue's part in the roomserver's commit
// (roomserver.Outbox, decision 0011): our events' queue rows are written
// in the transaction that stores the events, and a queue in the same
// process starts sending as soon as that commits, without waiting for
// the room event stream. The queue's bus consumer still sees every event;
// it only wakes the senders for those already queued (Queued), so that
// federation processes elsewhere hear of them too.
type Outbox struct {
	store   *storage.Store
	isLocal func(spec.ServerName) bool
	allowed func(spec.ServerName) bool

	mu sync.Mutex
	// notify is the queue of this process, if one is attached.
	notify func([]spec.ServerName)
}

var _ roomserver.Outbox = (*Outbox)(nil)

// NewOutbox opens the send queue's tables in db, the database the
// roomserver writes to.
func NewOutbox(cfg *config.Config, db *sqlutil.DB, keys []serverkey.Key) (*Outbox, error) {
	store, err := storage.Open(context.Background(), db)
	if err != nil {
		return nil, fmt.Errorf("federation outbox: %w", err)
	}
	policy, err := NewPolicy(cfg)
	if err != nil {
		return nil, err
	}
	local := map[spec.ServerName]bool{}
	for _, k := range keys {
		local[k.ServerName] = true
	}
	return &Outbox{
		store:   store,
		isLocal: func(n spec.ServerName) bool { return local[n] },
		allowed: policy.Allowed,
	}, nil
}

// Record queues the outputs' events for their destinations in tx. It
// takes care of every event whose servers the roomserver knew, which is
// every event of a commit (only a replay after a crash leaves them out).
func (o *Outbox) Record(tx *sql.Tx, outputs []roomserver.OutputEvent) error {
	var items []storage.Outgoing
	for i := range outputs {
		ev := &outputs[i]
		ev.Queued = ev.Known
		if !ev.Known {
			continue
		}
		if dests := o.destinations(ev); len(dests) > 0 {
			items = append(items, outgoingPDU(ev, dests))
		}
	}
	return o.store.EnqueueTx(tx, items)
}

// Committed starts this process's senders for the events just committed.
func (o *Outbox) Committed(outputs []roomserver.OutputEvent) {
	o.mu.Lock()
	notify := o.notify
	o.mu.Unlock()
	if notify == nil {
		return
	}
	var woken []spec.ServerName
	for i := range outputs {
		if outputs[i].Queued {
			woken = append(woken, o.destinations(&outputs[i])...)
		}
	}
	slices.Sort(woken)
	if woken = slices.Compact(woken); len(woken) > 0 {
		notify(woken)
	}
}

// attach makes the queue of this process the one Committed wakes; the
// returned func detaches it.
func (o *Outbox) attach(notify func([]spec.ServerName)) (detach func()) {
	o.mu.Lock()
	o.notify = notify
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		o.notify = nil
		o.mu.Unlock()
	}
}

func (o *Outbox) destinations(ev *roomserver.OutputEvent) []spec.ServerName {
	if !o.isLocal(domainOf(ev.Sender)) || len(ev.PDU) == 0 {
		return nil
	}
	return knownDestinations(ev, o.isLocal, o.allowed)
}

// knownDestinations is where an event goes whose servers the roomserver
// named (Known): the servers in the room after the event, as the
// roomserver saw them (not the room's members now, who may have joined
// since and must not be sent what came before their join), and the
// subject's server of a kick or ban; never ours, never refused ones.
func knownDestinations(ev *roomserver.OutputEvent, isLocal, allowed func(spec.ServerName) bool) []spec.ServerName {
	all := make([]spec.ServerName, 0, len(ev.Servers)+1)
	for _, name := range ev.Servers {
		all = append(all, spec.ServerName(name))
	}
	if tellsTarget(ev) {
		all = append(all, domainOf(*ev.StateKey))
	}
	dests := remoteServers(all, isLocal, allowed)
	slices.Sort(dests)
	return dests
}

// remoteServers keeps the destinations we send to: not ours, allowed,
// once each.
func remoteServers(names []spec.ServerName, isLocal, allowed func(spec.ServerName) bool) []spec.ServerName {
	out := make([]spec.ServerName, 0, len(names))
	for _, n := range names {
		if n == "" || isLocal(n) || !allowed(n) || slices.Contains(out, n) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func outgoingPDU(ev *roomserver.OutputEvent, dests []spec.ServerName) storage.Outgoing {
	return storage.Outgoing{
		Kind: storage.PDU, Origin: domainOf(ev.Sender), RoomID: ev.RoomID, EventID: ev.EventID,
		StreamPos: ev.StreamPos, JSON: ev.PDU, Destinations: dests,
	}
}
