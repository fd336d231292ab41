package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
)

// The wire format is JSON built by walking values with reflection rather
// than with encoding/json alone: API types hold values such as
// spec.UserID (unexported fields, no JSON methods) or interfaces such as
// gomatrixserverlib.PDU that encoding/json cannot round-trip. Structs are
// encoded by Go field name, so a type needs no tags to cross a process
// boundary, and its JSON tags (which describe the client-facing shape) are
// left alone.

// Codec turns one type into a JSON-friendly value and back.
type codec struct {
	encode func(v reflect.Value) (any, error)
	decode func(raw json.RawMessage) (reflect.Value, error)
}

var (
	codecsMu sync.RWMutex
	codecs   = map[reflect.Type]codec{}
)

// RegisterType teaches the wire format a type it cannot walk by itself.
func RegisterType[T any](encode func(T) (any, error), decode func(json.RawMessage) (T, error)) {
	t := reflect.TypeFor[T]()
	codecsMu.Lock()
	defer codecsMu.Unlock()
	codecs[t] = codec{
		encode: func(v reflect.Value) (any, error) {
			if (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) && v.IsNil() {
				return nil, nil
			}
			return encode(v.Interface().(T))
		},
		decode: func(raw json.RawMessage) (reflect.Value, error) {
			x, err := decode(raw)
			if err != nil {
				return reflect.Value{}, err
			}
			out := reflect.New(t).Elem()
			out.Set(reflect.ValueOf(&x).Elem())
			return out, nil
		},
	}
}

// codecFor finds the codec of a type, or of an interface it implements:
// an argument passed as a concrete event (an "any" holding *eventV2) must
// travel as the gomatrixserverlib.PDU the receiving side decodes.
func codecFor(t reflect.Type) (codec, bool) {
	codecsMu.RLock()
	defer codecsMu.RUnlock()
	if c, ok := codecs[t]; ok {
		return c, true
	}
	if t.Kind() == reflect.Interface {
		return codec{}, false
	}
	if found, ok := implementers.Load(t); ok {
		c := found.(*codec)
		return derefCodec(c)
	}
	var match *codec
	for it, c := range codecs {
		if it.Kind() == reflect.Interface && t.Implements(it) {
			match = &c
			break
		}
	}
	implementers.Store(t, match)
	return derefCodec(match)
}

// implementers remembers, per concrete type, the interface codec it
// uses (nil for none), so that the search runs once per type.
var implementers sync.Map

func derefCodec(c *codec) (codec, bool) {
	if c == nil {
		return codec{}, false
	}
	return *c, true
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	unmarshalType  = reflect.TypeFor[json.Unmarshaler]()
)

// toWire converts v into something encoding/json marshals faithfully.
func toWire(v reflect.Value) (any, error) {
	t := v.Type()
	if c, ok := codecFor(t); ok {
		return c.encode(v)
	}
	if t == rawMessageType {
		if v.IsNil() {
			return nil, nil
		}
		return encodeRaw(v.Bytes()), nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return toWire(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return nil, fmt.Errorf("rpc: cannot encode interface %s without a registered codec", t)
	case reflect.Struct:
		if t.Implements(marshalerType) {
			return v.Interface(), nil
		}
		m := make(map[string]any, t.NumField())
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			x, err := toWire(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
			}
			m[f.Name] = x
		}
		return m, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return v.Bytes(), nil
		}
		fallthrough
	case reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			x, err := toWire(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("rpc: map key %s is not a string", t.Key())
		}
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			x, err := toWire(it.Value())
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = x
		}
		return out, nil
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return nil, fmt.Errorf("rpc: cannot encode %s", t)
	default:
		return v.Interface(), nil
	}
}

