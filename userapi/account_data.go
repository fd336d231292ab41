package userapi

import (
	"context"
	"encoding/json"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// tagType is the per-room account data type that holds a user's tags.
const tagType = "m.tag"

// PutAccountData stores content for the user (roomID "" for global data)
// and returns its stream position.
func (s *Server) PutAccountData(ctx context.Context, user spec.UserID, roomID, dataType string, content json.RawMessage) (int64, error) {
	pos, err := s.store.PutAccountData(ctx, user.String(), roomID, dataType, content)
	if err == nil {
		s.publishAccountData(user.String(), pos)
	}
	return pos, err
}

// AccountData returns one entry, ErrNotFound if there is none.
func (s *Server) AccountData(ctx context.Context, user spec.UserID, roomID, dataType string) (json.RawMessage, error) {
	content, err := s.store.AccountData(ctx, user.String(), roomID, dataType)
	if err != nil {
		return nil, userError(err)
	}
	return content, nil
}

// AccountDataSince returns the entries that changed in (from, to].
func (s *Server) AccountDataSince(ctx context.Context, user spec.UserID, from, to int64) ([]AccountDataItem, error) {
	rows, err := s.store.AccountDataSince(ctx, user.String(), from, to)
	if err != nil {
		return nil, err
	}
	out := make([]AccountDataItem, len(rows))
	for i, r := range rows {
		out[i] = AccountDataItem{RoomID: r.RoomID, Type: r.Type, Content: r.Content, Position: r.StreamPos}
	}
	return out, nil
}

// AccountDataPosition is the latest stream position.
func (s *Server) AccountDataPosition(ctx context.Context) (int64, error) {
	return s.store.AccountDataPosition(ctx)
}

// tagContent is the content of m.tag.
type tagContent struct {
	Tags map[string]json.RawMessage `json:"tags"`
}

// PutTag sets one tag of the room.
func (s *Server) PutTag(ctx context.Context, user spec.UserID, roomID, tag string, content json.RawMessage) (int64, error) {
	return s.updateTags(ctx, user, roomID, func(tags map[string]json.RawMessage) { tags[tag] = content })
}

// DeleteTag removes one tag of the room; removing a missing tag is no
// error (the spec's DELETE is idempotent).
func (s *Server) DeleteTag(ctx context.Context, user spec.UserID, roomID, tag string) (int64, error) {
	return s.updateTags(ctx, user, roomID, func(tags map[string]json.RawMessage) { delete(tags, tag) })
}

func (s *Server) updateTags(ctx context.Context, user spec.UserID, roomID string, change func(map[string]json.RawMessage)) (int64, error) {
	pos, err := s.store.UpdateAccountData(ctx, user.String(), roomID, tagType, func(old []byte) ([]byte, error) {
		var c tagContent
		// Unreadable old content is replaced rather than kept forever.
		if old == nil || json.Unmarshal(old, &c) != nil || c.Tags == nil {
			c.Tags = map[string]json.RawMessage{}
		}
		change(c.Tags)
		return json.Marshal(c)
	})
	if err == nil {
		s.publishAccountData(user.String(), pos)
	}
	return pos, err
}
