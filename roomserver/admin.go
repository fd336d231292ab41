package roomserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/rohrpost/rohrpost/roomserver/storage"
)

// The admin API's writes to rooms (adminapi: room delete, purge
// history, forward extremities). They run in the input loop like every
// other write, so that no event of the room is being stored beside them.

// PurgeHistoryRequest removes a room's timeline events (never state)
// older than an event or a time.
type PurgeHistoryRequest struct {
	RoomID string
	// UpToEventID, when set, is the first event kept; else UpToTS (ms)
	// is the time before which events go.
	UpToEventID string
	UpToTS      int64
	// DeleteLocal also removes what local users sent.
	DeleteLocal bool
}

// PurgeRoom removes every row of the room from the database (rows of
// other components included, storage/purge.go). Its local members
// should have left first: the room is gone for them without a leave.
func (s *Server) PurgeRoom(ctx context.Context, roomID string) error {
	_, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, roomID)
		if err != nil {
			return nil, err
		}
		b.write.Purges = append(b.write.Purges, storage.PurgeRoom{RoomNID: r.nid, RoomID: r.id})
		return nil, nil
	})
	return err
}

// PurgeHistory removes old timeline events of a room. The room's newest
// event and its forward extremities always stay, as do all state events.
func (s *Server) PurgeHistory(ctx context.Context, req PurgeHistoryRequest) error {
	_, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, req.RoomID)
		if err != nil {
			return nil, err
		}
		ts := req.UpToTS
		if req.UpToEventID != "" {
			ts = math.MaxInt64 // the bound is the event, or the newest
		}
		before, ok, err := s.store.HistoryBound(ctx, r.nid, ts)
		if err != nil || !ok {
			return nil, err
		}
		if req.UpToEventID != "" {
			e, err := s.store.EventByID(ctx, req.UpToEventID)
			if errors.Is(err, storage.ErrNotFound) || (err == nil && (e.RoomNID != r.nid || e.StreamPos == 0)) {
				return nil, fmt.Errorf("%w: %s is not an event of the room's timeline", ErrEventNotFound, req.UpToEventID)
			}
			if err != nil {
				return nil, err
			}
			before = min(before, e.StreamPos)
		}
		h := storage.HistoryPurge{RoomNID: r.nid, Before: before, Keep: slices.Clone(r.extremities)}
		if !req.DeleteLocal {
			h.LocalSuffix = ":" + string(s.cfg.ServerName)
		}
		b.write.HistoryPurges = append(b.write.HistoryPurges, h)
		return nil, nil
	})
	return err
}

// MoveAliases points a room's local aliases at another room, or deletes
// them when to is "", and returns them.
func (s *Server) MoveAliases(ctx context.Context, from, to string) ([]string, error) {
	if _, err := s.room(ctx, from); err != nil {
		return nil, err
	}
	return s.store.MoveAliases(ctx, from, to)
}

// RoomMemberships are the room's users with any membership and what it
// is.
func (s *Server) RoomMemberships(ctx context.Context, roomID string) (map[string]string, error) {
	r, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	return s.store.RoomMemberships(ctx, r.nid)
}

// DropExtremities leaves the room with one forward extremity, the
// deepest, and returns how many it dropped: a room with many
// extremities makes every new event name them all.
func (s *Server) DropExtremities(ctx context.Context, roomID string) (int, error) {
	res, err := s.submit(ctx, func(b *batch) (any, error) {
		r, err := b.room(ctx, roomID)
		if err != nil {
			return 0, err
		}
		if len(r.extremities) < 2 {
			return 0, nil
		}
		evs, err := s.store.EventsByID(ctx, r.extremities)
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 {
			return 0, nil
		}
		deepest := evs[0]
		for _, e := range evs[1:] {
			if e.Depth > deepest.Depth || (e.Depth == deepest.Depth && e.StreamPos > deepest.StreamPos) {
				deepest = e
			}
		}
		n := len(r.extremities) - 1
		r.extremities = []string{deepest.ID}
		r.dirty = true
		return n, nil
	})
	if err != nil {
		return 0, err
	}
	return res.(int), nil
}

// evict forgets purged rooms after their purge committed. It holds
// loadMu, so that a load that read the rows before the commit cannot
// put the room back after it.
func (s *Server) evict(purged []storage.PurgeRoom) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.roomsMu.Lock()
	defer s.roomsMu.Unlock()
	for _, p := range purged {
		delete(s.rooms, p.RoomID)
	}
}
