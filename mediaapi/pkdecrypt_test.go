package mediaapi

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"
)

// Whatever a client sends as an encrypted body or attachment key, the
// server answers without panicking.
func FuzzDecryption(f *testing.F) {
	f.Add("AAAA", "AAAA", "AAAA", "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA", "X85+XgHN+HEAAAAAAAAAAA", []byte("x"))
	key, _ := ecdh.X25519().GenerateKey(rand.Reader)
	f.Fuzz(func(t *testing.T, ct, mac, eph, k, iv string, data []byte) {
		_, _ = pkDecrypt(key, pkMessage{Ciphertext: ct, MAC: mac, Ephemeral: eph})
		f := &encryptedFile{IV: iv, Hashes: map[string]string{"sha256": mac}}
		f.Key.K = k
		_, _ = decryptAttachment(f, data)
	})
}
