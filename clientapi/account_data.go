package clientapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// serverManagedTypes are account data types clients read but only the
// server writes (m.fully_read through /read_markers, push rules through
// /pushrules).
var serverManagedTypes = map[string]bool{"m.fully_read": true, "m.push_rules": true}

// accountDataTarget reads {userId}, {roomId} (if the route has one) and
// {type} and checks that users touch only their own account data.
func accountDataTarget(r *http.Request, dev *userapi.Device) (user spec.UserID, roomID, dataType string, err error) {
	if user, err = ownPathUser(r, dev, "access account data"); err != nil {
		return user, "", "", err
	}
	v := mux.Vars(r)
	if raw, ok := v["roomId"]; ok {
		if _, err := spec.NewRoomID(raw); err != nil {
			return user, "", "", mxhttp.InvalidParam(raw + " is not a valid room ID")
		}
		roomID = raw
	}
	return user, roomID, v["type"], nil
}

// getAccountData is GET /user/{userId}/account_data/{type} and
// /user/{userId}/rooms/{roomId}/account_data/{type}.
func (s *Server) getAccountData(r *http.Request, dev *userapi.Device) (any, error) {
	user, roomID, dataType, err := accountDataTarget(r, dev)
	if err != nil {
		return nil, err
	}
	content, err := s.users.AccountData(r.Context(), user, roomID, dataType)
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("Account data not found")
	}
	if err != nil {
		return nil, userError(err)
	}
	return content, nil
}

// putAccountData is PUT /user/{userId}/account_data/{type} and
// /user/{userId}/rooms/{roomId}/account_data/{type}.
func (s *Server) putAccountData(r *http.Request, dev *userapi.Device) (any, error) {
	user, roomID, dataType, err := accountDataTarget(r, dev)
	if err != nil {
		return nil, err
	}
	if serverManagedTypes[dataType] {
		return nil, &mxhttp.Error{Status: http.StatusMethodNotAllowed, Code: "M_BAD_JSON", Msg: "Cannot set " + dataType + " through this API."}
	}
	content, err := readObject(r)
	if err != nil {
		return nil, err
	}
	if _, err := s.users.PutAccountData(r.Context(), user, roomID, dataType, content); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// readObject reads a body that must be a JSON object and returns it as
// sent.
func readObject(r *http.Request) (json.RawMessage, error) {
	body, err := mxhttp.ReadBody(r, mxhttp.DefaultMaxBody)
	if err != nil {
		return nil, err
	}
	var probe map[string]json.RawMessage
	if err := mxhttp.Unmarshal(body, &probe); err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	return body, nil
}

// getTags is GET /user/{userId}/rooms/{roomId}/tags.
func (s *Server) getTags(r *http.Request, dev *userapi.Device) (any, error) {
	user, roomID, _, err := accountDataTarget(r, dev)
	if err != nil {
		return nil, err
	}
	tags := map[string]json.RawMessage{}
	content, err := s.users.AccountData(r.Context(), user, roomID, "m.tag")
	switch {
	case errors.Is(err, userapi.ErrNotFound):
	case err != nil:
		return nil, userError(err)
	default:
		var c struct {
			Tags map[string]json.RawMessage `json:"tags"`
		}
		if json.Unmarshal(content, &c) == nil && c.Tags != nil {
			tags = c.Tags
		}
	}
	return map[string]any{"tags": tags}, nil
}

// putTag is PUT /user/{userId}/rooms/{roomId}/tags/{tag}.
func (s *Server) putTag(r *http.Request, dev *userapi.Device) (any, error) {
	user, roomID, _, err := accountDataTarget(r, dev)
	if err != nil {
		return nil, err
	}
	content, err := readObject(r)
	if err != nil {
		return nil, err
	}
	var tag struct {
		Order *float64 `json:"order"`
	}
	if err := mxhttp.Unmarshal(content, &tag); err != nil {
		return nil, err
	}
	if _, err := s.users.PutTag(r.Context(), user, roomID, mux.Vars(r)["tag"], content); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}

// deleteTag is DELETE /user/{userId}/rooms/{roomId}/tags/{tag}.
func (s *Server) deleteTag(r *http.Request, dev *userapi.Device) (any, error) {
	user, roomID, _, err := accountDataTarget(r, dev)
	if err != nil {
		return nil, err
	}
	if _, err := s.users.DeleteTag(r.Context(), user, roomID, mux.Vars(r)["tag"]); err != nil {
		return nil, userError(err)
	}
	return struct{}{}, nil
}
