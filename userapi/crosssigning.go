package userapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

// Cross-signing: a user's master key signs their self-signing key (which
// signs their devices) and their user-signing key (which signs other
// users' master keys). The server checks the signatures it can and keeps
// signatures uploaded later beside the keys, merged in when they are
// queried.

// CrossSigningUpload is POST /keys/device_signing/upload.
type CrossSigningUpload struct {
	Master, SelfSigning, UserSigning json.RawMessage
}

// crossSigningKey is a parsed cross-signing key.
type crossSigningKey struct {
	canonical []byte
	keyID     string // "ed25519:<public key>"
	public    ed25519.PublicKey
}

func parseCrossSigningKey(user, usage string, raw json.RawMessage) (*crossSigningKey, error) {
	canonical, err := gomatrixserverlib.CanonicalJSON(raw)
	if err != nil || len(canonical) > maxKeyJSON {
		return nil, fmt.Errorf("%w: the %s key is not a JSON object", ErrBadKeys, usage)
	}
	k := gjson.ParseBytes(canonical)
	if k.Get("user_id").String() != user {
		return nil, fmt.Errorf("%w: the %s key must name this user", ErrBadKeys, usage)
	}
	usageOK := false
	for _, u := range k.Get("usage").Array() {
		usageOK = usageOK || u.String() == usage
	}
	if !usageOK {
		return nil, fmt.Errorf("%w: the %s key must have usage %s", ErrBadKeys, usage, usage)
	}
	keys := k.Get("keys").Map()
	if len(keys) != 1 {
		return nil, fmt.Errorf("%w: the %s key must hold exactly one key", ErrBadKeys, usage)
	}
	for id, v := range keys {
		pub, err := base64.RawStdEncoding.DecodeString(v.String())
		if !strings.HasPrefix(id, "ed25519:") || err != nil || len(pub) != ed25519.PublicKeySize || strings.TrimPrefix(id, "ed25519:") != v.String() {
			return nil, fmt.Errorf("%w: the %s key must be an ed25519 key named by itself", ErrBadKeys, usage)
		}
		return &crossSigningKey{canonical: canonical, keyID: id, public: pub}, nil
	}
	return nil, fmt.Errorf("%w: no key", ErrBadKeys)
}

// UploadCrossSigningKeys checks and stores a user's cross-signing keys:
// the self-signing and user-signing keys must be signed by the master key
// (the new one, or the stored one when none comes along).
func (s *Server) UploadCrossSigningKeys(ctx context.Context, user spec.UserID, up CrossSigningUpload) error {
	stored, err := s.store.CrossSigningKeys(ctx, user.String())
	if err != nil {
		return err
	}
	keys := map[string][]byte{}
	var master *crossSigningKey
	if len(up.Master) > 0 && string(up.Master) != "null" {
		if master, err = parseCrossSigningKey(user.String(), "master", up.Master); err != nil {
			return err
		}
		keys["master"] = master.canonical
	} else if old, ok := stored["master"]; ok {
		master, _ = parseCrossSigningKey(user.String(), "master", old)
	}
	for usage, raw := range map[string]json.RawMessage{"self_signing": up.SelfSigning, "user_signing": up.UserSigning} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		k, err := parseCrossSigningKey(user.String(), usage, raw)
		if err != nil {
			return err
		}
		if master == nil {
			return fmt.Errorf("%w: a %s key needs a master key", ErrBadKeys, usage)
		}
		if err := gomatrixserverlib.VerifyJSON(user.String(), gomatrixserverlib.KeyID(master.keyID), master.public, k.canonical); err != nil {
			return fmt.Errorf("%w: the %s key is not signed by the master key", ErrBadSignature, usage)
		}
		keys[usage] = k.canonical
	}
	if len(keys) == 0 {
		return nil
	}
	pos, err := s.store.PutCrossSigningKeys(ctx, user.String(), keys)
	if err != nil {
		return err
	}
	s.publishKeyChange(user.String(), pos)
	return nil
}

// HasMasterKey tells whether the user has uploaded a master key (the
// first upload needs no user-interactive auth).
func (s *Server) HasMasterKey(ctx context.Context, user spec.UserID) (bool, error) {
	keys, err := s.store.CrossSigningKeys(ctx, user.String())
	_, ok := keys["master"]
	return ok, err
}

// SignatureFailure is one entry of /keys/signatures/upload's failures.
type SignatureFailure struct {
	ErrCode string `json:"errcode"`
	Error   string `json:"error"`
}