// fromWire decodes raw into a new value of type t.
func fromWire(raw json.RawMessage, t reflect.Type) (reflect.Value, error) {
	if c, ok := codecFor(t); ok {
		if isNull(raw) {
			return reflect.Zero(t), nil
		}
		return c.decode(raw)
	}
	out := reflect.New(t).Elem()
	if isNull(raw) {
		return out, nil
	}
	if t == rawMessageType {
		b, err := decodeRaw(raw)
		if err != nil {
			return out, err
		}
		out.SetBytes(b)
		return out, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		elem, err := fromWire(raw, t.Elem())
		if err != nil {
			return out, err
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(elem)
		return p, nil
	case reflect.Interface:
		return out, fmt.Errorf("rpc: cannot decode interface %s without a registered codec", t)
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(unmarshalType) {
			err := json.Unmarshal(raw, out.Addr().Interface())
			return out, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return out, err
		}
		for name, fraw := range fields {
			f, ok := t.FieldByName(name)
			if !ok || !f.IsExported() || len(f.Index) != 1 {
				continue
			}
			x, err := fromWire(fraw, f.Type)
			if err != nil {
				return out, fmt.Errorf("%s.%s: %w", t.Name(), name, err)
			}
			out.Field(f.Index[0]).Set(x)
		}
		return out, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			err := json.Unmarshal(raw, out.Addr().Interface())
			return out, err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return out, err
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, item := range items {
			x, err := fromWire(item, t.Elem())
			if err != nil {
				return out, err
			}
			s.Index(i).Set(x)
		}
		return s, nil
	case reflect.Array:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return out, err
		}
		if len(items) != t.Len() {
			return out, fmt.Errorf("rpc: array of %d, want %d", len(items), t.Len())
		}
		for i, item := range items {
			x, err := fromWire(item, t.Elem())
			if err != nil {
				return out, err
			}
			out.Index(i).Set(x)
		}
		return out, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return out, fmt.Errorf("rpc: map key %s is not a string", t.Key())
		}
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return out, err
		}
		m := reflect.MakeMapWithSize(t, len(items))
		for k, item := range items {
			x, err := fromWire(item, t.Elem())
			if err != nil {
				return out, err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), x)
		}
		return m, nil
	default:
		err := json.Unmarshal(raw, out.Addr().Interface())
		return out, err
	}
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// encodeValues marshals a list of values (arguments or results).
func encodeValues(vs []reflect.Value) ([]byte, error) {
	items := make([]any, len(vs))
	for i, v := range vs {
		x, err := toWire(v)
		if err != nil {
			return nil, err
		}
		items[i] = x
	}
	return json.Marshal(items)
}

// decodeValues unmarshals a list made by encodeValues into values of the
// given types.
func decodeValues(data []byte, types []reflect.Type) ([]reflect.Value, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return nil, err
	}
	if len(items) != len(types) {
		return nil, fmt.Errorf("rpc: %d values, want %d", len(items), len(types))
	}
	out := make([]reflect.Value, len(types))
	for i, t := range types {
		v, err := fromWire(items[i], t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// rawMarker wraps a json.RawMessage that is not valid JSON (a client's
// broken filter, on its way to the component that rejects it), which
// could not be embedded as it is. A valid value that happens to look like
// the wrapper is wrapped too, so decoding is exact, and so is the JSON
// value null (a profile field set to null), which would otherwise come
// back as a nil RawMessage.
const rawMarker = "rohrpost.rpc.raw"

type wrappedRaw struct {
	Raw string `json:"rohrpost.rpc.raw"`
}

func encodeRaw(b []byte) any {
	if json.Valid(b) && !isWrapped(b) && string(b) != "null" {
		return json.RawMessage(b)
	}
	return wrappedRaw{Raw: string(b)}
}

func decodeRaw(raw json.RawMessage) ([]byte, error) {
	if isWrapped(raw) {
		var w wrappedRaw
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, err
		}
		return []byte(w.Raw), nil
	}
	return append([]byte(nil), raw...), nil
}

// isWrapped tells whether b is an object whose only key is rawMarker.
func isWrapped(b []byte) bool {
	if !bytes.Contains(b, []byte(rawMarker)) {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil || len(m) != 1 {
		return false
	}
	_, ok := m[rawMarker]
	return ok
}
