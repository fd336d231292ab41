package rpc

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

type fuzzRecord struct {
	User  spec.UserID
	Users []spec.UserID
	P     *string
	Raw   json.RawMessage
	M     map[string][]int64
	A     [2]bool
	PDU   gomatrixserverlib.PDU
}

// FuzzDecode feeds arbitrary bytes to the decoder: a process must never
// crash on a malformed request from the bus.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`[{"User":"@a:b","Users":["@c:d"],"P":"x","Raw":{"a":1},"M":{"k":[1]},"A":[true,false]},"s",3]`))
	f.Add([]byte(`[{"PDU":{"v":"10","j":{}}},"",0]`))
	f.Add([]byte(`[null,null,null]`))
	types := []reflect.Type{reflect.TypeFor[fuzzRecord](), reflect.TypeFor[string](), reflect.TypeFor[*int]()}
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := decodeValues(data, types)
		if err != nil {
			return
		}
		if _, err := encodeValues(vals); err != nil {
			t.Fatalf("decoded values do not encode again: %v", err)
		}
	})
}

// A json.RawMessage crosses the wire unchanged, valid JSON or not; only
// insignificant whitespace in valid JSON is dropped.
func TestRawMessageIsExact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{`[1, 2]`, `[1,2]`},
		{`"s"`, `"s"`},
		{``, ``},
		{`null`, `null`},
		{`{`, `{`},
		{`not json`, `not json`},
		{`{"rohrpost.rpc.raw":"x"}`, `{"rohrpost.rpc.raw":"x"}`},
		{"{\"rohrpost.rpc.raw\" : \"x\"}", "{\"rohrpost.rpc.raw\" : \"x\"}"},
		{`{"rohrpost.rpc.raw":"x","b":1}`, `{"rohrpost.rpc.raw":"x","b":1}`},
	}
	for _, tc := range tests {
		in := tc.in
		data, err := encodeValues([]reflect.Value{reflect.ValueOf(json.RawMessage(in))})
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		vals, err := decodeValues(data, []reflect.Type{reflect.TypeFor[json.RawMessage]()})
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := string(vals[0].Bytes()); got != tc.want {
			t.Errorf("%q came back as %q, want %q", in, got, tc.want)
		}
	}
}

// A nil RawMessage and the JSON value null stay apart, also as map values.
func TestRawNullIsNotNil(t *testing.T) {
	in := map[string]json.RawMessage{"null": json.RawMessage("null"), "nil": nil}
	data, err := encodeValues([]reflect.Value{reflect.ValueOf(in)})
	if err != nil {
		t.Fatal(err)
	}
	vals, err := decodeValues(data, []reflect.Type{reflect.TypeFor[map[string]json.RawMessage]()})
	if err != nil {
		t.Fatal(err)
	}
	out := vals[0].Interface().(map[string]json.RawMessage)
	if string(out["null"]) != "null" || out["nil"] != nil {
		t.Errorf("came back as %q", out)
	}
}
