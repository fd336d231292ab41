package adminapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi"
	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
	rsstorage "github.com/rohrpost/rohrpost/roomserver/storage"
	"github.com/rohrpost/rohrpost/userapi"
	usstorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// Media administration (docs/admin-api.md, "Media"): listings read the
// media tables (decision 0020), changes go through the media API.

func mediaError(err error) error {
	if errors.Is(err, mediaapi.ErrNotFound) {
		return mxhttp.NotFound("Unknown media")
	}
	return err
}

// mediaRef reads {serverName} and {mediaId}; a malformed one is 400.
func mediaRef(r *http.Request) (mediastorage.Ref, error) {
	v := mux.Vars(r)
	if _, _, ok := spec.ParseAndValidateServerName(spec.ServerName(v["serverName"])); !ok {
		return mediastorage.Ref{}, mxhttp.InvalidParam("Not a server name: " + v["serverName"])
	}
	if !mediaapi.ValidMediaID(v["mediaId"]) {
		return mediastorage.Ref{}, mxhttp.InvalidParam("Not a media id: " + v["mediaId"])
	}
	setAuditTarget(r, "mxc://"+v["serverName"]+"/"+v["mediaId"])
	return mediastorage.Ref{ServerName: v["serverName"], MediaID: v["mediaId"]}, nil
}

// localMediaRef is a path's {mediaId} on our server name.
func (s *Server) localMediaRef(r *http.Request) (mediastorage.Ref, error) {
	id := mux.Vars(r)["mediaId"]
	if !mediaapi.ValidMediaID(id) {
		return mediastorage.Ref{}, mxhttp.InvalidParam("Not a media id: " + id)
	}
	ref := mediastorage.Ref{ServerName: string(s.cfg.ServerName), MediaID: id}
	setAuditTarget(r, "mxc://"+ref.ServerName+"/"+id)
	return ref, nil
}

func nullableStr(s string) any { return nullable(s) }

// mediaInfoJSON is media as Synapse describes it.
func (s *Server) mediaInfoJSON(m *mediastorage.Media) map[string]any {
	local := s.isLocal(spec.ServerName(m.ServerName))
	var protected any
	if m.SafeFromQuarantine {
		protected = true
	} else if local {
		protected = false
	}
	return map[string]any{
		"media_origin": m.ServerName, "user_id": nullableStr(m.Uploader), "media_id": m.MediaID,
		"media_type": m.ContentType, "media_length": m.Size, "upload_name": nullableStr(m.Filename),
		"created_ts": m.CreatedTS, "filesystem_id": nullableStr(m.SHA256), "url_cache": nil,
		"last_access_ts": m.LastAccessTS, "quarantined_by": nullableStr(m.QuarantinedBy),
		// Every upload to rohrpost is made with an access token.
		"authenticated": local, "safe_from_quarantine": protected, "sha256": nullableStr(m.SHA256),
	}
}

// mediaInfo is GET /v1/media/{serverName}/{mediaId}.
func (s *Server) mediaInfo(r *http.Request, _ *userapi.Device) (any, error) {
	ref, err := mediaRef(r)
	if err != nil {
		return nil, err
	}
	m, err := s.mediaStore.Get(r.Context(), ref.ServerName, ref.MediaID)
	if err != nil {
		return nil, mediaError(err)
	}
	return map[string]any{"media_info": s.mediaInfoJSON(m)}, nil
}

// quarantineMedia is POST /v1/media/quarantine/{serverName}/{mediaId}:
// unknown and protected media is left as it is, as Synapse.
func (s *Server) quarantineMedia(r *http.Request, admin *userapi.Device) (any, error) {
	ref, err := mediaRef(r)
	if err != nil {
		return nil, err
	}
	n, err := s.media.QuarantineMedia(r.Context(), []mediastorage.Ref{ref}, admin.UserID.String())
	if err != nil {
		return nil, err
	}
	noteAudit(r, "num_quarantined", n)
	return struct{}{}, nil
}

