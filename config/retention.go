package config

import (
	"fmt"
	"time"
)

// DataRetention are Synapse's keys for removing personal data after a
// time. The jobs that apply them run in the background
// (retention/, docs/data-protection.md). A zero (or null) duration
// switches a job off.
type DataRetention struct {
	// DeleteStaleDevicesAfter deletes devices (with their keys) not seen
	// for that long.
	DeleteStaleDevicesAfter Duration `yaml:"delete_stale_devices_after"`
	// UserIPsMaxAge removes the client address and user agent of devices
	// last seen before that. Synapse's default, 28 days; null switches it
	// off (a pointer, because YAML's null leaves a plain value untouched).
	UserIPsMaxAge *Duration `yaml:"user_ips_max_age"`
	// ForgottenRoomRetentionPeriod purges rooms nobody local is in and
	// every local member forgot, that long after the last one left.
	ForgottenRoomRetentionPeriod Duration       `yaml:"forgotten_room_retention_period"`
	MediaRetention               MediaRetention `yaml:"media_retention"`
	// Retention is message retention: old events purged by the rooms'
	// m.room.retention policies. Off by default.
	Retention MessageRetention `yaml:"retention"`
}

// MediaRetention removes media that many days after it was uploaded
// (local) or fetched into the cache (remote).
type MediaRetention struct {
	LocalMediaLifetime  Duration `yaml:"local_media_lifetime"`
	RemoteMediaLifetime Duration `yaml:"remote_media_lifetime"`
}

// MessageRetention is Synapse's retention block.
type MessageRetention struct {
	Enabled bool `yaml:"enabled"`
	// DefaultPolicy applies to rooms without an m.room.retention event.
	DefaultPolicy RetentionPolicy `yaml:"default_policy"`
	// AllowedLifetimeMin and Max clamp the max_lifetime a room may ask for.
	AllowedLifetimeMin Duration `yaml:"allowed_lifetime_min"`
	AllowedLifetimeMax Duration `yaml:"allowed_lifetime_max"`
	// PurgeJobs split the rooms by their max_lifetime, each range purged
	// at its own interval; none means one job for all rooms, daily.
	PurgeJobs []PurgeJob `yaml:"purge_jobs"`
}

// RetentionPolicy is how long events of a room are kept at least and at
// most (zero: no limit).
type RetentionPolicy struct {
	MinLifetime Duration `yaml:"min_lifetime"`
	MaxLifetime Duration `yaml:"max_lifetime"`
}

// PurgeJob purges the rooms whose max_lifetime lies in
// (ShortestMaxLifetime, LongestMaxLifetime] every Interval; a zero bound
// is open.
type PurgeJob struct {
	ShortestMaxLifetime Duration `yaml:"shortest_max_lifetime"`
	LongestMaxLifetime  Duration `yaml:"longest_max_lifetime"`
	Interval            Duration `yaml:"interval"`
}

// DefaultDataRetention is Synapse's: only IP addresses expire.
func DefaultDataRetention() DataRetention {
	d := Duration(28 * 24 * time.Hour)
	return DataRetention{UserIPsMaxAge: &d}
}

// IPsMaxAge is user_ips_max_age, 0 when switched off.
func (r DataRetention) IPsMaxAge() time.Duration {
	if r.UserIPsMaxAge == nil {
		return 0
	}
	return time.Duration(*r.UserIPsMaxAge)
}

// Jobs returns the purge jobs in force: the configured ones, or one daily
// job for every room.
func (m MessageRetention) Jobs() []PurgeJob {
	if len(m.PurgeJobs) > 0 {
		return m.PurgeJobs
	}
	return []PurgeJob{{Interval: Duration(24 * time.Hour)}}
}

func (r DataRetention) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key %s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"delete_stale_devices_after", r.DeleteStaleDevicesAfter},
		{"user_ips_max_age", Duration(r.IPsMaxAge())},
		{"forgotten_room_retention_period", r.ForgottenRoomRetentionPeriod},
		{"media_retention.local_media_lifetime", r.MediaRetention.LocalMediaLifetime},
		{"media_retention.remote_media_lifetime", r.MediaRetention.RemoteMediaLifetime},
		{"retention.default_policy.min_lifetime", r.Retention.DefaultPolicy.MinLifetime},
		{"retention.default_policy.max_lifetime", r.Retention.DefaultPolicy.MaxLifetime},
		{"retention.allowed_lifetime_min", r.Retention.AllowedLifetimeMin},
		{"retention.allowed_lifetime_max", r.Retention.AllowedLifetimeMax},
	} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	m := r.Retention
	if m.AllowedLifetimeMin > 0 && m.AllowedLifetimeMax > 0 && m.AllowedLifetimeMin > m.AllowedLifetimeMax {
		bad("retention.allowed_lifetime_min", "is longer than allowed_lifetime_max")
	}
	if p := m.DefaultPolicy; p.MinLifetime > 0 && p.MaxLifetime > 0 && p.MinLifetime > p.MaxLifetime {
		bad("retention.default_policy.min_lifetime", "is longer than max_lifetime")
	}
	if len(m.PurgeJobs) > 0 && !m.Enabled {
		bad("retention.purge_jobs", "need retention.enabled: true")
	}
	seen := map[[2]Duration]bool{}
	for i, j := range m.PurgeJobs {
		key := fmt.Sprintf("retention.purge_jobs[%d]", i)
		// The bounds name the job's row of retention_jobs.
		bounds := [2]Duration{j.ShortestMaxLifetime, j.LongestMaxLifetime}
		if seen[bounds] {
			bad(key, "has the same lifetimes as an earlier purge job")
		}
		seen[bounds] = true
		if j.Interval < Duration(time.Minute) {
			bad(key+".interval", "must be at least 1m")
		}
		if j.ShortestMaxLifetime < 0 || j.LongestMaxLifetime < 0 {
			bad(key, "lifetimes must not be negative")
		}
		if j.LongestMaxLifetime > 0 && j.ShortestMaxLifetime > j.LongestMaxLifetime {
			bad(key+".shortest_max_lifetime", "is longer than longest_max_lifetime")
		}
	}
	return errs
}
