package userexport

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
)

// The sections of the archive, each read from its owner's tables.

type accountJSON struct {
	UserID      string           `json:"user_id"`
	CreatedTS   int64            `json:"created_ts"`
	IsAdmin     bool             `json:"admin"`
	IsGuest     bool             `json:"guest"`
	Deactivated bool             `json:"deactivated"`
	Erased      bool             `json:"erased"`
	Locked      bool             `json:"locked"`
	Suspended   bool             `json:"suspended"`
	HasPassword bool             `json:"has_password"`
	ExternalIDs []externalIDJSON `json:"external_ids"`
}

type externalIDJSON struct {
	AuthProvider string `json:"auth_provider"`
	ExternalID   string `json:"external_id"`
}

func (a *archive) account() error {
	acc := accountJSON{UserID: a.user, ExternalIDs: []externalIDJSON{}}
	var hash string
	err := a.db.QueryRowContext(a.ctx, `SELECT created_ts, is_admin, is_guest, deactivated, erased, locked, suspended, password_hash
		FROM accounts WHERE user_id = $1`, a.user).Scan(&acc.CreatedTS, &acc.IsAdmin, &acc.IsGuest, &acc.Deactivated, &acc.Erased,
		&acc.Locked, &acc.Suspended, &hash)
	if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	acc.HasPassword = hash != ""
	rows, err := a.db.QueryContext(a.ctx, `SELECT auth_provider, external_id FROM user_external_ids WHERE user_id = $1 ORDER BY auth_provider`, a.user)
	if err != nil {
		return fmt.Errorf("external ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var x externalIDJSON
		if err := rows.Scan(&x.AuthProvider, &x.ExternalID); err != nil {
			return err
		}
		acc.ExternalIDs = append(acc.ExternalIDs, x)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	a.deactivated, a.erased = acc.Deactivated, acc.Erased
	return a.writeJSON("account.json", acc)
}

func (a *archive) profile() error {
	var name, avatar, fields string
	err := a.db.QueryRowContext(a.ctx, `SELECT displayname, avatar_url, fields FROM profiles WHERE user_id = $1`, a.user).Scan(&name, &avatar, &fields)
	if errors.Is(err, sql.ErrNoRows) {
		return a.writeJSON("profile.json", map[string]any{})
	}
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	out := map[string]any{}
	if json.Valid([]byte(fields)) {
		var extra map[string]json.RawMessage
		if json.Unmarshal([]byte(fields), &extra) == nil {
			for k, v := range extra {
				out[k] = v
			}
		}
	}
	if name != "" {
		out["displayname"] = name
	}
	if avatar != "" {
		out["avatar_url"] = avatar
	}
	return a.writeJSON("profile.json", out)
}

func (a *archive) devices() error {
	return a.writeRows("devices.json", `SELECT device_id, display_name, created_ts, last_seen_ts, last_seen_ip, last_seen_user_agent
		FROM devices WHERE user_id = $1 ORDER BY device_id`, func(rows *sql.Rows) (any, error) {
		var d struct {
			DeviceID    string  `json:"device_id"`
			DisplayName *string `json:"display_name"`
			CreatedTS   int64   `json:"created_ts"`
			LastSeenTS  *int64  `json:"last_seen_ts"`
			LastSeenIP  *string `json:"last_seen_ip"`
			UserAgent   *string `json:"last_seen_user_agent"`
		}
		err := rows.Scan(&d.DeviceID, &d.DisplayName, &d.CreatedTS, &d.LastSeenTS, &d.LastSeenIP, &d.UserAgent)
		return d, err
	}, a.user)
}

func (a *archive) threePIDs() error {
	return a.writeRows("threepids.json", `SELECT medium, address, added_ts, validated_ts FROM threepids WHERE user_id = $1 ORDER BY medium, address`,
		func(rows *sql.Rows) (any, error) {
			var t struct {
				Medium      string `json:"medium"`
				Address     string `json:"address"`
				AddedAt     int64  `json:"added_at"`
				ValidatedAt int64  `json:"validated_at"`
			}
			err := rows.Scan(&t.Medium, &t.Address, &t.AddedAt, &t.ValidatedAt)
			return t, err
		}, a.user)
}

func (a *archive) rooms() error {
	return a.writeRows("rooms.json", `SELECT r.room_id, m.membership, m.forgotten, e.event_id, e.origin_ts
		FROM memberships m JOIN rooms r ON r.room_nid = m.room_nid JOIN events e ON e.event_nid = m.event_nid
		WHERE m.user_id = $1 ORDER BY r.room_id`, func(rows *sql.Rows) (any, error) {
		var m struct {
			RoomID     string `json:"room_id"`
			Membership string `json:"membership"`
			Forgotten  bool   `json:"forgotten"`
			EventID    string `json:"event_id"`
			TS         int64  `json:"origin_server_ts"`
		}
		err := rows.Scan(&m.RoomID, &m.Membership, &m.Forgotten, &m.EventID, &m.TS)
		return m, err
	}, a.user)
}

// events writes the user's events as stored, one per line. Rejected
// events, which never became part of a room, are left out.
func (a *archive) events() error {
	rows, err := a.db.QueryContext(a.ctx, `SELECT pdu FROM events WHERE sender = $1 AND rejected = 0 ORDER BY event_nid`, a.user)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	f, err := a.create("events.jsonl")
	if err != nil {
		return err
	}
	n := 0
	var pdu []byte
	for rows.Next() {
		if err := rows.Scan(&pdu); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if _, err := f.Write(pdu); err != nil {
			return err
		}
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return err
		}
		n++
	}
	a.counts["events.jsonl"] = n
	return rows.Err()
}

func (a *archive) accountData() error {
	return a.writeRows("account_data.json", `SELECT room_id, type, content FROM account_data WHERE user_id = $1 ORDER BY room_id, type`,
		func(rows *sql.Rows) (any, error) {
			var d struct {
				RoomID  string          `json:"room_id,omitempty"`
				Type    string          `json:"type"`
				Content json.RawMessage `json:"content"`
			}
			var content string
			err := rows.Scan(&d.RoomID, &d.Type, &content)
			d.Content = rawOrString(content)
			return d, err
		}, a.user)
}

// pushRules are the user's changes to the server's default push rules,
// kept as the account data m.push_rules.
func (a *archive) pushRules() error {
	var content string
	err := a.db.QueryRowContext(a.ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = '' AND type = 'm.push_rules'`, a.user).Scan(&content)
	if errors.Is(err, sql.ErrNoRows) {
		return a.writeJSON("push_rules.json", nil)
	}
	if err != nil {
		return fmt.Errorf("push rules: %w", err)
	}
	return a.writeJSON("push_rules.json", rawOrString(content))
}

func (a *archive) pushers() error {
	return a.writeRows("pushers.json", `SELECT app_id, pushkey, kind, app_display_name, device_display_name, profile_tag, lang, data, created_ts
		FROM pushers WHERE user_id = $1 ORDER BY app_id, pushkey`, func(rows *sql.Rows) (any, error) {
		var p struct {
			AppID             string          `json:"app_id"`
			PushKey           string          `json:"pushkey"`
			Kind              string          `json:"kind"`
			AppDisplayName    string          `json:"app_display_name"`
			DeviceDisplayName string          `json:"device_display_name"`
			ProfileTag        string          `json:"profile_tag"`
			Lang              string          `json:"lang"`
			Data              json.RawMessage `json:"data"`
			CreatedTS         int64           `json:"created_ts"`
		}
		var data string
		err := rows.Scan(&p.AppID, &p.PushKey, &p.Kind, &p.AppDisplayName, &p.DeviceDisplayName, &p.ProfileTag, &p.Lang, &data, &p.CreatedTS)
		p.Data = rawOrString(data)
		return p, err
	}, a.user)
}

func (a *archive) reports() error {
	return a.writeRows("reports.json", `SELECT report_id, room_id, event_id, user_id, reason, received_ts FROM reports WHERE reporter = $1 ORDER BY report_id`,
		func(rows *sql.Rows) (any, error) {
			var r struct {
				ID       int64  `json:"id"`
				RoomID   string `json:"room_id,omitempty"`
				EventID  string `json:"event_id,omitempty"`
				UserID   string `json:"reported_user_id,omitempty"`
				Reason   string `json:"reason"`
				Received int64  `json:"received_ts"`
			}
			err := rows.Scan(&r.ID, &r.RoomID, &r.EventID, &r.UserID, &r.Reason, &r.Received)
			return r, err
		}, a.user)
}

// upload is a row of media.json.
type upload struct {
	MXC         string `json:"mxc"`
	ContentType string `json:"content_type"`
	Filename    string `json:"upload_name"`
	Size        int64  `json:"size"`
	CreatedTS   int64  `json:"created_ts"`
	Quarantined bool   `json:"quarantined"`
	// File is the copy in the archive; empty with Missing saying why.
	File    string `json:"file,omitempty"`
	Missing string `json:"missing,omitempty"`
}

// uploads lists the user's uploads in media.json and copies each file
// under media/. The list is written last, after the files, because only
// then is known which files could be read: the list is read into memory
// first (one small row per upload, never the content).
func (a *archive) uploads() error {
	rows, err := a.db.QueryContext(a.ctx, `SELECT server_name, media_id, sha256, content_type, filename, size, created_ts, quarantined_by
		FROM media WHERE uploader = $1 ORDER BY created_ts, media_id`, a.user)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	var list []upload
	var files []MediaFile
	for rows.Next() {
		var u upload
		var f MediaFile
		var quarantinedBy string
		if err := rows.Scan(&f.ServerName, &f.MediaID, &f.SHA256, &u.ContentType, &u.Filename, &u.Size, &u.CreatedTS, &quarantinedBy); err != nil {
			rows.Close()
			return fmt.Errorf("media: %w", err)
		}
		u.MXC = "mxc://" + f.ServerName + "/" + f.MediaID
		u.Quarantined = quarantinedBy != ""
		list = append(list, u)
		files = append(files, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	for i, f := range files {
		switch {
		case f.SHA256 == "":
			list[i].Missing = "the upload never received its content"
		case a.media == nil:
			list[i].Missing = "files are not included by this export"
		default:
			name := "media/" + url.PathEscape(f.ServerName) + "/" + url.PathEscape(f.MediaID)
			if err := a.copyFile(name, f); err != nil {
				if a.ctx.Err() != nil {
					return a.ctx.Err()
				}
				list[i].Missing = "the file could not be read: " + err.Error()
				continue
			}
			list[i].File = name
		}
	}
	if list == nil {
		list = []upload{}
	}
	a.counts["media.json"] = len(list)
	return a.writeJSON("media.json", list)
}

func (a *archive) copyFile(name string, f MediaFile) error {
	src, err := a.media.Open(a.ctx, f)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := a.create(name)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	return err
}

// rawOrString keeps stored JSON as it is, and quotes anything else.
func rawOrString(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	q, _ := json.Marshal(s)
	return q
}
