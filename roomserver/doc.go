// Package roomserver owns the room DAG. It is the only writer of room
// events: it builds and signs local events, authorises every event against
// the room state with gomatrixserverlib, stores events and state snapshots,
// advances forward extremities and current state, and publishes each
// accepted event on the bus. Local and remote events take the same input
// path (input.go).
package roomserver
