package app_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/rohrpost/rohrpost/internal/apptest"
	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
	"golang.org/x/crypto/hkdf"
	"maunium.net/go/mautrix/crypto/backup"
)

// encryptAttachment encrypts data as clients encrypt attachments
// (AES-256-CTR) and returns the ciphertext and the EncryptedFile fields.
func encryptAttachment(t *testing.T, data []byte) ([]byte, map[string]any) {
	key, iv := make([]byte, 32), make([]byte, 16)
	rand.Read(key)
	rand.Read(iv[:8])
	block, _ := aes.NewCipher(key)
	ct := make([]byte, len(data))
	cipher.NewCTR(block, iv).XORKeyStream(ct, data)
	sum := sha256.Sum256(ct)
	return ct, map[string]any{
		"v":      "v2",
		"key":    map[string]any{"alg": "A256CTR", "ext": true, "k": base64.RawURLEncoding.EncodeToString(key), "key_ops": []string{"encrypt", "decrypt"}, "kty": "oct"},
		"iv":     base64.RawStdEncoding.EncodeToString(iv),
		"hashes": map[string]string{"sha256": base64.RawStdEncoding.EncodeToString(sum[:])},
	}
}

func TestContentScannerAPI(t *testing.T) {
	t.Parallel()
	clam := clamdtest.Start(t)
	cfg := apptest.Config(t.TempDir())
	cfg.ContentScanner.Clamd = clam.Address
	srv := apptest.StartWith(t, cfg)
	ctx := context.Background()
	alice := srv.Register(t, "alice")
	call := func(method, path string, body any, auth bool) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, srv.URL+"/_matrix/media_proxy/unstable"+path, rd)
		if auth {
			req.Header.Set("Authorization", "Bearer "+alice.AccessToken)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	clean, err := alice.UploadBytes(ctx, []byte("Dienstanweisung"), "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := call("GET", "/scan/localhost/"+clean.ContentURI.FileID, nil, true); status != 200 || !bytes.Contains(body, []byte(`"clean":true`)) {
		t.Fatalf("scan of a clean file: %d %s", status, body)
	}
	if status, body := call("GET", "/download/localhost/"+clean.ContentURI.FileID, nil, true); status != 200 || string(body) != "Dienstanweisung" {
		t.Fatalf("download of a clean file: %d %s", status, body)
	}
	if status, body := call("GET", "/download/localhost/"+clean.ContentURI.FileID, nil, false); status != 404 || !bytes.Contains(body, []byte(`"reason":"M_NOT_FOUND"`)) {
		t.Fatalf("without Authorization: %d %s", status, body)
	}

	// An encrypted attachment: the server stored ciphertext it could not
	// judge; with the key, the plaintext is found infected.
	ct, file := encryptAttachment(t, clamdtest.Infected)
	up, err := alice.UploadBytes(ctx, ct, "application/octet-stream")
	if err != nil {
		t.Fatalf("uploading the encrypted attachment: %v", err)
	}
	file["url"] = up.ContentURI.String()
	if status, body := call("POST", "/scan_encrypted", map[string]any{"file": file}, true); status != 200 || !bytes.Contains(body, []byte(`"clean":false`)) {
		t.Fatalf("scan_encrypted of malware: %d %s", status, body)
	}
	if status, body := call("POST", "/download_encrypted", map[string]any{"file": file}, true); status != 403 || !bytes.Contains(body, []byte("MCS_MEDIA_NOT_CLEAN")) {
		t.Fatalf("download_encrypted of malware: %d %s", status, body)
	}
	// The same through encrypted_body, PkEncrypted to the server's key.
	status, body := call("GET", "/public_key", nil, false)
	var pk struct {
		PublicKey string `json:"public_key"`
	}
	if json.Unmarshal(body, &pk) != nil || status != 200 {
		t.Fatalf("public_key: %d %s", status, body)
	}
	raw, _ := base64.RawStdEncoding.DecodeString(pk.PublicKey)
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	cleanCT, cleanFile := encryptAttachment(t, []byte("harmlos"))
	up2, err := alice.UploadBytes(ctx, cleanCT, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	cleanFile["url"] = up2.ContentURI.String()
	sealed, err := backup.EncryptSessionDataWithPubkey(pub, map[string]any{"file": cleanFile})
	if err != nil {
		t.Fatal(err)
	}
	status, body = call("POST", "/download_encrypted", map[string]any{"encrypted_body": sealed}, true)
	if status != 200 || !bytes.Equal(body, cleanCT) {
		t.Fatalf("download_encrypted with encrypted_body: %d, %d bytes", status, len(body))
	}
	// A wrong key is a failed decryption, a tampered body a bad one.
	cleanFile["hashes"] = map[string]string{"sha256": base64.RawStdEncoding.EncodeToString(make([]byte, 32))}
	if status, body := call("POST", "/scan_encrypted", map[string]any{"file": cleanFile}, true); status != 403 || !bytes.Contains(body, []byte("MCS_BAD_DECRYPTION")) {
		t.Fatalf("wrong hash: %d %s", status, body)
	}
	sealed.MAC = []byte("12345678")
	if status, body := call("POST", "/scan_encrypted", map[string]any{"encrypted_body": sealed}, true); status != 403 || !bytes.Contains(body, []byte("MCS_BAD_DECRYPTION")) {
		t.Fatalf("tampered body: %d %s", status, body)
	}
	if status, body := call("POST", "/scan_encrypted", "kein JSON", true); status != 400 || !bytes.Contains(body, []byte("MCS_MALFORMED_JSON")) {
		t.Fatalf("malformed body: %d %s", status, body)
	}

	// No padding oracle: a body whose padding is wrong, one whose padding
	// is right but whose content is not JSON, one without a file and one
	// whose file does not decrypt get the very same answer.
	inner, _ := json.Marshal(map[string]any{"file": cleanFile})
	padded := func(b []byte, pad byte) []byte {
		n := aes.BlockSize - len(b)%aes.BlockSize
		out := append(append([]byte{}, b...), bytes.Repeat([]byte{byte(n)}, n)...)
		out[len(out)-1] = pad
		return out
	}
	n := byte(aes.BlockSize - len(inner)%aes.BlockSize)
	cleanFile["key"].(map[string]any)["k"] = "kurz"
	wrongKey, _ := json.Marshal(map[string]any{"file": cleanFile})
	answers := map[string][]byte{}
	for name, plain := range map[string][]byte{
		"bad padding":            padded(inner, n%16+1),
		"good padding, not JSON": padded([]byte("{\"file\": kein JSON"), byte(aes.BlockSize-len("{\"file\": kein JSON")%aes.BlockSize)),
		"no file":                padded([]byte(`{"datei":{}}`), byte(aes.BlockSize-len(`{"datei":{}}`)%aes.BlockSize)),
		"a key that is not one":  padded(wrongKey, byte(aes.BlockSize-len(wrongKey)%aes.BlockSize)),
	} {
		status, body := call("POST", "/scan_encrypted", map[string]any{"encrypted_body": sealPadded(t, pub, plain)}, true)
		answers[name] = append([]byte(fmt.Sprintf("%d ", status)), body...)
	}
	want := answers["bad padding"]
	if !bytes.HasPrefix(want, []byte("403 ")) || !bytes.Contains(want, []byte("MCS_BAD_DECRYPTION")) {
		t.Fatalf("bad padding: %s", want)
	}
	for name, got := range answers {
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %s, bad padding: %s", name, got, want)
		}
	}
}

// sealPadded PkEncrypts already padded plaintext as libolm does (the MAC
// over nothing), which is what someone who changed the ciphertext of a
// client's encrypted_body can send.
func sealPadded(t *testing.T, pub *ecdh.PublicKey, padded []byte) map[string]string {
	t.Helper()
	eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
	shared, _ := eph.ECDH(pub)
	params := make([]byte, 80)
	io.ReadFull(hkdf.New(sha256.New, shared, nil, nil), params)
	block, _ := aes.NewCipher(params[:32])
	ct := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, params[64:]).CryptBlocks(ct, padded)
	enc := base64.RawStdEncoding.EncodeToString
	return map[string]string{"ciphertext": enc(ct), "mac": enc(hmac.New(sha256.New, params[32:64]).Sum(nil)[:8]), "ephemeral": enc(eph.PublicKey().Bytes())}
}
