package storage

import "context"

// ToDeviceTxn is what a /sendToDevice transaction id is unique in: the
// spec scopes it to the sending device and the endpoint, whose path names
// the event type. Messages from other servers are kept once per origin
// (UserID) and message_id (TxnID). An empty TxnID deduplicates nothing.
type ToDeviceTxn struct {
	UserID, DeviceID, EventType, TxnID string
}

// ToDeviceTxnSeen tells whether a device's transaction id was stored
// before: a retried /sendToDevice must not send to other servers again.
func (s *Store) ToDeviceTxnSeen(ctx context.Context, txn ToDeviceTxn) (bool, error) {
	if txn.TxnID == "" {
		return false, nil
	}
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM send_to_device_txns
		WHERE user_id = $1 AND device_id = $2 AND event_type = $3 AND txn_id = $4`, txn.UserID, txn.DeviceID, txn.EventType, txn.TxnID).Scan(&n)
	return n > 0, err
}
