package adminapi

import (
	"net/http"

	mediastorage "github.com/rohrpost/rohrpost/mediaapi/storage"
	"github.com/rohrpost/rohrpost/userapi"
)

var userMediaOrders = []string{"created_ts", "media_id", "upload_name", "last_access_ts", "media_length", "media_type",
	"quarantined_by", "safe_from_quarantine"}

// userMediaPage is the page of a user's uploads a request names.
func (s *Server) userMediaPage(r *http.Request) (paging, []mediastorage.Media, int, error) {
	user, err := s.existingUser(r)
	if err != nil {
		return paging{}, nil, 0, err
	}
	p, err := parsePaging(r, 100, userMediaOrders...)
	if err != nil {
		return p, nil, 0, err
	}
	media, total, err := s.mediaStore.UserMedia(r.Context(), mediastorage.UserMediaQuery{Uploader: user.String(),
		OrderBy: p.OrderBy, Forward: p.Forward, Offset: p.From, Limit: p.Limit})
	return p, media, total, err
}

// userMedia is GET /v1/users/{userId}/media.
func (s *Server) userMedia(r *http.Request, _ *userapi.Device) (any, error) {
	p, media, total, err := s.userMediaPage(r)
	if err != nil {
		return nil, err
	}
	list := make([]map[string]any, 0, len(media))
	for _, m := range media {
		list = append(list, map[string]any{
			"media_id": m.MediaID, "media_type": m.ContentType, "media_length": m.Size, "upload_name": nullable(m.Filename),
			"created_ts": m.CreatedTS, "last_access_ts": m.LastAccessTS, "quarantined_by": nullable(m.QuarantinedBy),
			"safe_from_quarantine": m.SafeFromQuarantine,
		})
	}
	out := map[string]any{"media": list, "total": total}
	// Synapse's next_token here is a number.
	if p.From+len(list) < total && len(list) > 0 {
		out["next_token"] = p.From + len(list)
	}
	return out, nil
}

// deleteUserMedia is DELETE /v1/users/{userId}/media: deletes the page
// of uploads the same paging as the listing names.
func (s *Server) deleteUserMedia(r *http.Request, _ *userapi.Device) (any, error) {
	_, media, _, err := s.userMediaPage(r)
	if err != nil {
		return nil, err
	}
	refs := make([]mediastorage.Ref, 0, len(media))
	for _, m := range media {
		refs = append(refs, mediastorage.Ref{ServerName: m.ServerName, MediaID: m.MediaID})
	}
	deleted, err := s.media.DeleteMedia(r.Context(), refs)
	if err != nil {
		return nil, err
	}
	noteAudit(r, "deleted_media", deleted)
	return map[string]any{"deleted_media": deleted, "total": len(deleted)}, nil
}
