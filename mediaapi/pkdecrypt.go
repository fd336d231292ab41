package mediaapi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"

	"golang.org/x/crypto/hkdf"
	"maunium.net/go/mautrix/crypto/goolm/aessha2"
	"maunium.net/go/mautrix/crypto/goolm/crypto"
	"maunium.net/go/mautrix/crypto/goolm/pk"
)

// The content scanner API lets a client encrypt the key of an encrypted
// attachment to the server with Olm's PkEncryption (libolm's, vodozemac's
// compat module, or goolm's): Curve25519 ECDH with an ephemeral key,
// HKDF-SHA256 to an AES-256-CBC key, an HMAC key and an IV. The server's
// key pair is mautrix goolm's pk.Decryption, its private key kept in
// media_store_path so that it survives restarts and is the same for every
// media process sharing the directory.
//
// libolm and vodozemac compute the MAC over an empty input, so it
// authenticates nothing: whoever holds an encrypted_body can change its
// ciphertext and keep its MAC. The only defence is that the server says
// nothing about what it decrypted: every failure, whether of the MAC, the
// padding, the JSON inside or the file it names, is the one answer
// badEncryptedBody, reached through the same work (the padding is checked
// in constant time and the JSON is parsed whatever the padding), and the
// endpoint is rate-limited per client address.

type pkMessage struct {
	Ciphertext string `json:"ciphertext"`
	MAC        string `json:"mac"`
	Ephemeral  string `json:"ephemeral"`
}

// errBadDecryption is every failure to open an encrypted body.
var errBadDecryption = errors.New("cannot decrypt")

// loadPkKey reads the private key, or makes and stores one.
func loadPkKey(path string) (*pk.Decryption, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw, err = makePkKey(path)
	}
	if err != nil {
		return nil, err
	}
	if len(raw) != 32 {
		return nil, errors.New("the key file does not hold a 32-byte Curve25519 key")
	}
	return pk.NewDecryptionFromPrivate(crypto.Curve25519PrivateKey(raw))
}

func makePkKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, key, 0o600); err != nil {
		return nil, err
	}
	// Another process may have made one meanwhile: the first one wins.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, os.ErrExist) {
		os.Remove(tmp)
		return nil, err
	}
	os.Remove(tmp)
	return os.ReadFile(path)
}

func unpadded(s string) ([]byte, error) {
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// pkDecrypt opens a PkEncryption message whose plaintext is a JSON object
// with a "file", and returns that file. The MAC is accepted in the form
// libolm and vodozemac compute (over nothing, truncated to 8 bytes) and in
// goolm's (over the ciphertext, all 32 bytes). Every failure is errBadDecryption, and a message that
// decrypts is parsed as JSON whether its padding is right or not, so that
// neither the answer nor its timing tells a bad padding from bad content.
func pkDecrypt(key *pk.Decryption, m pkMessage) (*encryptedFile, error) {
	ephemeral, err1 := unpadded(m.Ephemeral)
	ciphertext, err2 := unpadded(m.Ciphertext)
	mac, err3 := unpadded(m.MAC)
	if err1 != nil || err2 != nil || err3 != nil || len(ephemeral) != 32 || (len(mac) != 8 && len(mac) != 32) ||
		len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, errBadDecryption
	}
	shared, err := key.KeyPair.SharedSecret(ephemeral)
	if err != nil {
		return nil, errBadDecryption
	}
	c, err := aessha2.NewAESSHA2(shared, nil)
	if err != nil {
		return nil, errBadDecryption
	}
	compat, _ := c.VerifyMAC(nil, mac)
	proper, _ := c.VerifyMAC(ciphertext, mac)
	if !compat && !proper {
		return nil, errBadDecryption
	}
	// goolm's AESSHA2.Decrypt neither checks the padding nor survives a
	// padding byte longer than the message; decrypt with the same keys
	// here and check the padding in constant time.
	params := make([]byte, 80)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, nil), params); err != nil {
		return nil, errBadDecryption
	}
	block, err := aes.NewCipher(params[:32])
	if err != nil {
		return nil, errBadDecryption
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, params[64:80]).CryptBlocks(plain, ciphertext)
	n, padOK := unpadConstantTime(plain)
	var inner struct {
		File *encryptedFile `json:"file"`
	}
	jsonErr := json.Unmarshal(plain[:n], &inner)
	if padOK != 1 || jsonErr != nil || inner.File == nil {
		return nil, errBadDecryption
	}
	return inner.File, nil
}

// unpadConstantTime checks PKCS#7 padding of a whole number of AES
// blocks without branching on the data: it returns the length without
// the padding and 1, or the whole length and 0.
func unpadConstantTime(plain []byte) (int, int) {
	n := len(plain)
	pad := int(plain[n-1])
	ok := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := 1; i <= aes.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(plain[n-i], byte(pad))
		ok &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	return n - subtle.ConstantTimeSelect(ok, pad, 0), ok
}
