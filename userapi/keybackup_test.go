package userapi

import (
	"testing"

	"github.com/rohrpost/rohrpost/userapi/storage"
)

func TestBetterBackupKey(t *testing.T) {
	k := func(verified bool, index, forwarded int64) storage.BackupKey {
		return storage.BackupKey{IsVerified: verified, FirstMessageIndex: index, ForwardedCount: forwarded}
	}
	tests := []struct {
		name     string
		old, new storage.BackupKey
		want     bool
	}{
		{"verified beats unverified", k(false, 0, 0), k(true, 9, 9), true},
		{"unverified never replaces verified", k(true, 9, 9), k(false, 0, 0), false},
		{"lower first index", k(false, 5, 0), k(false, 2, 3), true},
		{"higher first index", k(false, 2, 0), k(false, 5, 0), false},
		{"same index, fewer forwards", k(true, 2, 3), k(true, 2, 1), true},
		{"same index, more forwards", k(true, 2, 1), k(true, 2, 3), false},
		{"equal keeps the old", k(false, 1, 1), k(false, 1, 1), false},
		{"the index outweighs the forwards", k(false, 3, 0), k(false, 2, 9), true},
		{"verification outweighs both", k(false, 0, 0), k(true, 0, 1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := betterBackupKey(tc.old, tc.new); got != tc.want {
				t.Fatalf("replaces: %v, want %v", got, tc.want)
			}
		})
	}
}
