package mediaapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/html"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
	"github.com/rohrpost/rohrpost/userapi"
)

// URL previews (GET /preview_url): the server fetches a page a user is
// about to send a link to and answers with its OpenGraph data, the image
// stored as media. It is off unless url_preview.enabled: a preview tells
// the linked site that someone here looked. Fetches never reach the
// blacklisted address ranges (by default private, loopback, link-local),
// checked on the address actually dialled, so DNS cannot smuggle them in.

const (
	maxPreviewPage = 1 << 20
	previewTimeout = 10 * time.Second
)

var defaultBlacklist = []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"169.254.0.0/16", "0.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10", "::/128", "192.0.0.0/24", "198.18.0.0/15", "224.0.0.0/4", "ff00::/8"}

func (s *Server) previewClient() (*http.Client, error) {
	ranges := defaultBlacklist
	if s.cfg.IPRangeBlacklist != nil {
		ranges = *s.cfg.IPRangeBlacklist
	}
	var nets []*net.IPNet
	for _, r := range ranges {
		if _, n, err := net.ParseCIDR(r); err == nil {
			nets = append(nets, n)
		}
	}
	dialer := &net.Dialer{Timeout: previewTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		for _, n := range nets {
			if ip == nil || n.Contains(ip) {
				return fmt.Errorf("address %s is not allowed for previews", host)
			}
		}
		return nil
	}}
	tlsCfg, err := s.cfg.TLSClient.TLS()
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: previewTimeout, Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil,
		TLSClientConfig: tlsCfg, MaxResponseHeaderBytes: 64 << 10}}, nil
}

// previewURL is GET /_matrix/client/v1/media/preview_url (and the legacy
// path, which also needs a token).
func (s *Server) previewURL(r *http.Request, dev *userapi.Device) (any, error) {
	if !s.cfg.URLPreviewsOn() {
		return nil, mxhttp.Forbidden("URL previews are switched off on this server")
	}
	raw := r.URL.Query().Get("url")
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, mxhttp.InvalidParam("url must be an http(s) URL")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*previewTimeout)
	defer cancel()
	client, err := s.previewClient()
	if err != nil {
		return nil, err
	}
	body, contentType, err := fetch(ctx, client, u.String(), maxPreviewPage)
	if err != nil {
		return nil, &mxhttp.Error{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Msg: "The page could not be fetched"}
	}
	og := map[string]any{}
	imageURL := ""
	if strings.HasPrefix(contentType, "image/") {
		imageURL = u.String()
	} else if strings.HasPrefix(contentType, "text/html") {
		meta := openGraph(body)
		for k, v := range meta {
			og[k] = v
		}
		if img, ok := meta["og:image"]; ok {
			if ref, err := u.Parse(img); err == nil {
				imageURL = ref.String()
			}
			delete(og, "og:image")
		}
	} else {
		return map[string]any{}, nil
	}
	if imageURL != "" {
		if err := s.previewImage(ctx, client, dev, imageURL, og); err != nil {
			// A page without its picture is still a preview.
			delete(og, "og:image")
		}
	}
	return og, nil
}

func fetch(ctx context.Context, client *http.Client, target string, limit int64) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", "rohrpost URL preview")
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", err
	}
	if int64(len(body)) > limit {
		return nil, "", errors.New("too large")
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return body, mt, nil
}

// openGraph reads the og:* meta properties and the title of a page.
func openGraph(page []byte) map[string]string {
	out := map[string]string{}
	z := html.NewTokenizer(bytes.NewReader(page))
	inTitle := false
	title := ""
	for {
		switch z.Next() {
		case html.ErrorToken:
			if _, ok := out["og:title"]; !ok && strings.TrimSpace(title) != "" {
				out["og:title"] = strings.TrimSpace(title)
			}
			return out
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			switch t.Data {
			case "meta":
				var prop, content string
				for _, a := range t.Attr {
					switch a.Key {
					case "property", "name":
						prop = a.Val
					case "content":
						content = a.Val
					}
				}
				if strings.HasPrefix(prop, "og:") && len(out) < 50 && len(content) < 4096 {
					if _, seen := out[prop]; !seen {
						out[prop] = content
					}
				}
			case "title":
				inTitle = true
			case "body":
				if _, ok := out["og:title"]; !ok && strings.TrimSpace(title) != "" {
					out["og:title"] = strings.TrimSpace(title)
				}
				return out
			}
		case html.TextToken:
			if inTitle && len(title) < 1024 {
				title += string(z.Text())
			}
		case html.EndTagToken:
			if z.Token().Data == "title" {
				inTitle = false
			}
		}
	}
}

// previewImage fetches the page's image and stores it as media of the
// requesting user, scanned like any upload.
func (s *Server) previewImage(ctx context.Context, client *http.Client, dev *userapi.Device, target string, og map[string]any) error {
	data, contentType, err := fetch(ctx, client, target, int64(s.cfg.MaxUploadSize))
	if err != nil || !strings.HasPrefix(contentType, "image/") {
		return errors.New("no image")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return err
	}
	got, err := s.ingest(ctx, dev, bytes.NewReader(data), int64(len(data)), contentType, "")
	if err != nil {
		return err
	}
	mxc, err := s.addMedia(ctx, dev, got)
	if err != nil {
		return err
	}
	og["og:image"] = mxc
	og["og:image:width"] = cfg.Width
	og["og:image:height"] = cfg.Height
	og["og:image:type"] = contentType
	og["matrix:image:size"] = len(data)
	return nil
}
