package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a span of time written as Go writes one ("1h", "90s"), as
// Synapse's configs do (a number of milliseconds, or a whole number with
// one of Synapse's longer units: "90d", "4w", "1y"), where a year is 365
// days.
type Duration time.Duration

// longUnits are Synapse's units that Go's time.ParseDuration lacks.
var longUnits = map[byte]time.Duration{
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
	'y': 365 * 24 * time.Hour,
}

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a duration in the config's syntax.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(ms) * time.Millisecond, nil
	}
	if len(s) > 1 {
		if unit, ok := longUnits[s[len(s)-1]]; ok {
			num, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
			if err != nil || num < 0 || num > int64(1<<62)/int64(unit) {
				return 0, fmt.Errorf("%q is not a duration (like 1h, 30m or 90d)", s)
			}
			return time.Duration(num) * unit, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 1h, 30m or 90d)", s)
	}
	return v, nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }
