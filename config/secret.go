package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNoSharedSecret is returned when neither registration_shared_secret
// nor a readable registration_shared_secret_path is configured.
var ErrNoSharedSecret = errors.New("no registration shared secret: set registration_shared_secret, or start the server once so that it writes registration_shared_secret_path")

// LoadSharedSecret fills RegistrationSharedSecret from
// RegistrationSharedSecretPath when the secret itself is not in the
// config. With create, a missing file is made with a new random secret
// (Synapse does the same), so that a server on the embedded defaults
// can make its first account with `rohrpost register-user`. Without a
// path, or without create and a file, nothing changes.
func (c *Config) LoadSharedSecret(create bool) error {
	if c.RegistrationSharedSecret != "" || c.RegistrationSharedSecretPath == "" {
		return nil
	}
	raw, err := os.ReadFile(c.RegistrationSharedSecretPath)
	if errors.Is(err, fs.ErrNotExist) && create {
		raw, err = writeNewSecret(c.RegistrationSharedSecretPath)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("registration_shared_secret_path: %w", err)
	}
	secret := strings.TrimSpace(string(raw))
	if secret == "" {
		return fmt.Errorf("registration_shared_secret_path: %s is empty", c.RegistrationSharedSecretPath)
	}
	c.RegistrationSharedSecret = secret
	return nil
}

func writeNewSecret(path string) ([]byte, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	secret := []byte(hex.EncodeToString(buf) + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: two processes starting at once keep one secret.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(secret); err != nil {
		_ = f.Close()
		return nil, err
	}
	return secret, f.Close()
}
