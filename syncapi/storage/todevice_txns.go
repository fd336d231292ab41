package storage

import "context"

// ToDeviceTxnSeen tells whether a session's transaction id was stored
// before: a retried /sendToDevice must not send to other servers again.
func (s *Store) ToDeviceTxnSeen(ctx context.Context, session int64, txnID string) (bool, error) {
	if txnID == "" {
		return false, nil
	}
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM to_device_txns WHERE session_id = $1 AND txn_id = $2`, session, txnID).Scan(&n)
	return n > 0, err
}
