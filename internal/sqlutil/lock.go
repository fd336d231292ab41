package sqlutil

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("held by another process")

// ExclusiveLock takes a lock named name on this database for as long as
// the process lives or until release is called. A component that must
// run once (the roomserver, the only writer of room events) takes it at
// start, so that a second copy started by mistake refuses to run instead
// of corrupting the rooms. The lock dies with the process, also on kill -9:
// a PostgreSQL advisory lock belongs to a session, a flock to an open file.
func (db *DB) ExclusiveLock(ctx context.Context, name string) (release func(), err error) {
	if db.Dialect == Postgres {
		conn, err := db.Read.Conn(ctx)
		if err != nil {
			return nil, err
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte("rohrpost lock " + name))
		key := int64(h.Sum64())
		var ok bool
		if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
			_ = conn.Close()
			return nil, err
		}
		if !ok {
			_ = conn.Close()
			return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
		}
		return func() {
			_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, key)
			_ = conn.Close()
		}, nil
	}
	f, err := os.OpenFile(db.path+"."+name+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", name, ErrLocked)
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}
