package clientapi

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// Routes mounts the client API on r. The table follows the order of the
// spec's client-server API sections.
func (s *Server) Routes(r *mux.Router) {
	c := r.PathPrefix("/_matrix/client").Subrouter()
	auth := func(h func(*http.Request, *userapi.Device) (any, error)) mxhttp.Handler {
		return userapi.Authed(s.users, h)
	}
	_ = c
	// Endpoints whose body has only optional fields and that clients call
	// without one; everywhere else an empty body is M_NOT_JSON.
	optionalBody := mxhttp.EmptyBodyIsObject
	// ACCOUNT ROUTES
	r.Handle("/_synapse/admin/v1/register", mxhttp.Handler(s.adminRegisterNonce)).Methods(http.MethodGet)
	r.Handle("/_synapse/admin/v1/register", mxhttp.Handler(s.adminRegister)).Methods(http.MethodPost)
	for _, v := range []string{"r0", "v3"} {
		c := r.PathPrefix("/_matrix/client/" + v).Subrouter()
		c.Handle("/login", mxhttp.Handler(s.loginFlows)).Methods(http.MethodGet)
		c.Handle("/login", s.rateLimitedLogin(s.login)).Methods(http.MethodPost)
		c.HandleFunc("/login/sso/redirect", s.ssoRedirectAny).Methods(http.MethodGet)
		c.HandleFunc("/login/sso/redirect/{idpId}", s.ssoRedirectIDP).Methods(http.MethodGet)
		c.HandleFunc("/login/cas/redirect", s.ssoRedirect).Methods(http.MethodGet)
		c.HandleFunc("/login/cas/ticket", s.casTicket).Methods(http.MethodGet)
		c.Handle("/logout", auth(s.logout)).Methods(http.MethodPost)
		c.Handle("/logout/all", auth(s.logoutAll)).Methods(http.MethodPost)
		c.Handle("/refresh", mxhttp.Handler(s.refresh)).Methods(http.MethodPost)
		c.HandleFunc(ssoFallbackPath, s.ssoFallback).Methods(http.MethodGet)
		c.Handle("/register", s.rateLimitedRegistration(s.register)).Methods(http.MethodPost)
		c.Handle("/register/available", mxhttp.Handler(s.registerAvailable)).Methods(http.MethodGet)
		c.Handle("/register/email/requestToken", s.rateLimited3PID(s.requestEmailToken(purposeRegister))).Methods(http.MethodPost)
		c.Handle("/register/msisdn/requestToken", mxhttp.Handler(s.threepidDenied)).Methods(http.MethodPost)
		c.Handle("/account/password", mxhttp.Handler(s.password)).Methods(http.MethodPost)
		c.Handle("/account/password/email/requestToken", s.rateLimited3PID(s.requestEmailToken(purposePasswordReset))).Methods(http.MethodPost)
		c.Handle("/account/password/msisdn/requestToken", mxhttp.Handler(s.threepidDenied)).Methods(http.MethodPost)
		c.Handle("/account/deactivate", s.noGuests(s.deactivate)).Methods(http.MethodPost)
		c.Handle("/account/3pid", s.noGuests(s.threepids)).Methods(http.MethodGet)
		c.Handle("/account/3pid", s.noGuests(s.addThreePIDLegacy)).Methods(http.MethodPost)
		c.Handle("/account/3pid/add", s.noGuests(s.addThreePID)).Methods(http.MethodPost)
		c.Handle("/account/3pid/delete", s.noGuests(s.deleteThreePID)).Methods(http.MethodPost)
		c.Handle("/account/3pid/email/requestToken", s.rateLimited3PID(s.requestEmailToken(purposeAddAddress))).Methods(http.MethodPost)
		c.Handle("/account/3pid/msisdn/requestToken", mxhttp.Handler(s.addPhoneDenied)).Methods(http.MethodPost)
		c.Handle("/account/whoami", auth(s.whoami)).Methods(http.MethodGet)
		c.Handle("/user/{userId}/filter", auth(s.postFilter)).Methods(http.MethodPost)
		c.Handle("/user/{userId}/filter/{filterId}", auth(s.getFilter)).Methods(http.MethodGet)
		c.Handle("/profile/{userId}", mxhttp.Handler(s.getProfile)).Methods(http.MethodGet)
		c.Handle("/profile/{userId}/{keyName}", mxhttp.Handler(s.getProfileField)).Methods(http.MethodGet)
		c.Handle("/profile/{userId}/{keyName}", s.active(s.putProfileField)).Methods(http.MethodPut)
		c.Handle("/profile/{userId}/{keyName}", s.active(s.deleteProfileField)).Methods(http.MethodDelete)
		c.Handle("/devices", auth(s.listDevices)).Methods(http.MethodGet)
		c.Handle("/devices/{deviceId}", auth(s.getDevice)).Methods(http.MethodGet)
		c.Handle("/devices/{deviceId}", auth(s.updateDevice)).Methods(http.MethodPut)
		c.Handle("/devices/{deviceId}", optionalBody(s.noGuests(s.deleteDevice))).Methods(http.MethodDelete)
		c.Handle("/delete_devices", s.noGuests(s.deleteDevices)).Methods(http.MethodPost)
		c.Handle("/user/{userId}/account_data/{type}", s.noGuests(s.getAccountData)).Methods(http.MethodGet)
		c.Handle("/user/{userId}/account_data/{type}", s.noGuests(s.putAccountData)).Methods(http.MethodPut)
		c.Handle("/user/{userId}/rooms/{roomId}/account_data/{type}", s.noGuests(s.getAccountData)).Methods(http.MethodGet)
		c.Handle("/user/{userId}/rooms/{roomId}/account_data/{type}", s.noGuests(s.putAccountData)).Methods(http.MethodPut)
		c.Handle("/user/{userId}/rooms/{roomId}/tags", s.noGuests(s.getTags)).Methods(http.MethodGet)
		c.Handle("/user/{userId}/rooms/{roomId}/tags/{tag}", s.noGuests(s.putTag)).Methods(http.MethodPut)
		c.Handle("/user/{userId}/rooms/{roomId}/tags/{tag}", s.noGuests(s.deleteTag)).Methods(http.MethodDelete)
		c.Handle("/admin/whois/{userId}", auth(s.whois)).Methods(http.MethodGet)
		c.Handle("/user/{userId}/openid/request_token", s.noGuests(s.requestOpenIDToken)).Methods(http.MethodPost)
		c.Handle("/thirdparty/protocols", auth(s.thirdPartyProtocols)).Methods(http.MethodGet)
		c.Handle("/thirdparty/protocol/{protocol}", auth(s.thirdPartyProtocol)).Methods(http.MethodGet)
		c.Handle("/thirdparty/location/{protocol}", auth(s.thirdPartyProtocol)).Methods(http.MethodGet)
		c.Handle("/thirdparty/user/{protocol}", auth(s.thirdPartyProtocol)).Methods(http.MethodGet)
		c.Handle("/pushers", s.noGuests(s.getPushers)).Methods(http.MethodGet)
		c.Handle("/pushers/set", s.noGuests(s.setPusher)).Methods(http.MethodPost)
		c.Handle("/pushrules/", s.noGuests(s.pushRules)).Methods(http.MethodGet, http.MethodPut, http.MethodDelete)
		c.Handle("/pushrules/{rest:.+}", s.noGuests(s.pushRules)).Methods(http.MethodGet, http.MethodPut, http.MethodDelete)
	}
	r.HandleFunc(oidcCallbackPath, s.oidcCallback).Methods(http.MethodGet)
	r.HandleFunc(oidcLogoutPath, s.oidcBackchannelLogout).Methods(http.MethodPost)
	r.HandleFunc(submitTokenPath, s.submitTokenLink).Methods(http.MethodGet)
	r.Handle(submitTokenPath, mxhttp.Handler(s.submitTokenJSON)).Methods(http.MethodPost)
	// ROOM ROUTES
	r.Handle("/_matrix/client/versions", mxhttp.Handler(s.versions)).Methods(http.MethodGet)
	r.Handle("/.well-known/matrix/client", mxhttp.Handler(s.wellKnownClient)).Methods(http.MethodGet)
	r.Handle("/.well-known/matrix/server", mxhttp.Handler(s.wellKnownServer)).Methods(http.MethodGet)
	r.Handle("/.well-known/matrix/support", mxhttp.Handler(s.wellKnownSupport)).Methods(http.MethodGet)
	r.Handle("/_matrix/client/unstable/org.matrix.msc4143/rtc/transports", auth(s.rtcTransports)).Methods(http.MethodGet)
	for _, v := range []string{"r0", "v3"} {
		c := r.PathPrefix("/_matrix/client/" + v).Subrouter()
		c.Handle("/capabilities", auth(s.capabilities)).Methods(http.MethodGet)
		c.Handle("/createRoom", s.active(s.createRoom)).Methods(http.MethodPost)
		c.Handle("/directory/room/{roomAlias}", mxhttp.Handler(s.getAlias)).Methods(http.MethodGet)
		c.Handle("/directory/room/{roomAlias}", s.active(s.putAlias)).Methods(http.MethodPut)
		c.Handle("/directory/room/{roomAlias}", auth(s.deleteAlias)).Methods(http.MethodDelete)
		c.Handle("/rooms/{roomId}/aliases", auth(s.roomAliases)).Methods(http.MethodGet)
		c.Handle("/joined_rooms", auth(s.joinedRooms)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/invite", s.active(s.membershipChange("invite"))).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/join", optionalBody(s.active(s.notBlocked(s.joinRoom)))).Methods(http.MethodPost)
		c.Handle("/join/{roomIdOrAlias}", serverNameParams(optionalBody(s.active(s.notBlocked(s.joinRoom))), "server_name", "via")).Methods(http.MethodPost)
		c.Handle("/knock/{roomIdOrAlias}", serverNameParams(optionalBody(s.noGuests(s.knockRoom)), "server_name", "via")).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/leave", optionalBody(auth(s.leaveRoom))).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/forget", auth(s.forgetRoom)).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/kick", s.active(s.membershipChange("kick"))).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/ban", s.active(s.membershipChange("ban"))).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/unban", s.active(s.membershipChange("unban"))).Methods(http.MethodPost)
		c.Handle("/directory/list/room/{roomId}", mxhttp.Handler(s.getVisibility)).Methods(http.MethodGet)
		c.Handle("/directory/list/room/{roomId}", s.active(s.putVisibility)).Methods(http.MethodPut)
		c.Handle("/publicRooms", serverNameParams(mxhttp.Handler(s.publicRooms), "server")).Methods(http.MethodGet, http.MethodPost)
		c.Handle("/rooms/{roomId}/joined_members", auth(s.joinedMembers)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/state", auth(s.getAllState)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/state/{eventType}", auth(s.getState)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/state/{eventType}/{stateKey:.*}", auth(s.getState)).Methods(http.MethodGet)
		c.Handle("/rooms/{roomId}/state/{eventType}", auth(s.rateLimitedMessages(s.putState))).Methods(http.MethodPut)
		c.Handle("/rooms/{roomId}/state/{eventType}/{stateKey:.*}", auth(s.rateLimitedMessages(s.putState))).Methods(http.MethodPut)
		c.Handle("/rooms/{roomId}/send/{eventType}/{txnId}", auth(s.rateLimitedMessages(s.sendEvent))).Methods(http.MethodPut)
		c.Handle("/rooms/{roomId}/send/{eventType}", auth(s.rateLimitedMessages(s.sendEvent))).Methods(http.MethodPost) // legacy: no transaction id
		c.Handle("/rooms/{roomId}/redact/{eventId}/{txnId}", auth(s.rateLimitedMessages(s.redactEvent))).Methods(http.MethodPut)
		// r0.0's form without a transaction id (no retry safety), which
		// older clients and SyTest still send.
		c.Handle("/rooms/{roomId}/redact/{eventId}", auth(s.rateLimitedMessages(s.redactEvent))).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/upgrade", s.active(s.upgradeRoom)).Methods(http.MethodPost)
		c.Handle("/user_directory/search", auth(s.searchUserDirectory)).Methods(http.MethodPost)
		c.Handle("/voip/turnServer", auth(s.turnServer)).Methods(http.MethodGet)
		c.Handle("/keys/upload", auth(s.uploadKeys)).Methods(http.MethodPost)
		c.Handle("/keys/query", auth(s.queryKeys)).Methods(http.MethodPost)
		c.Handle("/keys/claim", auth(s.claimKeys)).Methods(http.MethodPost)
		c.Handle("/keys/device_signing/upload", auth(s.uploadCrossSigningKeys)).Methods(http.MethodPost)
		c.Handle("/keys/signatures/upload", auth(s.uploadSignatures)).Methods(http.MethodPost)
		c.Handle("/room_keys/version", s.noGuests(s.createBackupVersion)).Methods(http.MethodPost)
		c.Handle("/room_keys/version", s.noGuests(s.getBackupVersion)).Methods(http.MethodGet)
		c.Handle("/room_keys/version/{version}", s.noGuests(s.getBackupVersion)).Methods(http.MethodGet)
		c.Handle("/room_keys/version/{version}", s.noGuests(s.updateBackupVersion)).Methods(http.MethodPut)
		c.Handle("/room_keys/version/{version}", s.noGuests(s.deleteBackupVersion)).Methods(http.MethodDelete)
		for _, p := range []string{"/room_keys/keys", "/room_keys/keys/{roomId}", "/room_keys/keys/{roomId}/{sessionId}"} {
			c.Handle(p, s.noGuests(s.putBackupKeys)).Methods(http.MethodPut)
			c.Handle(p, s.noGuests(s.getBackupKeys)).Methods(http.MethodGet)
			c.Handle(p, s.noGuests(s.deleteBackupKeys)).Methods(http.MethodDelete)
		}
		c.Handle("/rooms/{roomId}/report/{eventId}", auth(s.reportEvent)).Methods(http.MethodPost)
		c.Handle("/rooms/{roomId}/report", auth(s.reportRoom)).Methods(http.MethodPost)
		c.Handle("/users/{userId}/report", auth(s.reportUser)).Methods(http.MethodPost)
	}
	// Cross-signing before it was stable (clients and SyTest still use it),
	// and dehydrated devices before they are (MSC3814).
	unstable := r.PathPrefix("/_matrix/client/unstable").Subrouter()
	unstable.Handle("/keys/device_signing/upload", auth(s.uploadCrossSigningKeys)).Methods(http.MethodPost)
	unstable.Handle("/keys/signatures/upload", auth(s.uploadSignatures)).Methods(http.MethodPost)
	unstable.Handle(dehydratedDevicePath, s.noGuests(s.putDehydratedDevice)).Methods(http.MethodPut)
	unstable.Handle(dehydratedDevicePath, s.noGuests(s.getDehydratedDevice)).Methods(http.MethodGet)
	unstable.Handle(dehydratedDevicePath, s.noGuests(s.deleteDehydratedDevice)).Methods(http.MethodDelete)
	// Delayed events (MSC4140, delayed_events.go).
	msc4140 := unstable.PathPrefix("/org.matrix.msc4140").Subrouter()
	msc4140.Handle("/rooms/{roomId}/delayed_event/{eventType}/{txnId}", auth(s.rateLimitedMessages(s.putDelayedEvent))).Methods(http.MethodPut)
	msc4140.Handle("/delayed_events", auth(s.listDelayedEvents)).Methods(http.MethodGet)
	msc4140.Handle("/delayed_events/{delayId}", auth(s.getDelayedEvent)).Methods(http.MethodGet)
	msc4140.Handle("/delayed_events/{delayId}", auth(s.delayedEventAction)).Methods(http.MethodPost)
	msc4140.Handle("/delayed_events/{delayId}/{action}", optionalBody(auth(s.delayedEventAction))).Methods(http.MethodPost)
	v1 := r.PathPrefix("/_matrix/client/v1").Subrouter()
	v1.Handle("/rooms/{roomId}/hierarchy", serverNameParams(auth(s.spaceHierarchy), "via")).Methods(http.MethodGet)
	v1.Handle("/room_summary/{roomIdOrAlias}", serverNameParams(mxhttp.Handler(s.roomSummary), "via")).Methods(http.MethodGet)
	v1.Handle("/mutual_rooms", auth(s.mutualRooms)).Methods(http.MethodGet)
	v1.Handle("/register/m.login.registration_token/validity", mxhttp.Handler(s.registrationTokenValidity)).Methods(http.MethodGet)
	v1.Handle("/admin/lock/{userId}", auth(s.adminModeration("locked"))).Methods(http.MethodGet, http.MethodPut)
	v1.Handle("/admin/suspend/{userId}", auth(s.adminModeration("suspended"))).Methods(http.MethodGet, http.MethodPut)
}
