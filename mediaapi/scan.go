package mediaapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/mediaapi/clamd"
	"github.com/rohrpost/rohrpost/mediaapi/storage"
)

// Every upload is scanned by ClamAV before it becomes downloadable. An
// infected file is refused (403), moved to quarantine/ and recorded for
// the administrators; it is never served. With fail_closed, a file clamd
// cannot scan (clamd down, file over max_scan_size) is refused (503) and
// nothing is stored. Verdicts are remembered per content, so a file
// uploaded again is not scanned again.

// scanTimeout bounds one scan.
const scanTimeout = 2 * time.Minute

// scanUpload decides whether the temporary file tmp with the SHA-256 sum
// may be stored. It returns the Matrix error to answer with otherwise.
func (s *Server) scanUpload(ctx context.Context, tmp, sum string, size int64, q storage.Quarantined) error {
	if s.scanner == nil {
		return nil
	}
	cfg := s.cfg.ContentScanner
	prior, err := s.store.ScanResult(ctx, sum)
	if err != nil {
		return err
	}
	if prior == nil {
		if size > int64(cfg.MaxScanSize) {
			s.scans.tooLarge.Add(1)
			if cfg.FailClosed {
				return &mxhttp.Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN", Msg: "The file is too large to be scanned for viruses"}
			}
			return nil
		}
		f, err := os.Open(tmp)
		if err != nil {
			return err
		}
		scanCtx, cancel := context.WithTimeout(ctx, scanTimeout)
		res, err := s.scanner.Scan(scanCtx, f)
		s.scans.record(res, err)
		cancel()
		f.Close()
		if err != nil {
			slog.Warn("mediaapi: virus scan failed", "err", err)
			if cfg.FailClosed {
				return &mxhttp.Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN",
					Msg: "The virus scanner is not available; the file was not stored. Please try again later"}
			}
			return nil
		}
		prior = &storage.ScanResult{Infected: res.Infected, Signature: res.Signature}
		if err := s.store.PutScanResult(ctx, sum, *prior, time.Now().UnixMilli()); err != nil {
			return err
		}
	}
	if !prior.Infected {
		return nil
	}
	// Kept aside, never where downloads look.
	qpath := filepath.Join(s.dir, "quarantine", sum)
	if _, err := os.Stat(qpath); errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, qpath); err != nil {
			return err
		}
	}
	q.SHA256, q.Signature, q.Size, q.ReceivedTS = sum, prior.Signature, size, time.Now().UnixMilli()
	if err := s.store.Quarantine(ctx, q); err != nil {
		return err
	}
	slog.Warn("mediaapi: infected upload refused", "uploader", q.Uploader, "signature", prior.Signature, "sha256", sum)
	return mxhttp.Forbidden("The file contains malware (" + prior.Signature + ") and was not stored")
}

func newScanner(address string) (*clamd.Client, error) {
	if address == "" {
		return nil, nil
	}
	return clamd.New(address, scanTimeout)
}
