package config

import (
	_ "embed"
	"fmt"

	"gopkg.in/yaml.v3"
)

// ProfileBundesMessenger is the BundesMessenger profile: the settings the
// BWI's chart gives Synapse, so that an agency sets one key.
const ProfileBundesMessenger = "bundesmessenger"

// profileBundesMessenger is both what the profile applies and what
// `rohrpost generate-config --profile bundesmessenger` prints, so that
// the printed file and the profile cannot drift apart.
//
//go:embed profile_bundesmessenger.yaml
var profileBundesMessenger []byte

// profiles are the known profiles' defaults, as YAML in the config's own
// keys.
var profiles = map[string][]byte{ProfileBundesMessenger: profileBundesMessenger}

// applyProfile decodes the defaults of the profile the document names
// into c. It runs before the document itself is decoded into c, which
// is how an explicit key overrides the profile.
func (c *Config) applyProfile(doc *yaml.Node) error {
	var head struct {
		Profile string `yaml:"profile"`
	}
	if err := doc.Decode(&head); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if head.Profile == "" {
		return nil
	}
	defaults, ok := profiles[head.Profile]
	if !ok {
		return fmt.Errorf("config key profile: unknown profile %q (known: %s)", head.Profile, ProfileBundesMessenger)
	}
	if err := yaml.Unmarshal(defaults, c); err != nil {
		return fmt.Errorf("config key profile: the %s profile does not load: %w", head.Profile, err)
	}
	return nil
}

// ProfileSample is the commented configuration `rohrpost generate-config
// --profile NAME` prints: the profile switched on, the keys it needs, and
// every default it sets written out, each of which may be changed.
func ProfileSample(name string) ([]byte, error) {
	defaults, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (known: %s)", name, ProfileBundesMessenger)
	}
	head := fmt.Sprintf(`# rohrpost configuration with profile: %s. The profile sets every key
# below; they are written out so that each can be changed here (a key in
# this file always wins over the profile). Set server_name, public_baseurl
# and the two URLs the apps show before the first start.
profile: %s
server_name: example.org
# public_baseurl: https://matrix.example.org
# The apps show these two pages; the server does not start without them.
# bundesmessenger:
#   data_privacy_url: https://example.org/datenschutz
#   imprint_url: https://example.org/impressum
#   maintenance_file: /etc/rohrpost/maintenance.json   # /_matrix/cmaintenance
#   verify_jwts: []                                    # /_bum/configure/v1/verify
#   map_style_file: /etc/rohrpost/style.json           # /_matrix/cconfig/style.json

`, name, name)
	return append([]byte(head), defaults...), nil
}
