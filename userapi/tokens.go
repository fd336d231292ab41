package userapi

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// tokenPrefix marks rohrpost access tokens, so that leaked ones are easy
// to recognise in logs and by secret scanners.
const tokenPrefix = "rpt_"

// newAccessToken returns a random token and the SHA-256 hash that is all
// the database ever sees of it.
func newAccessToken() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := hashToken(token)
	return token, h[:], nil
}

func hashToken(token string) [32]byte {
	return sha256.Sum256([]byte(token))
}

// refreshTokenPrefix marks refresh tokens, as tokenPrefix access tokens.
const refreshTokenPrefix = "rpr_"

// newRefreshToken returns a random refresh token and its SHA-256 hash.
func newRefreshToken() (token string, hash []byte, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	token = refreshTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := hashToken(token)
	return token, h[:], nil
}

// refreshable is what a login that asked for a refresh token adds to its
// session; the zero value (no refresh token asked for) adds nothing.
type refreshable struct {
	token    string
	lifetime time.Duration
}

// maybeRefreshable gives dev, if the client asked for it (want) and there
// is a device, a refresh token and an access token that expires after
// the configured lifetime (docs/decisions/0016).
func (s *Server) maybeRefreshable(dev *storage.Device, want bool) (refreshable, error) {
	if !want || dev == nil {
		return refreshable{}, nil
	}
	token, hash, err := newRefreshToken()
	if err != nil {
		return refreshable{}, err
	}
	lifetime := time.Duration(s.cfg.RefreshableAccessTokenLifetime)
	dev.RefreshHash = hash
	dev.TokenExpiresTS = time.Now().Add(lifetime).UnixMilli()
	return refreshable{token: token, lifetime: lifetime}, nil
}

// session adds the refresh token and the access token's lifetime to sess.
func (r refreshable) session(sess *Session) *Session {
	if r.token != "" {
		sess.RefreshToken, sess.ExpiresInMs = r.token, r.lifetime.Milliseconds()
	}
	return sess
}

// newDeviceID returns ten random upper-case letters.
func newDeviceID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	for i := range b {
		// 256 is not a multiple of 26; the bias is harmless for ids.
		b[i] = 'A' + b[i]%26
	}
	return string(b[:]), nil
}

// newDevice prepares a device row with a fresh access token. An empty
// deviceID, and every guest login, gets a generated id.
func newDevice(deviceID, displayName string, generateID bool) (*storage.Device, string, error) {
	if deviceID == "" || generateID {
		var err error
		if deviceID, err = newDeviceID(); err != nil {
			return nil, "", err
		}
	}
	token, hash, err := newAccessToken()
	if err != nil {
		return nil, "", err
	}
	dev := &storage.Device{DeviceID: deviceID, TokenHash: hash, CreatedTS: nowMillis()}
	if displayName != "" {
		dev.DisplayName = &displayName
	}
	return dev, token, nil
}

// tokenCache maps token hashes to devices so that checking a token does
// not touch the database. Entries are dropped when their device is
// logged out, deleted, renamed or its account deactivated.
//
// A lookup that read the database before a revocation must not put the
// revoked device back afterwards: every revocation bumps epoch, and a
// lookup only stores its result if epoch did not move since it started.
type tokenCache struct {
	entries sync.Map // [32]byte -> *Device
	mu      sync.Mutex
	epoch   uint64
	// disabled turns caching off (a client that cannot hear revocations).
	disabled bool
}

func (c *tokenCache) get(h [32]byte) (*Device, bool) {
	v, ok := c.entries.Load(h)
	if !ok {
		return nil, false
	}
	return v.(*Device), true
}

func (c *tokenCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *tokenCache) put(h [32]byte, dev *Device, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch == epoch && !c.disabled {
		c.entries.Store(h, dev)
	}
}

// clear drops every entry.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.entries.Clear()
}

func (c *tokenCache) forget(hashes ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, h := range hashes {
		if len(h) == sha256.Size {
			c.entries.Delete([32]byte(h))
		}
	}
}
