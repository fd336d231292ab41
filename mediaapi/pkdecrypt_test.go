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
	"io"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/hkdf"
	"maunium.net/go/mautrix/crypto/backup"
	"maunium.net/go/mautrix/crypto/goolm/pk"
)

func testKey(t testing.TB) (*pk.Decryption, *ecdh.PublicKey) {
	t.Helper()
	key, err := loadPkKey(filepath.Join(t.TempDir(), "content_scanner.key"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawStdEncoding.DecodeString(string(key.PublicKey()))
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return key, pub
}

// sealRaw encrypts already padded plaintext as PkEncryption does, with
// the MAC libolm and vodozemac compute (over nothing): what an attacker
// who changed a ciphertext can send, since the MAC does not depend on it.
func sealRaw(t testing.TB, pub *ecdh.PublicKey, padded []byte) pkMessage {
	t.Helper()
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared, _ := eph.ECDH(pub)
	params := make([]byte, 80)
	io.ReadFull(hkdf.New(sha256.New, shared, nil, nil), params)
	block, _ := aes.NewCipher(params[:32])
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, params[64:]).CryptBlocks(ct, padded)
	mac := hmac.New(sha256.New, params[32:64]).Sum(nil)[:8]
	enc := base64.RawStdEncoding.EncodeToString
	return pkMessage{Ciphertext: enc(ct), MAC: enc(mac), Ephemeral: enc(eph.PublicKey().Bytes())}
}

func pkcs7(b []byte) []byte {
	n := aes.BlockSize - len(b)%aes.BlockSize
	return append(append([]byte{}, b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

const fileJSON = `{"file":{"url":"mxc://localhost/abc","v":"v2","key":{"alg":"A256CTR","k":"qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA"},"iv":"X85+XgHN+HEAAAAAAAAAAA","hashes":{"sha256":"x"}}}`

// A body sealed by a client (mautrix's backup encryption is libolm's and
// vodozemac's PkEncryption, MAC over nothing) or by goolm's own
// PkEncryption (MAC over the ciphertext) opens; bad padding, bad JSON
// inside, a missing file and a wrong MAC all fail with the one error.
func TestPkDecryptFailsAlike(t *testing.T) {
	key, pub := testKey(t)
	sealed, err := backup.EncryptSessionDataWithPubkey(pub, map[string]any{"file": map[string]any{"url": "mxc://localhost/abc"}})
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawStdEncoding.EncodeToString
	f, err := pkDecrypt(key, pkMessage{Ciphertext: enc(sealed.Ciphertext), MAC: enc(sealed.MAC), Ephemeral: enc(sealed.Ephemeral.PublicKey.Bytes())})
	if err != nil || f.URL != "mxc://localhost/abc" {
		t.Fatalf("a client's body: %v %+v", err, f)
	}
	// goolm's PkEncryption, MAC over the ciphertext.
	gpub, _ := pk.NewEncryption(key.PublicKey())
	eph, _ := pk.NewDecryption()
	ct, mac, err := gpub.Encrypt([]byte(fileJSON), eph.PrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	if f, err := pkDecrypt(key, pkMessage{Ciphertext: enc(ct), MAC: string(mac), Ephemeral: string(eph.PublicKey())}); err != nil || f.URL != "mxc://localhost/abc" {
		t.Fatalf("goolm's body: %v", err)
	}
	if f, err := pkDecrypt(key, sealRaw(t, pub, pkcs7([]byte(fileJSON)))); err != nil || f.URL != "mxc://localhost/abc" {
		t.Fatalf("sealRaw: %v", err)
	}
	badPadding := append([]byte(fileJSON), bytes.Repeat([]byte{3}, 16-len(fileJSON)%16)...)
	badPadding[len(badPadding)-1] = 4
	wrongMAC := sealRaw(t, pub, pkcs7([]byte(fileJSON)))
	wrongMAC.MAC = "AAAAAAAAAAA"
	for name, m := range map[string]pkMessage{
		"bad padding":     sealRaw(t, pub, badPadding),
		"padding 0":       sealRaw(t, pub, append(pkcs7([]byte(fileJSON))[:len(pkcs7([]byte(fileJSON)))-16], make([]byte, 16)...)),
		"padding 200":     sealRaw(t, pub, append(pkcs7([]byte(fileJSON))[:len(pkcs7([]byte(fileJSON)))-16], bytes.Repeat([]byte{200}, 16)...)),
		"not JSON":        sealRaw(t, pub, pkcs7([]byte("kein JSON"))),
		"no file":         sealRaw(t, pub, pkcs7([]byte(`{"datei":{}}`))),
		"file not object": sealRaw(t, pub, pkcs7([]byte(`{"file":1}`))),
		"wrong MAC":       wrongMAC,
		"empty MAC":       {Ciphertext: wrongMAC.Ciphertext, Ephemeral: wrongMAC.Ephemeral},
		"long MAC":        {Ciphertext: wrongMAC.Ciphertext, Ephemeral: wrongMAC.Ephemeral, MAC: enc(make([]byte, 40))},
	} {
		if _, err := pkDecrypt(key, m); err != errBadDecryption {
			t.Errorf("%s: %v, want errBadDecryption", name, err)
		}
	}
}

// The time to refuse a body with bad padding and one with good padding
// but bad JSON inside is the same: the padding is checked in constant
// time and the JSON parsed in both cases. Medians of interleaved runs.
func TestPkDecryptTimingAlike(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	key, pub := testKey(t)
	// The padding oracle attack changes the block before the last, so
	// the JSON breaks there whether the padding is right or not.
	good := pkcs7([]byte(fileJSON))
	garbled := append([]byte{}, good...)
	copy(garbled[len(garbled)-32:], bytes.Repeat([]byte{0x01}, 16))
	badPad := append([]byte{}, garbled...)
	badPad[len(badPad)-1] ^= 0x5a
	ms := []pkMessage{sealRaw(t, pub, garbled), sealRaw(t, pub, badPad)}
	const rounds = 3000
	d := [2][]time.Duration{}
	for i := 0; i < rounds; i++ {
		for j := range ms {
			start := time.Now()
			if _, err := pkDecrypt(key, ms[j]); err != errBadDecryption {
				t.Fatal(err)
			}
			d[j] = append(d[j], time.Since(start))
		}
	}
	med := func(x []time.Duration) time.Duration {
		sort.Slice(x, func(a, b int) bool { return x[a] < x[b] })
		return x[len(x)/2]
	}
	a, b := med(d[0]), med(d[1])
	t.Logf("median refusal: good padding, bad JSON %v; bad padding %v", a, b)
	if diff := a - b; diff > a/10 || -diff > a/10 {
		t.Errorf("refusals differ by more than 10%%: %v vs %v", a, b)
	}
}

// Whatever a client sends as an encrypted body or attachment key, the
// server answers without panicking.
func FuzzDecryption(f *testing.F) {
	f.Add("AAAA", "AAAA", "AAAA", "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA", "X85+XgHN+HEAAAAAAAAAAA", []byte("x"))
	key, err := loadPkKey(filepath.Join(f.TempDir(), "content_scanner.key"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ct, mac, eph, k, iv string, data []byte) {
		_, _ = pkDecrypt(key, pkMessage{Ciphertext: ct, MAC: mac, Ephemeral: eph})
		f := &encryptedFile{IV: iv, Hashes: map[string]string{"sha256": mac}}
		f.Key.K = k
		_, _ = decryptAttachment(f, data)
	})
}
