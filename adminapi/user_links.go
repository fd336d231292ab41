package adminapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// What ties an account to the outside: its e-mail addresses (threepids)
// and its links to identity providers (external_ids), which PUT
// /v2/users/{userId} replaces when the body names them, as Synapse does.
// An admin binds an address without its owner proving it.

// userLinks are the body's threepids and external_ids; nil: not named.
type userLinks struct {
	threepids   []userapi.ThreePID
	externalIDs []usstorage.ExternalID
}

func (l userLinks) fields() []string {
	var out []string
	if l.threepids != nil {
		out = append(out, "threepids")
	}
	if l.externalIDs != nil {
		out = append(out, "external_ids")
	}
	return out
}

// readUserLinks parses and checks the links before anything changes:
// malformed ones are 400 M_INVALID_PARAM, ones of other accounts 409.
func (s *Server) readUserLinks(r *http.Request, user spec.UserID, req putUserRequest) (userLinks, error) {
	var l userLinks
	if len(req.Threepids) > 0 && string(req.Threepids) != "null" {
		var tps []struct {
			Medium  string `json:"medium"`
			Address string `json:"address"`
		}
		if err := json.Unmarshal(req.Threepids, &tps); err != nil {
			return l, mxhttp.InvalidParam("threepids must be a list of objects with medium and address")
		}
		l.threepids = []userapi.ThreePID{}
		for _, tp := range tps {
			if tp.Medium != userapi.MediumEmail {
				return l, mxhttp.InvalidParam("Unsupported threepid medium: " + tp.Medium + " (only email)")
			}
			addr, err := userapi.CanonicalEmail(tp.Address)
			if err != nil {
				return l, mxhttp.InvalidParam("Invalid e-mail address: " + tp.Address)
			}
			owner, err := s.users.ThreePIDOwner(r.Context(), tp.Medium, addr)
			if err == nil && owner != user {
				return l, &mxhttp.Error{Status: http.StatusConflict, Code: "M_THREEPID_IN_USE", Msg: "Threepid already in use"}
			}
			if err != nil && !errors.Is(err, userapi.ErrNotFound) {
				return l, err
			}
			l.threepids = append(l.threepids, userapi.ThreePID{Medium: tp.Medium, Address: addr})
		}
	}
	if len(req.ExternalIDs) > 0 && string(req.ExternalIDs) != "null" {
		var ids []struct {
			AuthProvider string `json:"auth_provider"`
			ExternalID   string `json:"external_id"`
		}
		if err := json.Unmarshal(req.ExternalIDs, &ids); err != nil {
			return l, mxhttp.InvalidParam("external_ids must be a list of objects with auth_provider and external_id")
		}
		l.externalIDs = []usstorage.ExternalID{}
		for _, id := range ids {
			if id.AuthProvider == "" || id.ExternalID == "" {
				return l, mxhttp.InvalidParam("external_ids need auth_provider and external_id")
			}
			owner, err := s.users.ExternalIDUser(r.Context(), id.AuthProvider, id.ExternalID)
			if err == nil && owner != user {
				return l, &mxhttp.Error{Status: http.StatusConflict, Code: "M_UNKNOWN", Msg: "External id is already in use."}
			}
			if err != nil && !errors.Is(err, userapi.ErrNotFound) {
				return l, err
			}
			l.externalIDs = append(l.externalIDs, usstorage.ExternalID{AuthProvider: id.AuthProvider, ExternalID: id.ExternalID})
		}
	}
	return l, nil
}

// applyUserLinks replaces what the body named.
func (s *Server) applyUserLinks(r *http.Request, user spec.UserID, l userLinks) error {
	if l.threepids != nil {
		err := s.users.SetThreePIDs(r.Context(), user, l.threepids)
		switch {
		case errors.Is(err, userapi.ErrThreePIDInUse):
			return &mxhttp.Error{Status: http.StatusConflict, Code: "M_THREEPID_IN_USE", Msg: "Threepid already in use"}
		case errors.Is(err, userapi.ErrInvalidThreePID):
			return mxhttp.InvalidParam(err.Error())
		case err != nil:
			return userError(err)
		}
	}
	if l.externalIDs != nil {
		err := s.users.SetExternalIDs(r.Context(), user, l.externalIDs)
		if errors.Is(err, userapi.ErrExternalIDInUse) {
			return &mxhttp.Error{Status: http.StatusConflict, Code: "M_UNKNOWN", Msg: "External id is already in use."}
		}
		if err != nil {
			return userError(err)
		}
	}
	return nil
}

// authProviderUser is GET /v1/auth_providers/{provider}/users/{externalId}.
func (s *Server) authProviderUser(r *http.Request, _ *userapi.Device) (any, error) {
	v := mux.Vars(r)
	owner, err := s.users.ExternalIDUser(r.Context(), v["provider"], v["externalId"])
	if errors.Is(err, userapi.ErrNotFound) {
		return nil, mxhttp.NotFound("User not found")
	}
	if err != nil {
		return nil, err
	}
	return map[string]string{"user_id": owner.String()}, nil
}
