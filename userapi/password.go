package userapi

import (
	"crypto/sha256"
	"encoding/hex"

	"golang.org/x/crypto/bcrypt"
)

// bcryptInput returns what is hashed for a password. bcrypt reads at most
// 72 bytes, so longer passwords are first reduced to the hex SHA-256 of
// all of their bytes rather than cut off.
func bcryptInput(password string) []byte {
	if len(password) <= 72 {
		return []byte(password)
	}
	sum := sha256.Sum256([]byte(password))
	return []byte(hex.EncodeToString(sum[:]))
}

func (s *Server) hashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(bcryptInput(password), s.passwordCost())
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// passwordMatches compares in constant time for the hash. With no hash
// (unknown user, no password) it still spends the time of one comparison,
// so response times do not tell which user names exist.
func (s *Server) passwordMatches(hash, password string) bool {
	if hash == "" {
		s.dummyOnce.Do(func() {
			s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("rohrpost dummy password"), s.passwordCost())
		})
		_ = bcrypt.CompareHashAndPassword(s.dummyHash, bcryptInput(password))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), bcryptInput(password)) == nil
}
