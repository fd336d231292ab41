package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
	"github.com/rohrpost/rohrpost/userexport"
)

// exportRoute is POST /v1/users/{userId}/export, rohrpost's own: the
// archive of everything the server holds about a local user (Art. 15
// GDPR; userexport), streamed as the response body, application/zip.
// It is an audited action like the others: handing out a user's data is
// exactly what the audit log is for. The archive streams, so once it has
// begun an error can only cut it short (the zip is then unreadable, and
// the log says why); everything that can be checked before is checked
// before, with the usual Matrix errors.
func (s *Server) exportRoute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &streamWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), exportWriterKey{}, sw))
		s.act("user.export", s.exportUser).ServeHTTP(sw, r)
	})
}

type exportWriterKey struct{}

// streamWriter lets a handler of the audited (any, error) kind write the
// response itself: once it streamed, the JSON body the handler chain
// writes afterwards is dropped.
type streamWriter struct {
	http.ResponseWriter
	streamed bool
}

func (w *streamWriter) WriteHeader(status int) {
	if !w.streamed {
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *streamWriter) Write(b []byte) (int, error) {
	if w.streamed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// stream begins the handler's own response and returns where to write it.
func (w *streamWriter) stream(contentType, filename string) http.ResponseWriter {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.ResponseWriter.WriteHeader(http.StatusOK)
	w.streamed = true
	return w.ResponseWriter
}

func (s *Server) exportUser(r *http.Request, _ *userapi.Device) (any, error) {
	user, err := s.localUser(r)
	if err != nil {
		return nil, err
	}
	sw, ok := r.Context().Value(exportWriterKey{}).(*streamWriter)
	if !ok {
		return nil, errors.New("export: no response writer")
	}
	exp := &userexport.Exporter{DB: s.store.DB()}
	if s.media != nil {
		exp.Media = userexport.APIMedia{API: s.media}
	}
	if err := exp.Check(r.Context(), user); err != nil {
		if errors.Is(err, userexport.ErrUnknownUser) {
			return nil, mxhttp.NotFound("User not found")
		}
		return nil, err
	}
	noteAudit(r, "format", "zip")
	w := sw.stream("application/zip", "export-"+user.Local()+".zip")
	if err := exp.Write(r.Context(), w, user); err != nil {
		// The status is sent; the archive stays incomplete.
		slog.Error("admin API: user export cut short", "user", user.String(), "err", err)
		noteAudit(r, "error", err.Error())
		return nil, nil
	}
	return nil, nil
}
