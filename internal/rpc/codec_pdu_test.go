package rpc

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/matrix-org/gomatrixserverlib"
)

// A PDU passed as a plain argument (its dynamic type a concrete event)
// arrives as the PDU the method takes.
func TestConcretePDUArgumentTravelsAsPDU(t *testing.T) {
	verImpl := gomatrixserverlib.MustGetRoomVersion(gomatrixserverlib.RoomVersionV10)
	pdu, err := verImpl.NewEventFromTrustedJSON([]byte(`{"type":"m.room.message","room_id":"!r:x","sender":"@a:x","content":{"body":"hi"},"depth":1,"origin_server_ts":1,"prev_events":[],"auth_events":[],"hashes":{"sha256":"x"},"signatures":{}}`), false)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := toWire(reflect.ValueOf(any(pdu)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(wire)
	if err != nil {
		t.Fatal(err)
	}
	back, err := fromWire(raw, reflect.TypeFor[gomatrixserverlib.PDU]())
	if err != nil {
		t.Fatalf("decode as PDU: %v (wire %s)", err, raw)
	}
	if got := back.Interface().(gomatrixserverlib.PDU); got.EventID() != pdu.EventID() || got.Version() != gomatrixserverlib.RoomVersionV10 {
		t.Errorf("got %s in %q", got.EventID(), got.Version())
	}
}
