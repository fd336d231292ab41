package config

import "fmt"

// DelayedEvents are the limits of delayed events (MSC4140), which
// MatrixRTC clients use to have their call membership removed when they
// vanish. Synapse's key max_event_delay_duration switches the feature on:
// unset (or zero), scheduling a delayed event is refused, as in Synapse.
type DelayedEvents struct {
	// MaxEventDelayDuration is the longest delay a client may ask for.
	MaxEventDelayDuration Duration `yaml:"max_event_delay_duration"`
	// MaxDelayedEventsPerUser bounds the delayed events a user may have
	// scheduled at once (Synapse: experimental_features.
	// msc4140_max_delayed_events_per_user, default 100); 0 refuses all.
	MaxDelayedEventsPerUser int `yaml:"max_delayed_events_per_user"`
}

// DefaultDelayedEvents is Synapse's: off until a maximum delay is set.
func DefaultDelayedEvents() DelayedEvents {
	return DelayedEvents{MaxDelayedEventsPerUser: 100}
}

// Enabled tells whether clients may schedule delayed events at all.
func (d DelayedEvents) Enabled() bool {
	return d.MaxEventDelayDuration > 0 && d.MaxDelayedEventsPerUser > 0
}

func (d DelayedEvents) validate() []error {
	var errs []error
	if d.MaxEventDelayDuration < 0 {
		errs = append(errs, fmt.Errorf("config key max_event_delay_duration: must not be negative"))
	}
	if d.MaxDelayedEventsPerUser < 0 {
		errs = append(errs, fmt.Errorf("config key max_delayed_events_per_user: must not be negative"))
	}
	return errs
}
