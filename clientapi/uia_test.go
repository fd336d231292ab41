package clientapi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

func TestUIASessions(t *testing.T) {
	alice := spec.NewUserIDOrPanic("@alice:test", false)
	bob := spec.NewUserIDOrPanic("@bob:test", false)
	op := uiaOp{name: "POST /x", user: &alice, flows: [][]string{{stageDummy, stagePassword}, {"m.login.other"}}}
	ctx := context.Background()
	u, err := newUIASessions(ctx, testBus(t))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := u.session(ctx, "", op)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := u.session(ctx, "", op)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.update(ctx, expired, func(s *uiaSession) { s.Created = time.Now().Add(-2 * uiaLifetime) }); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		id   string
		op   uiaOp
		code string
	}{
		{"same op", sess.ID, op, ""},
		{"other op", sess.ID, uiaOp{name: "POST /y", user: &alice}, "M_FORBIDDEN"},
		{"other user", sess.ID, uiaOp{name: "POST /x", user: &bob}, "M_FORBIDDEN"},
		{"no user", sess.ID, uiaOp{name: "POST /x"}, "M_FORBIDDEN"},
		{"unknown", "nope", op, "M_UNKNOWN"},
		{"not a session id", "a.b>*", op, "M_UNKNOWN"},
		{"expired", expired.ID, op, "M_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := u.session(ctx, tc.id, tc.op)
			var mx *mxhttp.Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.code != "" && (!errors.As(err, &mx) || mx.Code != tc.code):
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}

	// Stages count once; a flow is done when all of its stages are.
	steps := []struct {
		stage string
		done  bool
		n     int
	}{
		{"", false, 0},
		{stageDummy, false, 1},
		{stageDummy, false, 1},
		{stagePassword, true, 2},
	}
	for _, st := range steps {
		done, completed, err := u.complete(ctx, sess, st.stage, op.flows)
		if err != nil || done != st.done || len(completed) != st.n {
			t.Errorf("after %q: done %v, completed %v, err %v", st.stage, done, completed, err)
		}
	}
	// Another replica reading the session sees the same progress.
	again, err := u.session(ctx, sess.ID, op)
	if err != nil || len(again.Completed) != 2 {
		t.Errorf("stored session %+v, err %v", again, err)
	}
}