// unquarantineMedia is POST /v1/media/unquarantine/{serverName}/{mediaId}.
func (s *Server) unquarantineMedia(r *http.Request, _ *userapi.Device) (any, error) {
	ref, err := mediaRef(r)
	if err != nil {
		return nil, err
	}
	if err := s.media.UnquarantineMedia(r.Context(), ref); err != nil {
		return nil, mediaError(err)
	}
	return struct{}{}, nil
}

// protectMedia is POST /v1/media/protect/{mediaId} and unprotect.
func (s *Server) protectMedia(protect bool) adminHandler {
	return func(r *http.Request, _ *userapi.Device) (any, error) {
		ref, err := s.localMediaRef(r)
		if err != nil {
			return nil, err
		}
		if err := s.media.ProtectMedia(r.Context(), ref, protect); err != nil {
			return nil, mediaError(err)
		}
		return struct{}{}, nil
	}
}

// deleteOneMedia is DELETE /v1/media/{serverName}/{mediaId}: local media
// only, as Synapse.
func (s *Server) deleteOneMedia(r *http.Request, _ *userapi.Device) (any, error) {
	ref, err := mediaRef(r)
	if err != nil {
		return nil, err
	}
	if !s.isLocal(spec.ServerName(ref.ServerName)) {
		return nil, mxhttp.InvalidParam("Can only delete local media")
	}
	deleted, err := s.media.DeleteMedia(r.Context(), []mediastorage.Ref{ref})
	if err != nil {
		return nil, err
	}
	if len(deleted) == 0 {
		return nil, mxhttp.NotFound("Unknown media")
	}
	return map[string]any{"deleted_media": deleted, "total": len(deleted)}, nil
}

// requiredTS reads a required non-negative millisecond timestamp.
func requiredTS(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, mxhttp.MissingParam("Missing integer query parameter " + name)
	}
	ts, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ts < 0 {
		return 0, mxhttp.InvalidParam("Query parameter " + name + " must be a non-negative integer")
	}
	return ts, nil
}

// deleteOldMedia is POST /v1/media/delete (and Synapse's older
// /v1/media/{serverName}/delete): local media served last before
// before_ts, larger than size_gt; keep_profiles (default true) keeps the
// avatars of users and rooms.
func (s *Server) deleteOldMedia(r *http.Request, _ *userapi.Device) (any, error) {
	if sn := mux.Vars(r)["serverName"]; sn != "" && !s.isLocal(spec.ServerName(sn)) {
		return nil, mxhttp.InvalidParam("Can only delete local media")
	}
	before, err := requiredTS(r, "before_ts")
	if err != nil {
		return nil, err
	}
	var sizeGT int64
	if v := r.URL.Query().Get("size_gt"); v != "" {
		if sizeGT, err = strconv.ParseInt(v, 10, 64); err != nil || sizeGT < 0 {
			return nil, mxhttp.InvalidParam("Query parameter size_gt must be a non-negative integer")
		}
	}
	keepProfiles, err := boolParam(r, "keep_profiles", true)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "before_ts", before)
	noteAudit(r, "size_gt", sizeGT)
	noteAudit(r, "keep_profiles", keepProfiles)
	var keep []mediastorage.Ref
	if keepProfiles {
		if keep, err = s.avatarMedia(r); err != nil {
			return nil, err
		}
	}
	deleted, err := s.media.DeleteOldMedia(r.Context(), before, sizeGT, keep)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "total", len(deleted))
	return map[string]any{"deleted_media": deleted, "total": len(deleted)}, nil
}

