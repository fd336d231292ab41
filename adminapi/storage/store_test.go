package storage

import (
	"context"
	"testing"

	"github.com/rohrpost/rohrpost/internal/testdb"
)

func TestAuditLogPaging(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []AuditEntry{
		{TS: 1, Admin: "@a:x", Action: "user.modify", Target: "@u:x", Status: 200},
		{TS: 2, Admin: "@b:x", Action: "user.deactivate", Target: "@u:x", Status: 200},
		{TS: 3, Admin: "@a:x", Action: "room.delete", Target: "!r:x", Status: 404},
	} {
		if err := s.AddAudit(ctx, e); err != nil {
			t.Fatal(i, err)
		}
	}
	got, total, err := s.Audit(ctx, AuditQuery{Limit: 2})
	if err != nil || total != 3 || len(got) != 2 || got[0].Action != "room.delete" || got[0].Details != "{}" {
		t.Fatalf("newest first: %v %d %+v", err, total, got)
	}
	got, total, err = s.Audit(ctx, AuditQuery{Forward: true, Offset: 1, Limit: 5})
	if err != nil || total != 3 || len(got) != 2 || got[0].TS != 2 {
		t.Fatalf("oldest first from 1: %v %d %+v", err, total, got)
	}
	got, total, err = s.Audit(ctx, AuditQuery{Admin: "@a:x", Target: "@u:x", Limit: 5})
	if err != nil || total != 1 || len(got) != 1 || got[0].Action != "user.modify" {
		t.Fatalf("filtered: %v %d %+v", err, total, got)
	}
}
