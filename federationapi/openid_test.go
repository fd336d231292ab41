package federationapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

type fakeTokens map[string]string

func (f fakeTokens) OpenIDTokenOwner(_ context.Context, token string) (spec.UserID, error) {
	if token == "broken" {
		return spec.UserID{}, errors.New("database down")
	}
	u, ok := f[token]
	if !ok {
		return spec.UserID{}, userapi.ErrUnknownToken
	}
	id, err := spec.NewUserID(u, true)
	if err != nil {
		return spec.UserID{}, err
	}
	return *id, nil
}

func TestOpenIDUserInfo(t *testing.T) {
	s := &Server{openID: fakeTokens{"good": "@alice:test"}}
	r := mux.NewRouter()
	r.Handle("/_matrix/federation/v1/openid/userinfo", mxhttp.Handler(s.openIDUserInfo))
	tests := []struct {
		name    string
		query   string
		status  int
		errcode string
		sub     string
	}{
		{"valid", "?access_token=good", http.StatusOK, "", "@alice:test"},
		{"unknown", "?access_token=an/invalid/token", http.StatusUnauthorized, "M_UNKNOWN_TOKEN", ""},
		{"missing", "", http.StatusUnauthorized, "M_UNKNOWN_TOKEN", ""},
		{"store failure", "?access_token=broken", http.StatusInternalServerError, "M_UNKNOWN", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_matrix/federation/v1/openid/userinfo"+tc.query, nil))
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if rec.Code != tc.status || body["errcode"] != tc.errcode || body["sub"] != tc.sub {
				t.Errorf("got %d %s, want %d %q sub %q", rec.Code, rec.Body.String(), tc.status, tc.errcode, tc.sub)
			}
		})
	}
}
