package gateway

import (
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

// The gateway answers unclean paths and wrong methods itself, with the
// spec's errors, and sends neither to a component.
func TestGatewaySpecErrors(t *testing.T) {
	client, sync, fed, media := newBackend(t, "client"), newBackend(t, "sync"), newBackend(t, "fed"), newBackend(t, "media")
	g, err := New(config.Gateway{
		ClientAPI: []string{client.srv.URL}, SyncAPI: []string{sync.srv.URL},
		FederationAPI: []string{fed.srv.URL}, MediaAPI: []string{media.srv.URL},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/_matrix/client/v3/sync/../account/whoami", http.StatusNotFound},
		{http.MethodGet, "/_matrix/client/v3//account/whoami", http.StatusNotFound},
		{http.MethodGet, "/_matrix/client/v3/./sync", http.StatusNotFound},
		{http.MethodGet, "/_matrix/federation/v1/../v1/version", http.StatusNotFound},
		{http.MethodGet, "/_matrix/media/v3//config", http.StatusNotFound},
		{http.MethodDelete, "/_matrix/client/v3/login", http.StatusMethodNotAllowed},
		{http.MethodPost, "/_matrix/client/v3/sync", http.StatusMethodNotAllowed},
		{http.MethodPost, "/_matrix/federation/v1/version", http.StatusMethodNotAllowed},
		{http.MethodPost, "/_matrix/client/v1/media/config", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		code, a := do(t, g, tc.method, tc.path, "", "")
		if code != tc.status || a.Errcode != "M_UNRECOGNIZED" || a.Backend != "" {
			t.Errorf("%s %s: %d %+v, want %d M_UNRECOGNIZED from the gateway", tc.method, tc.path, code, a, tc.status)
		}
	}
	for _, b := range []*backend{client, sync, fed, media} {
		if n := b.count(); n != 0 {
			t.Errorf("backend %s got %d requests", b.name, n)
		}
	}
}
