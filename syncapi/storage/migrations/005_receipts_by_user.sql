-- Push badges read all of one user's read receipts at once.
CREATE INDEX receipts_user ON receipts (user_id, room_id);