// avatarMedia is the local media users and rooms show as avatars.
func (s *Server) avatarMedia(r *http.Request) ([]mediastorage.Ref, error) {
	var out []mediastorage.Ref
	add := func(uri string) {
		if ref, ok := parseMXC(uri); ok && s.isLocal(spec.ServerName(ref.ServerName)) {
			out = append(out, ref)
		}
	}
	for offset := 0; ; offset += maxLimit {
		users, total, err := s.userStore.ListUsers(r.Context(), usstorage.UserListQuery{Guests: true, Deactivated: true,
			Locked: true, OrderBy: "name", Forward: true, Offset: offset, Limit: maxLimit})
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			add(u.AvatarURL)
		}
		if offset+len(users) >= total || len(users) == 0 {
			break
		}
	}
	rooms, err := s.roomStore.AdminRooms(r.Context(), s.localSuffix(), "")
	if err != nil {
		return nil, err
	}
	for _, room := range rooms {
		var avatar struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(room.State["m.room.avatar"], &avatar) == nil {
			add(avatar.URL)
		}
	}
	return out, nil
}

// purgeMediaCache is POST /v1/purge_media_cache?before_ts=: cached media
// of other servers served last before before_ts.
func (s *Server) purgeMediaCache(r *http.Request, _ *userapi.Device) (any, error) {
	before, err := requiredTS(r, "before_ts")
	if err != nil {
		return nil, err
	}
	noteAudit(r, "before_ts", before)
	n, err := s.media.PurgeRemoteMedia(r.Context(), before)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "deleted", n)
	return map[string]int{"deleted": n}, nil
}

// mxcPattern finds mxc URIs in event JSON.
var mxcPattern = regexp.MustCompile(`mxc://([A-Za-z0-9.:\[\]-]+)/([A-Za-z0-9_-]+)`)

func parseMXC(uri string) (mediastorage.Ref, bool) {
	m := mxcPattern.FindStringSubmatch(uri)
	if m == nil || m[0] != uri {
		return mediastorage.Ref{}, false
	}
	return mediastorage.Ref{ServerName: m[1], MediaID: m[2]}, true
}

// roomMediaRefs are the media the room's events name (in any field: a
// message's url, its thumbnail, an avatar), local and remote apart, in
// the order they first appear. Encrypted events name none that can be
// seen, as with Synapse.
func (s *Server) roomMediaRefs(r *http.Request) (local, remote []mediastorage.Ref, err error) {
	roomID := mux.Vars(r)["roomId"]
	if !strings.HasPrefix(roomID, "!") {
		return nil, nil, mxhttp.InvalidParam("Not a room ID: " + roomID)
	}
	room, err := s.roomStore.RoomByID(r.Context(), roomID)
	if errors.Is(err, rsstorage.ErrNotFound) || (err == nil && room == nil) {
		return nil, nil, mxhttp.NotFound("Room not found")
	}
	if err != nil {
		return nil, nil, err
	}
	to, err := s.roomStore.MaxStreamPos(r.Context())
	if err != nil {
		return nil, nil, err
	}
	seen := map[mediastorage.Ref]bool{}
	const page = 500
	for from := int64(math.MinInt64 + 1); ; {
		evs, err := s.roomStore.RoomEvents(r.Context(), room.NID, from, to, page, false)
		if err != nil {
			return nil, nil, err
		}
		for _, ev := range evs {
			from = ev.StreamPos
			for _, m := range mxcPattern.FindAllSubmatch(ev.Client, -1) {
				ref := mediastorage.Ref{ServerName: string(m[1]), MediaID: string(m[2])}
				if seen[ref] {
					continue
				}
				seen[ref] = true
				if s.isLocal(spec.ServerName(ref.ServerName)) {
					local = append(local, ref)
				} else {
					remote = append(remote, ref)
				}
			}
		}
		if len(evs) < page {
			return local, remote, nil
		}
	}
}

func mxcList(refs []mediastorage.Ref) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, "mxc://"+r.ServerName+"/"+r.MediaID)
	}
	return out
}

// roomMedia is GET /v1/room/{roomId}/media.
func (s *Server) roomMedia(r *http.Request, _ *userapi.Device) (any, error) {
	local, remote, err := s.roomMediaRefs(r)
	if err != nil {
		return nil, err
	}
	return map[string]any{"local": mxcList(local), "remote": mxcList(remote)}, nil
}

