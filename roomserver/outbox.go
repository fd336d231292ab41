package roomserver

import "database/sql"

// Outbox is told of a batch's events inside the transaction that stores
// them, and again after it committed. The federation send queue is the
// one outbox (docs/decisions/0011): its rows for our events are written
// in the roomserver's own commit, so a federated message costs no second
// commit before it can be sent, and no event can be stored without being
// queued.
type Outbox interface {
	// Record writes, in tx, what the outputs need; it sets Queued on each
	// output it took care of, so that the bus's consumers leave those
	// alone. An error fails the batch's commit.
	Record(tx *sql.Tx, outputs []OutputEvent) error
	// Committed is told of the same outputs once they are committed.
	// It must not block.
	Committed(outputs []OutputEvent)
}
