package adminapi

import (
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/adminapi/storage"
)

// A task silent for longer than any task runs was cut off by a stop and
// is shown as failed; recent or ended ones are shown as they are.
func TestInterruptedTasks(t *testing.T) {
	now := time.Now()
	old := now.Add(-roomTaskTimeout - 2*time.Minute).UnixMilli()
	recent := now.Add(-time.Minute).UnixMilli()
	tests := []struct {
		name   string
		task   storage.RoomTask
		status string
	}{
		{"running", storage.RoomTask{Status: statusShuttingDown, Updated: recent}, statusShuttingDown},
		{"purging, cut off", storage.RoomTask{Status: statusPurging, Updated: old}, statusFailed},
		{"purge history, cut off", storage.RoomTask{Status: statusActive, Updated: old}, statusFailed},
		{"complete long ago", storage.RoomTask{Status: statusComplete, Updated: old}, statusComplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := shownTask(tc.task)
			if got.Status != tc.status || (tc.status == statusFailed) != (got.Error != "") {
				t.Fatalf("%+v", got)
			}
		})
	}
}
