package userapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/matrix-org/gomatrixserverlib/spec"
)

// PutFilter stores a filter and returns its id: a decimal counter per
// user, which can never start with "{" as the spec requires.
func (s *Server) PutFilter(ctx context.Context, user spec.UserID, filter json.RawMessage) (string, error) {
	trimmed := bytes.TrimSpace(filter)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return "", ErrInvalidFilter
	}
	id, err := s.store.PutFilter(ctx, user.String(), trimmed)
	if err != nil {
		return "", err
	}
	return strconv.FormatInt(id, 10), nil
}

// Filter returns a stored filter, ErrNotFound for ids that were never
// handed out.
func (s *Server) Filter(ctx context.Context, user spec.UserID, filterID string) (json.RawMessage, error) {
	id, err := strconv.ParseInt(filterID, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != filterID {
		return nil, fmt.Errorf("filter %q: %w", filterID, ErrNotFound)
	}
	f, err := s.store.Filter(ctx, user.String(), id)
	if err != nil {
		return nil, userError(err)
	}
	return f, nil
}
