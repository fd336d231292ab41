package mediaapi

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"os"

	"golang.org/x/crypto/hkdf"
)

// The content scanner API lets a client encrypt the key of an encrypted
// attachment to the server (Olm's PkEncryption: Curve25519 ECDH with an
// ephemeral key, HKDF-SHA256 to an AES-256-CBC key, an HMAC key and an IV).
// The server's key pair is kept in media_store_path so that it survives
// restarts and is the same for every media process sharing the directory.

type pkMessage struct {
	Ciphertext string `json:"ciphertext"`
	MAC        string `json:"mac"`
	Ephemeral  string `json:"ephemeral"`
}

var errBadDecryption = errors.New("cannot decrypt")

// loadPkKey reads the key pair, or makes and stores one.
func loadPkKey(path string) (*ecdh.PrivateKey, error) {
	if raw, err := os.ReadFile(path); err == nil {
		return ecdh.X25519().NewPrivateKey(raw)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, key.Bytes(), 0o600); err != nil {
		return nil, err
	}
	// Another process may have made one meanwhile: the first one wins.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		os.Remove(tmp)
		return nil, err
	}
	os.Remove(tmp)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(raw)
}

func unpadded(s string) ([]byte, error) {
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// pkDecrypt opens a PkEncryption message. The MAC is accepted in both the
// form libolm and vodozemac compute (over nothing) and the one the
// original design meant (over the ciphertext).
func pkDecrypt(key *ecdh.PrivateKey, m pkMessage) ([]byte, error) {
	ephemeralRaw, err1 := unpadded(m.Ephemeral)
	ciphertext, err2 := unpadded(m.Ciphertext)
	mac, err3 := unpadded(m.MAC)
	if err1 != nil || err2 != nil || err3 != nil || len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, errBadDecryption
	}
	ephemeral, err := ecdh.X25519().NewPublicKey(ephemeralRaw)
	if err != nil {
		return nil, errBadDecryption
	}
	shared, err := key.ECDH(ephemeral)
	if err != nil {
		return nil, errBadDecryption
	}
	params := make([]byte, 80)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, nil), params); err != nil {
		return nil, err
	}
	aesKey, macKey, iv := params[:32], params[32:64], params[64:]
	compat := hmac.New(sha256.New, macKey)
	proper := hmac.New(sha256.New, macKey)
	proper.Write(ciphertext)
	if !hmac.Equal(compat.Sum(nil)[:8], mac) && !hmac.Equal(proper.Sum(nil)[:8], mac) {
		return nil, errBadDecryption
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > aes.BlockSize || !bytes.Equal(plain[len(plain)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, errBadDecryption
	}
	return plain[:len(plain)-pad], nil
}
