package adminapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// userExtraRoutes are the user administration beyond accounts and
// devices (user_extras.go, user_reports.go), kept apart from routes.go,
// which several people edit.
func (s *Server) userExtraRoutes(a *mux.Router) {
	a.Handle("/v1/users/{userId}/memberships", s.read(s.memberships)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/pushers", s.read(s.pushers)).Methods(http.MethodGet)
	// Account data can hold secrets (key backups, integrations): audited.
	a.Handle("/v1/users/{userId}/accountdata", s.act("user.account_data", s.accountData)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/login", mxhttp.EmptyBodyIsObject(s.act("user.login_as", s.impersonate))).Methods(http.MethodPost)
	a.Handle("/v1/users/{userId}/override_ratelimit", s.read(s.getRateOverride)).Methods(http.MethodGet)
	a.Handle("/v1/users/{userId}/override_ratelimit", mxhttp.EmptyBodyIsObject(s.act("user.override_ratelimit", s.setRateOverride))).Methods(http.MethodPost)
	a.Handle("/v1/users/{userId}/override_ratelimit", s.act("user.override_ratelimit.delete", s.deleteRateOverride)).Methods(http.MethodDelete)
	a.Handle("/v1/users/{userId}/shadow_ban", mxhttp.EmptyBodyIsObject(s.act("user.shadow_ban", s.shadowBan(true)))).Methods(http.MethodPost)
	a.Handle("/v1/users/{userId}/shadow_ban", s.act("user.shadow_ban.delete", s.shadowBan(false))).Methods(http.MethodDelete)
	a.Handle("/v1/threepid/{medium}/users/{address}", s.read(s.threepidUser)).Methods(http.MethodGet)
	a.Handle("/v1/auth_providers/{provider}/users/{externalId}", s.read(s.authProviderUser)).Methods(http.MethodGet)
	a.Handle("/v1/user/{userId}/redact", s.act("user.redact", s.redactUser)).Methods(http.MethodPost)
	a.Handle("/v1/user/redact_status/{redactId}", s.read(s.redactStatus)).Methods(http.MethodGet)
	a.Handle("/v1/user_reports", s.read(s.listUserReports)).Methods(http.MethodGet)
	a.Handle("/v1/user_reports/{reportId}", s.read(s.getUserReport)).Methods(http.MethodGet)
	a.Handle("/v1/user_reports/{reportId}", s.act("user_report.delete", s.deleteUserReport)).Methods(http.MethodDelete)
}
