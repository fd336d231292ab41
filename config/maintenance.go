package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// The document at /_matrix/cmaintenance is the apps' own format: a JSON
// object whose lists hold maintenance windows and ad-hoc messages, and
// whose "versions" gate old app versions. Keys the server does not know
// are served as written; the parts it knows must be well-formed, so that
// an app never gets a window it cannot read.

// MaintenanceWindow is one entry of a list in the maintenance document.
type MaintenanceWindow struct {
	WarningStartTime *string `json:"warning_start_time"`
	StartTime        *string `json:"start_time"`
	EndTime          *string `json:"end_time"`
	Type             string  `json:"type"`
	Description      *string `json:"description"`
	Blocking         *bool   `json:"blocking"`
}

// VersionGate is versions.ios or versions.android: app versions before
// update_before must update, those before warn_before are told to.
type VersionGate struct {
	UpdateBefore *string `json:"update_before"`
	WarnBefore   *string `json:"warn_before"`
}

// ValidateMaintenanceFile reads and checks a maintenance document.
func ValidateMaintenanceFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := ValidateMaintenance(raw); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ValidateMaintenance checks a maintenance document; the error names the
// first bad part.
func ValidateMaintenance(raw []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return errors.New("not a JSON object")
	}
	for key, v := range doc {
		if key == "versions" {
			if err := validateVersions(v); err != nil {
				return fmt.Errorf("versions: %w", err)
			}
			continue
		}
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil {
			continue // not a list of windows: served as written
		}
		for i, item := range list {
			if err := validateWindow(item); err != nil {
				return fmt.Errorf("%s[%d]: %w", key, i, err)
			}
		}
	}
	return nil
}

func validateWindow(raw json.RawMessage) error {
	var w MaintenanceWindow
	if err := json.Unmarshal(raw, &w); err != nil {
		return fmt.Errorf("not a maintenance window: %w", err)
	}
	if w.Type != "MAINTENANCE" && w.Type != "ADHOC_MESSAGE" {
		return fmt.Errorf("type %q is neither MAINTENANCE nor ADHOC_MESSAGE", w.Type)
	}
	times := map[string]time.Time{}
	for name, v := range map[string]*string{"warning_start_time": w.WarningStartTime, "start_time": w.StartTime, "end_time": w.EndTime} {
		if v == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339, *v)
		if err != nil {
			return fmt.Errorf("%s %q is not an RFC 3339 time (like 2026-01-31T22:00:00Z)", name, *v)
		}
		times[name] = t
	}
	start, hasStart := times["start_time"]
	if end, ok := times["end_time"]; ok && hasStart && end.Before(start) {
		return errors.New("end_time is before start_time")
	}
	if warn, ok := times["warning_start_time"]; ok && hasStart && warn.After(start) {
		return errors.New("warning_start_time is after start_time")
	}
	return nil
}

func validateVersions(raw json.RawMessage) error {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil {
		return errors.New("not an object")
	}
	for platform, gate := range v {
		var g VersionGate
		if err := json.Unmarshal(gate, &g); err != nil {
			return fmt.Errorf("%s: needs update_before and warn_before as strings: %w", platform, err)
		}
	}
	return nil
}
