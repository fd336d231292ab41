package config

import (
	"fmt"
	"regexp"
	"strings"
)

// ServerNotices is Synapse's server_notices section: a system user who
// sends notices from admins (POST /_synapse/admin/v1/send_server_notice)
// into one room per user. As in Synapse, setting system_mxid_localpart
// turns them on; enabled is what SyTest writes (enabled: false keeps
// them off).
type ServerNotices struct {
	Enabled               *bool  `yaml:"enabled"`
	SystemMXIDLocalpart   string `yaml:"system_mxid_localpart"`
	SystemMXIDDisplayName string `yaml:"system_mxid_display_name"`
	SystemMXIDAvatarURL   string `yaml:"system_mxid_avatar_url"`
	RoomName              string `yaml:"room_name"`
	RoomAvatarURL         string `yaml:"room_avatar_url"`
	RoomTopic             string `yaml:"room_topic"`
	// AutoJoin joins users to their notices room instead of inviting
	// them.
	AutoJoin bool `yaml:"auto_join"`
}

// DefaultNoticesRoomName is Synapse's name of a notices room.
const DefaultNoticesRoomName = "Server Notices"

// On tells whether server notices are sent.
func (n ServerNotices) On() bool {
	if n.Enabled != nil && !*n.Enabled {
		return false
	}
	return n.SystemMXIDLocalpart != ""
}

var noticesLocalpart = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

func (n ServerNotices) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("server_notices.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if n.Enabled != nil && *n.Enabled && n.SystemMXIDLocalpart == "" {
		bad("system_mxid_localpart", "must be set to enable server notices (the system user's localpart, e.g. \"notices\")")
	}
	if n.SystemMXIDLocalpart != "" && !noticesLocalpart.MatchString(n.SystemMXIDLocalpart) {
		bad("system_mxid_localpart", "%q is not a valid localpart (a-z, 0-9, ._=/+-)", n.SystemMXIDLocalpart)
	}
	for key, v := range map[string]string{"system_mxid_avatar_url": n.SystemMXIDAvatarURL, "room_avatar_url": n.RoomAvatarURL} {
		if v != "" && !strings.HasPrefix(v, "mxc://") {
			bad(key, "%q is not an mxc:// URI", v)
		}
	}
	return errs
}
