package clientapi

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// checkPasswordPolicy refuses a new password that password_config.policy
// does not allow, with M_WEAK_PASSWORD naming every rule it breaks. It
// runs wherever a password is chosen: registration, change and reset.
func (s *Server) checkPasswordPolicy(password string) error {
	p := s.cfg.PasswordConfig.Policy
	if !p.Enabled {
		return nil
	}
	var broken []string
	if utf8.RuneCountInString(password) < p.MinimumLength {
		broken = append(broken, fmt.Sprintf("at least %d characters", p.MinimumLength))
	}
	rules := []struct {
		on   bool
		has  func(rune) bool
		what string
	}{
		{p.RequireDigit, unicode.IsDigit, "a digit"},
		{p.RequireSymbol, isPasswordSymbol, "a symbol"},
		{p.RequireLowercase, unicode.IsLower, "a lower-case letter"},
		{p.RequireUppercase, unicode.IsUpper, "an upper-case letter"},
	}
	for _, r := range rules {
		if r.on && !strings.ContainsFunc(password, r.has) {
			broken = append(broken, r.what)
		}
	}
	if len(broken) > 0 {
		return mxhttp.WeakPassword("The password needs " + strings.Join(broken, ", "))
	}
	return nil
}

// isPasswordSymbol counts, as Synapse does, everything that is neither
// a letter nor a digit (spaces included).
func isPasswordSymbol(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
