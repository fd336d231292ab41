// Package delayedevents keeps the events clients asked to be sent later
// (MSC4140) and sends them when they are due: the MatrixRTC call
// membership that must end when a client vanishes, scheduled messages,
// self-destructing messages. It owns the delayed_events table.
//
// The events are in the database, so they outlive restarts and every
// client API process sees them; each process runs the same timer, and a
// claim on the row (Store.Claim) makes exactly one of them send each
// event. Sending goes through the caller's Send function, the normal path
// of a client's event, so the room's rules are checked when the event is
// sent, not when it was scheduled. docs/decisions/0022-delayed-events.md
// says why it is built this way.
package delayedevents
