package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"reflect"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/federationapi"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/tidwall/gjson"
)

// maxKeysBody bounds the key endpoints' bodies (a claim for many devices,
// signatures for many keys).
const maxKeysBody = 1 << 20

func keyError(err error) error {
	switch {
	case errors.Is(err, userapi.ErrBadKeys):
		return mxhttp.BadJSON(trimSentinel(err.Error(), userapi.ErrBadKeys))
	case errors.Is(err, userapi.ErrBadSignature):
		return &mxhttp.Error{Status: http.StatusBadRequest, Code: "M_INVALID_SIGNATURE", Msg: trimSentinel(err.Error(), userapi.ErrBadSignature)}
	}
	return userError(err)
}

// uploadKeys is POST /keys/upload.
func (s *Server) uploadKeys(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	counts, err := s.users.UploadKeys(r.Context(), userapi.KeyUploadRequest{User: dev.UserID, DeviceID: dev.ID,
		DeviceKeys: body.DeviceKeys, OneTimeKeys: body.OneTimeKeys, FallbackKeys: body.FallbackKeys})
	if err != nil {
		return nil, keyError(err)
	}
	if counts == nil {
		counts = map[string]int{}
	}
	return map[string]any{"one_time_key_counts": counts}, nil
}

// queryKeys is POST /keys/query. Users of other servers are asked of
// the federation API (their cached lists, or their servers within the
// timeout); servers that do not answer come back under failures.
func (s *Server) queryKeys(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		DeviceKeys map[string][]string `json:"device_keys"`
		Timeout    int64               `json:"timeout"`
	}
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	if body.DeviceKeys == nil {
		return nil, mxhttp.BadJSON("device_keys is required")
	}
	local, remote, err := splitLocal(s, body.DeviceKeys)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	res, err := s.users.QueryKeys(ctx, dev.UserID, local)
	if err != nil {
		return nil, keyError(err)
	}
	failures := map[string]any{}
	if len(remote) > 0 {
		var other *federationapi.RemoteKeysResponse
		if s.fed != nil {
			other, err = s.fed.QueryRemoteKeys(ctx, federationapi.RemoteKeysRequest{Requester: dev.UserID, DeviceKeys: remote, TimeoutMS: body.Timeout})
		}
		if other == nil {
			unreachable(failures, remote, err)
		} else {
			maps.Copy(res.DeviceKeys, other.DeviceKeys)
			maps.Copy(res.MasterKeys, other.MasterKeys)
			maps.Copy(res.SelfSigningKeys, other.SelfSigningKeys)
			for name, f := range other.Failures {
				failures[name] = f
			}
		}
	}
	return map[string]any{"device_keys": res.DeviceKeys, "master_keys": res.MasterKeys, "self_signing_keys": res.SelfSigningKeys,
		"user_signing_keys": res.UserSigningKeys, "failures": failures}, nil
}

// claimKeys is POST /keys/claim; other servers' users' keys are claimed
// from their servers.
func (s *Server) claimKeys(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
		Timeout     int64                        `json:"timeout"`
	}
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	if body.OneTimeKeys == nil {
		return nil, mxhttp.BadJSON("one_time_keys is required")
	}
	local, remote, err := splitLocal(s, body.OneTimeKeys)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	keys, err := s.users.ClaimKeys(ctx, local)
	if err != nil {
		return nil, keyError(err)
	}
	if keys == nil {
		keys = map[string]map[string]map[string]json.RawMessage{}
	}
	failures := map[string]any{}
	if len(remote) > 0 {
		var other *federationapi.RemoteClaimResponse
		if s.fed != nil {
			other, err = s.fed.ClaimRemoteKeys(ctx, federationapi.RemoteClaimRequest{Requester: dev.UserID, OneTimeKeys: remote, TimeoutMS: body.Timeout})
		}
		if other == nil {
			unreachable(failures, remote, err)
		} else {
			maps.Copy(keys, other.OneTimeKeys)
			for name, f := range other.Failures {
				failures[name] = f
			}
		}
	}
	return map[string]any{"one_time_keys": keys, "failures": failures}, nil
}

// unreachable names every server of users under failures: the federation
// API could not be asked (err) or does not run.
func unreachable[V any](failures map[string]any, users map[string]V, err error) {
	msg := "federation is not available"
	if err != nil {
		slog.Warn("clientapi: keys of other servers' users", "err", err)
		msg = "the federation API could not be asked"
	}
	for user := range users {
		if u, perr := spec.NewUserID(user, true); perr == nil {
			failures[string(u.Domain())] = federationapi.KeysFailure{Status: http.StatusServiceUnavailable, Message: msg}
		}
	}
}