// UploadSignatures checks and stores signatures by user of keys: their
// own devices (signed by their self-signing key), their own master key
// (signed by one of their devices) and other users' master keys (signed
// by their user-signing key). Each signed object is the key as published
// with the new signatures added.
func (s *Server) UploadSignatures(ctx context.Context, user spec.UserID, signed map[string]map[string]json.RawMessage) (map[string]map[string]SignatureFailure, error) {
	failures := map[string]map[string]SignatureFailure{}
	fail := func(target, keyID, msg string) {
		if failures[target] == nil {
			failures[target] = map[string]SignatureFailure{}
		}
		failures[target][keyID] = SignatureFailure{ErrCode: "M_INVALID_SIGNATURE", Error: msg}
	}
	mine, err := s.store.CrossSigningKeys(ctx, user.String())
	if err != nil {
		return nil, err
	}
	signers := map[string]ed25519.PublicKey{}
	for _, usage := range []string{"self_signing", "user_signing"} {
		if raw, ok := mine[usage]; ok {
			if k, err := parseCrossSigningKey(user.String(), usage, raw); err == nil {
				signers[k.keyID] = k.public
			}
		}
	}
	var sigs []storage.KeySignature
	n := 0
	for target, byKey := range signed {
		for keyID, obj := range byKey {
			if n++; n > maxKeysPerUpload {
				return nil, fmt.Errorf("%w: at most %d signatures per upload", ErrBadKeys, maxKeysPerUpload)
			}
			canonical, err := gomatrixserverlib.CanonicalJSON(obj)
			if err != nil {
				fail(target, keyID, "not a JSON object")
				continue
			}
			mySigs := gjson.GetBytes(canonical, "signatures."+gjson.Escape(user.String())).Map()
			if len(mySigs) == 0 {
				fail(target, keyID, "no signature by the uploading user")
				continue
			}
			for signerKeyID, sig := range mySigs {
				pub, ok := signers[signerKeyID]
				if !ok && target == user.String() {
					// The user's own master key, signed by a device.
					pub, ok = s.devicePublicKey(ctx, user.String(), strings.TrimPrefix(signerKeyID, "ed25519:"))
				}
				if !ok {
					fail(target, keyID, "unknown signing key "+signerKeyID)
					continue
				}
				if err := gomatrixserverlib.VerifyJSON(user.String(), gomatrixserverlib.KeyID(signerKeyID), pub, canonical); err != nil {
					fail(target, keyID, "invalid signature by "+signerKeyID)
					continue
				}
				sigs = append(sigs, storage.KeySignature{SignerUserID: user.String(), SignerKeyID: signerKeyID,
					TargetUserID: target, TargetKeyID: keyID, Signature: sig.String()})
			}
		}
	}
	if len(sigs) > 0 {
		changed, err := s.store.PutSignatures(ctx, sigs)
		if err != nil {
			return nil, err
		}
		for u, pos := range changed {
			s.publishKeyChange(u, pos)
		}
	}
	return failures, nil
}

// devicePublicKey is the ed25519 key of one of the user's devices.
func (s *Server) devicePublicKey(ctx context.Context, user, deviceID string) (ed25519.PublicKey, bool) {
	keys, err := s.store.DeviceKeys(ctx, user, []string{deviceID})
	if err != nil || keys[deviceID] == nil {
		return nil, false
	}
	pub, err := base64.RawStdEncoding.DecodeString(gjson.GetBytes(keys[deviceID], "keys."+gjson.Escape("ed25519:"+deviceID)).String())
	return pub, err == nil && len(pub) == ed25519.PublicKeySize
}

// withSignatures merges the signatures uploaded for a key into its JSON.
func withSignatures(key []byte, sigs []storage.KeySignature) []byte {
	for _, sig := range sigs {
		key = setJSON(key, "signatures."+sjsonEscape(sig.SignerUserID)+"."+sjsonEscape(sig.SignerKeyID), sig.Signature)
	}
	return key
}

func setJSON(doc []byte, path string, v any) []byte {
	out, err := sjson.SetBytes(doc, path, v)
	if err != nil {
		return doc
	}
	return out
}

// sjsonEscape escapes the characters sjson gives meaning in a path.
func sjsonEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `.`, `\.`, `*`, `\*`, `?`, `\?`, `|`, `\|`, `#`, `\#`, `@`, `\@`, `:`, `\:`)
	return r.Replace(s)
}
