package serverkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// Key is one signing key of one server name.
type Key struct {
	ServerName spec.ServerName
	ID         gomatrixserverlib.KeyID
	Private    ed25519.PrivateKey
}

// Public is the verify key.
func (k Key) Public() ed25519.PublicKey { return k.Private.Public().(ed25519.PublicKey) }

// ErrMalformed is returned for a key file that is not in Synapse's format.
var ErrMalformed = errors.New("malformed signing key file")

var versionRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// Parse reads the first key of a key file.
func Parse(data []byte) (gomatrixserverlib.KeyID, ed25519.PrivateKey, error) {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Fields(line)
		if len(parts) != 3 || parts[0] != "ed25519" || !versionRE.MatchString(parts[1]) {
			return "", nil, fmt.Errorf("%w: want \"ed25519 <version> <base64 seed>\"", ErrMalformed)
		}
		seed, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[2], "="))
		if err != nil || len(seed) != ed25519.SeedSize {
			return "", nil, fmt.Errorf("%w: the seed is not 32 bytes of base64", ErrMalformed)
		}
		return gomatrixserverlib.KeyID("ed25519:" + parts[1]), ed25519.NewKeyFromSeed(seed), nil
	}
	return "", nil, fmt.Errorf("%w: no key in file", ErrMalformed)
}

// Format writes a key in Synapse's format.
func Format(id gomatrixserverlib.KeyID, priv ed25519.PrivateKey) []byte {
	version := strings.TrimPrefix(string(id), "ed25519:")
	return []byte(fmt.Sprintf("ed25519 %s %s\n", version, base64.RawStdEncoding.EncodeToString(priv.Seed())))
}

// Generate makes a new key with a random version.
func Generate() (gomatrixserverlib.KeyID, ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, err
	}
	var v [3]byte
	if _, err := rand.Read(v[:]); err != nil {
		return "", nil, err
	}
	// Hex, because a key version may only hold [A-Za-z0-9_].
	return gomatrixserverlib.KeyID("ed25519:a_" + hex.EncodeToString(v[:])), priv, nil
}

// LoadOrCreate reads the key at path, or generates and writes one if the
// file does not exist. An existing file is never replaced.
func LoadOrCreate(path string, server spec.ServerName) (Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		id, priv, gerr := Generate()
		if gerr != nil {
			return Key{}, gerr
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return Key{}, err
		}
		err := writeNew(path, Format(id, priv))
		if errors.Is(err, os.ErrExist) {
			// Another process sharing the key file (separate services
			// starting together) was first: use its key.
			return LoadOrCreate(path, server)
		}
		if err != nil {
			return Key{}, fmt.Errorf("write signing key: %w", err)
		}
		return Key{ServerName: server, ID: id, Private: priv}, nil
	}
	if err != nil {
		return Key{}, fmt.Errorf("read signing key: %w", err)
	}
	id, priv, err := Parse(data)
	if err != nil {
		return Key{}, fmt.Errorf("%s: %w", path, err)
	}
	return Key{ServerName: server, ID: id, Private: priv}, nil
}

// writeNew writes data to path durably and atomically, failing if path
// exists: the data goes to a synced temporary file that is then hard-linked
// into place, so a crash never leaves a half-written key.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}