// uploadCrossSigningKeys is POST /keys/device_signing/upload. Replacing a
// key needs the password; the first upload does not, nor one of exactly
// the keys the user has (spec v1.11, MSC3967), so that a new account can
// set up cross-signing at once and a client may retry an upload.
func (s *Server) uploadCrossSigningKeys(r *http.Request, dev *userapi.Device) (any, error) {
	var body struct {
		Auth        json.RawMessage `json:"auth"`
		Master      json.RawMessage `json:"master_key"`
		SelfSigning json.RawMessage `json:"self_signing_key"`
		UserSigning json.RawMessage `json:"user_signing_key"`
	}
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	ctx := r.Context()
	has, err := s.users.HasMasterKey(ctx, dev.UserID)
	if err != nil {
		return nil, err
	}
	if has {
		same, err := s.sameCrossSigningKeys(ctx, dev.UserID, body.Master, body.SelfSigning, body.UserSigning)
		if err != nil {
			return nil, err
		}
		if same {
			// Nothing new: a retried upload is answered as the first was
			// (spec v1.11) and nothing is stored again.
			return struct{}{}, nil
		}
		auth, err := parseAuth(body.Auth)
		if err != nil {
			return nil, err
		}
		op := uiaOp{name: "POST /keys/device_signing/upload", user: &dev.UserID, flows: s.reauthFlows(r.Context(), dev.UserID), reuseDevice: dev.ID}
		if done, challenge, err := s.interactiveAuth(ctx, auth, op); !done {
			return challenge, err
		}
	}
	err = s.users.UploadCrossSigningKeys(ctx, dev.UserID, userapi.CrossSigningUpload{Master: body.Master, SelfSigning: body.SelfSigning, UserSigning: body.UserSigning})
	if err != nil {
		return nil, keyError(err)
	}
	return struct{}{}, nil
}

// uploadSignatures is POST /keys/signatures/upload.
func (s *Server) uploadSignatures(r *http.Request, dev *userapi.Device) (any, error) {
	var body map[string]map[string]json.RawMessage
	if err := mxhttp.DecodeJSON(r, maxKeysBody, &body); err != nil {
		return nil, err
	}
	failures, err := s.users.UploadSignatures(r.Context(), dev.UserID, body)
	if err != nil {
		return nil, keyError(err)
	}
	if failures == nil {
		failures = map[string]map[string]userapi.SignatureFailure{}
	}
	return map[string]any{"failures": failures}, nil
}

// splitLocal parts the entries into this server's users' and other
// servers' users'.
func splitLocal[V any](s *Server, byUser map[string]V) (local, remote map[string]V, err error) {
	local, remote = map[string]V{}, map[string]V{}
	for user, v := range byUser {
		u, err := spec.NewUserID(user, true)
		if err != nil {
			return nil, nil, mxhttp.InvalidParam("invalid user id " + user)
		}
		if s.isLocalServer(u.Domain()) {
			local[user] = v
		} else {
			remote[user] = v
		}
	}
	return local, remote, nil
}

// sameCrossSigningKeys tells whether an upload holds no new key: each key
// it gives is one the user has, with the same usage and public key.
// Signatures are not compared: the server may hold more than the client
// uploaded. Keys the upload leaves out stay as they are (decision 0017).
func (s *Server) sameCrossSigningKeys(ctx context.Context, user spec.UserID, master, selfSigning, userSigning json.RawMessage) (bool, error) {
	res, err := s.users.QueryKeys(ctx, user, map[string][]string{user.String(): {}})
	if err != nil {
		return false, err
	}
	given := 0
	for _, k := range []struct {
		uploaded, stored json.RawMessage
	}{{master, res.MasterKeys[user.String()]}, {selfSigning, res.SelfSigningKeys[user.String()]}, {userSigning, res.UserSigningKeys[user.String()]}} {
		if len(k.uploaded) == 0 || string(k.uploaded) == "null" {
			continue
		}
		given++
		if len(k.stored) == 0 {
			return false, nil
		}
		up, st := gjson.ParseBytes(k.uploaded), gjson.ParseBytes(k.stored)
		for _, field := range []string{"user_id", "usage", "keys"} {
			if !sameJSON(up.Get(field), st.Get(field)) {
				return false, nil
			}
		}
	}
	return given > 0, nil
}

// sameJSON compares two JSON values, ignoring object key order.
func sameJSON(a, b gjson.Result) bool {
	if !a.Exists() || !b.Exists() {
		return false
	}
	return reflect.DeepEqual(a.Value(), b.Value())
}
