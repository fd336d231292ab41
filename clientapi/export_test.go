package clientapi

// SetMutualRoomsBatch makes mutual_rooms pages of n rooms until the
// returned function restores the size.
func SetMutualRoomsBatch(n int) (restore func()) {
	old := mutualRoomsBatch
	mutualRoomsBatch = n
	return func() { mutualRoomsBatch = old }
}
