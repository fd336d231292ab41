package clientapi

import (
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
	u := newUIASessions()
	sess, err := u.session("", op)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := u.session("", op)
	if err != nil {
		t.Fatal(err)
	}
	expired.created = time.Now().Add(-2 * uiaLifetime)

	tests := []struct {
		name string
		id   string
		op   uiaOp
		code string
	}{
		{"same op", sess.id, op, ""},
		{"other op", sess.id, uiaOp{name: "POST /y", user: &alice}, "M_FORBIDDEN"},
		{"other user", sess.id, uiaOp{name: "POST /x", user: &bob}, "M_FORBIDDEN"},
		{"no user", sess.id, uiaOp{name: "POST /x"}, "M_FORBIDDEN"},
		{"unknown", "nope", op, "M_UNKNOWN"},
		{"expired", expired.id, op, "M_UNKNOWN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := u.session(tc.id, tc.op)
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
		done, completed := u.complete(sess, st.stage, op.flows)
		if done != st.done || len(completed) != st.n {
			t.Errorf("after %q: done %v, completed %v", st.stage, done, completed)
		}
	}

	u.sweep(time.Now(), true)
	if _, ok := u.sessions[expired.id]; ok {
		t.Error("expired session survived a sweep")
	}
	if _, ok := u.sessions[sess.id]; !ok {
		t.Error("live session swept")
	}
}