// quarantineRoomMedia is POST /v1/room/{roomId}/media/quarantine (and
// Synapse's older /v1/quarantine_media/{roomId}).
func (s *Server) quarantineRoomMedia(r *http.Request, admin *userapi.Device) (any, error) {
	local, remote, err := s.roomMediaRefs(r)
	if err != nil {
		return nil, err
	}
	n, err := s.media.QuarantineMedia(r.Context(), append(local, remote...), admin.UserID.String())
	if err != nil {
		return nil, err
	}
	noteAudit(r, "num_quarantined", n)
	return map[string]int{"num_quarantined": n}, nil
}

// quarantineUserMedia is POST /v1/user/{userId}/media/quarantine.
func (s *Server) quarantineUserMedia(r *http.Request, admin *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	n, err := s.media.QuarantineUploads(r.Context(), user.String(), admin.UserID.String())
	if err != nil {
		return nil, err
	}
	noteAudit(r, "num_quarantined", n)
	return map[string]int{"num_quarantined": n}, nil
}

var mediaStatsOrders = []string{"user_id", "displayname", "media_length", "media_count"}

// userMediaStatistics is GET /v1/statistics/users/media: what each local
// user uploaded in [from_ts, until_ts], filtered by search_term (user id
// or display name), sorted by order_by.
func (s *Server) userMediaStatistics(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100, mediaStatsOrders...)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	var fromTS, untilTS int64
	if q.Get("from_ts") != "" {
		if fromTS, err = requiredTS(r, "from_ts"); err != nil {
			return nil, err
		}
	}
	if q.Get("until_ts") != "" {
		if untilTS, err = requiredTS(r, "until_ts"); err != nil {
			return nil, err
		}
		if untilTS < fromTS {
			return nil, mxhttp.InvalidParam("Query parameter until_ts must be greater than from_ts")
		}
	}
	if v, ok := q["search_term"]; ok && v[0] == "" {
		return nil, mxhttp.InvalidParam("Query parameter search_term cannot be an empty string")
	}
	stats, err := s.mediaStore.UploaderStatistics(r.Context(), fromTS, untilTS)
	if err != nil {
		return nil, err
	}
	type row struct {
		mediastorage.UploaderStats
		name string
	}
	term := strings.ToLower(q.Get("search_term"))
	rows := make([]row, 0, len(stats))
	for _, st := range stats {
		name := ""
		if u, err := spec.NewUserID(st.UserID, true); err == nil {
			if prof, err := s.users.Profile(r.Context(), *u); err == nil {
				name = prof.DisplayName
			}
		}
		if term != "" && !strings.Contains(strings.ToLower(st.UserID), term) && !strings.Contains(strings.ToLower(name), term) {
			continue
		}
		rows = append(rows, row{st, name})
	}
	less := map[string]func(a, b row) bool{
		"user_id":      func(a, b row) bool { return a.UserID < b.UserID },
		"displayname":  func(a, b row) bool { return a.name < b.name },
		"media_length": func(a, b row) bool { return a.MediaLength < b.MediaLength },
		"media_count":  func(a, b row) bool { return a.MediaCount < b.MediaCount },
	}[p.OrderBy]
	sort.SliceStable(rows, func(i, j int) bool {
		if p.Forward {
			return less(rows[i], rows[j])
		}
		return less(rows[j], rows[i])
	})
	total := len(rows)
	start := min(p.From, total)
	end := min(start+p.Limit, total)
	users := make([]map[string]any, 0, end-start)
	for _, rw := range rows[start:end] {
		users = append(users, map[string]any{"user_id": rw.UserID, "displayname": nullable(rw.name),
			"media_count": rw.MediaCount, "media_length": rw.MediaLength})
	}
	out := map[string]any{"users": users, "total": total}
	// Synapse's next_token here is a number.
	if end < total && len(users) > 0 {
		out["next_token"] = end
	}
	return out, nil
}
