// Package memberactions is what the server does for a local user when
// their membership changes, as Synapse does on the config's word: it
// accepts invites for them (auto_accept_invites) and forgets the rooms
// they leave (forget_rooms_on_leave). One durable consumer of the room
// event stream, shared by every process that runs it, acts on each event
// once per deployment.
package memberactions
