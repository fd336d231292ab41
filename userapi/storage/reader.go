package storage

import (
	"context"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
)

// Reader is the read-only view of the userapi's tables that the sync API
// gets to read account data, devices, keys and pushers directly
// (decision 0001): the queries it uses and none of the writes, which are
// the userapi's alone.
type Reader interface {
	AccountData(ctx context.Context, userID, roomID, dataType string) ([]byte, error)
	AccountDataOfRooms(ctx context.Context, userID string, roomIDs []string, to int64) ([]AccountData, error)
	AccountDataPosition(ctx context.Context) (int64, error)
	AccountDataSince(ctx context.Context, userID string, from, to int64) ([]AccountData, error)
	DehydratedDevice(ctx context.Context, userID string) (*DehydratedDevice, error)
	DeviceIDsOf(ctx context.Context, users []string) (map[string][]string, error)
	ErasedUsers(ctx context.Context) ([]string, error)
	GlobalAccountData(ctx context.Context, userID string, types []string) (map[string][]byte, error)
	KeyChangePosition(ctx context.Context) (int64, error)
	KeyChangesBetween(ctx context.Context, viewer string, from, to int64) ([]string, error)
	OneTimeKeyCounts(ctx context.Context, userID, deviceID string) (map[string]int, error)
	Pushers(ctx context.Context, userIDs ...string) ([]Pusher, error)
	PushersInRoom(ctx context.Context, roomNID int64) ([]Pusher, int, error)
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)
	// The admin API's user list (admin.go, decision 0020).
	ListUsers(ctx context.Context, q UserListQuery) ([]UserListEntry, int, error)
	AdminUser(ctx context.Context, userID string) (*UserListEntry, error)
	// The admin API's event reports (reports.go).
	EventReports(ctx context.Context, q EventReportQuery) ([]Report, int, error)
	EventReport(ctx context.Context, id int64) (*Report, error)
	// The admin API's user reports (user_reports.go).
	UserReports(ctx context.Context, q UserReportQuery) ([]Report, int, error)
	UserReport(ctx context.Context, id int64) (*Report, error)
	// Registration tokens (registration_tokens.go).
	RegistrationTokens(ctx context.Context, valid *bool, now int64) ([]RegistrationToken, error)
	RegistrationToken(ctx context.Context, token string, now int64) (*RegistrationToken, error)
}

var _ Reader = (*Store)(nil)

// OpenReader returns a Reader. It never migrates: the userapi owns the
// tables and alone changes their schema. It fails, saying so, when the
// database lacks a migration this code expects (the userapi of this
// version has not run yet); see docs/deploy.md, "Upgrading".
func OpenReader(ctx context.Context, db *sqlutil.DB) (Reader, error) {
	if err := db.CheckMigrated(ctx, "userapi", migrations, "migrations"); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}
