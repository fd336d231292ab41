package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/rohrpost/rohrpost/adminapi/storage"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// adminHandler serves a request of a server admin.
type adminHandler func(r *http.Request, admin *userapi.Device) (any, error)

// read serves h to server admins only: a valid access token of an admin,
// everyone else 403 M_FORBIDDEN. It is for requests that change nothing.
func (s *Server) read(h adminHandler) mxhttp.Handler {
	return userapi.Authed(s.users, func(r *http.Request, dev *userapi.Device) (any, error) {
		if !dev.IsAdmin {
			return nil, mxhttp.Forbidden("You are not a server admin")
		}
		return h(r, dev)
	})
}

// act is read for admin actions: each is written to the audit log with
// who did it, what (action), on what (target: the user, room, device or
// token of the path), when, the outcome (the HTTP status) and what the
// handler noted about it (noteAudit), whether it succeeded or not.
func (s *Server) act(action string, h adminHandler) mxhttp.Handler {
	return s.read(func(r *http.Request, dev *userapi.Device) (any, error) {
		note := &auditNote{details: map[string]any{}}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, note))
		body, err := h(r, dev)
		status := http.StatusOK
		if resp, ok := body.(mxhttp.Response); ok {
			status = resp.Status
		}
		if err != nil {
			status = http.StatusInternalServerError
			var me *mxhttp.Error
			if errors.As(err, &me) {
				status = me.Status
			}
		}
		target := note.target
		if target == "" {
			target = pathTarget(r)
		}
		details, _ := json.Marshal(note.details)
		entry := storage.AuditEntry{TS: time.Now().UnixMilli(), Admin: dev.UserID.String(), Action: action,
			Target: target, Status: status, Details: string(details)}
		// The action is done; a lost audit entry must not pass unnoticed,
		// but the request outlives a client that went away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		if aerr := s.store.AddAudit(ctx, entry); aerr != nil {
			slog.Error("admin audit log: entry not written", "admin", entry.Admin, "action", action, "target", target, "status", status, "err", aerr)
			if err == nil {
				return nil, mxhttp.Unknown("The action was carried out but could not be written to the audit log")
			}
		}
		return body, err
	})
}

type auditKey struct{}

type auditNote struct {
	target  string
	details map[string]any
}

// noteAudit adds a detail to the audit entry of the request's action.
func noteAudit(r *http.Request, key string, value any) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.details[key] = value
	}
}

// setAuditTarget names the action's target where the path does not.
func setAuditTarget(r *http.Request, target string) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.target = target
	}
}

// pathTarget is the target an action's path names.
func pathTarget(r *http.Request) string {
	vars := mux.Vars(r)
	for _, k := range []string{"userId", "roomId", "roomIdOrAlias", "token", "reportId", "deleteId"} {
		if v := vars[k]; v != "" {
			if d := vars["deviceId"]; d != "" {
				return v + " " + d
			}
			return v
		}
	}
	return ""
}

type auditEntryJSON struct {
	ID      int64           `json:"id"`
	TS      int64           `json:"ts"`
	Admin   string          `json:"admin"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Status  int             `json:"status"`
	Details json.RawMessage `json:"details"`
}

// auditLog is GET /_synapse/admin/v1/audit_log, rohrpost's own: the
// admin actions, newest first unless dir=f, filtered by admin, target
// and action.
func (s *Server) auditLog(r *http.Request, _ *userapi.Device) (any, error) {
	p, err := parsePaging(r, 100)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	forward := q.Get("dir") == "f"
	entries, total, err := s.store.Audit(r.Context(), storage.AuditQuery{Admin: q.Get("admin"), Target: q.Get("target"),
		Action: q.Get("action"), Forward: forward, Offset: p.From, Limit: p.Limit})
	if err != nil {
		return nil, err
	}
	out := make([]auditEntryJSON, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditEntryJSON{ID: e.ID, TS: e.TS, Admin: e.Admin, Action: e.Action, Target: e.Target,
			Status: e.Status, Details: json.RawMessage(e.Details)})
	}
	return p.tokens(map[string]any{"entries": out}, len(out), total), nil
}
