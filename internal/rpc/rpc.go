package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rohrpost/rohrpost/internal/mxhttp"
)

// DefaultTimeout bounds a call whose context has no deadline.
const DefaultTimeout = 30 * time.Second

// Subject is where a service's method is served.
func Subject(service, method string) string {
	return "rohrpost.rpc." + service + "." + method
}

var contextType = reflect.TypeFor[context.Context]()
var errorType = reflect.TypeFor[error]()

// Server serves one component's API over NATS.
type Server struct {
	svc micro.Service
}

// Serve exposes every method of api's interface type I on NATS request/reply.
// Replicas of a service form one queue group, so each call reaches one of
// them. Each method must take a context first and return an error last.
// sentinels are the errors callers test with errors.Is; they cross the wire
// by their text.
func Serve[I any](nc *nats.Conn, service string, impl I, sentinels []error) (*Server, error) {
	it := reflect.TypeFor[I]()
	if it.Kind() != reflect.Interface {
		return nil, fmt.Errorf("rpc: %s is not an interface", it)
	}
	svc, err := micro.AddService(nc, micro.Config{Name: service, Version: "1.0.0", QueueGroup: service})
	if err != nil {
		return nil, fmt.Errorf("rpc: add service %s: %w", service, err)
	}
	v := reflect.ValueOf(impl)
	for i := range it.NumMethod() {
		m := it.Method(i)
		if err := checkSignature(m.Type); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("rpc: %s.%s: %w", service, m.Name, err)
		}
		h := &method{name: m.Name, fn: v.MethodByName(m.Name), sentinels: sentinels}
		if err := svc.AddEndpoint(m.Name, h, micro.WithEndpointSubject(Subject(service, m.Name))); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("rpc: endpoint %s.%s: %w", service, m.Name, err)
		}
	}
	return &Server{svc: svc}, nil
}

// Stop stops serving; calls in flight finish.
func (s *Server) Stop() error { return s.svc.Stop() }

func checkSignature(t reflect.Type) error {
	if t.NumIn() == 0 || t.In(0) != contextType {
		return errors.New("first parameter must be context.Context")
	}
	if t.NumOut() == 0 || t.Out(t.NumOut()-1) != errorType {
		return errors.New("last result must be error")
	}
	return nil
}

type method struct {
	name      string
	fn        reflect.Value
	sentinels []error
}

// reply is a call's outcome on the wire.
type reply struct {
	Results json.RawMessage `json:"r,omitempty"`
	Error   *wireError      `json:"e,omitempty"`
}

// Handle runs each call in its own goroutine: micro delivers an endpoint's
// requests one after another, and a slow call must not hold up the rest.
func (m *method) Handle(req micro.Request) {
	go m.serve(req)
}

func (m *method) serve(req micro.Request) {
	out := m.call(req)
	data, err := json.Marshal(out)
	if err != nil {
		data, _ = json.Marshal(reply{Error: &wireError{Message: "rpc: encode reply: " + err.Error()}})
	}
	if err := req.Respond(data); err != nil {
		slog.Warn("rpc: respond", "method", m.name, "err", err)
	}
}

func (m *method) call(req micro.Request) (out reply) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("rpc: panic", "method", m.name, "panic", p, "stack", string(debug.Stack()))
			out = reply{Error: &wireError{Message: fmt.Sprintf("rpc: %s panicked", m.name)}}
		}
	}()
	t := m.fn.Type()
	in := make([]reflect.Type, t.NumIn()-1)
	for i := range in {
		in[i] = t.In(i + 1)
	}
	args, err := decodeValues(req.Data(), in)
	if err != nil {
		return reply{Error: &wireError{Message: "rpc: decode arguments: " + err.Error()}}
	}
	ctx := context.Background()
	if d := req.Headers().Get(deadlineHeader); d != "" {
		if at, err := time.Parse(time.RFC3339Nano, d); err == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, at)
			defer cancel()
		}
	}
	results := m.fn.Call(append([]reflect.Value{reflect.ValueOf(ctx)}, args...))
	if errV := results[len(results)-1]; !errV.IsNil() {
		return reply{Error: encodeError(errV.Interface().(error), m.sentinels)}
	}
	data, err := encodeValues(results[:len(results)-1])
	if err != nil {
		return reply{Error: &wireError{Message: "rpc: encode results: " + err.Error()}}
	}
	return reply{Results: data}
}

const deadlineHeader = "Rohrpost-Deadline"

// Client calls one service's methods.
type Client struct {
	nc        *nats.Conn
	service   string
	sentinels []error
}

// NewClient calls service over nc; sentinels must match the server's.
func NewClient(nc *nats.Conn, service string, sentinels []error) *Client {
	return &Client{nc: nc, service: service, sentinels: sentinels}
}

// Call invokes method with args and decodes its results into the values
// results point to.
func (c *Client) Call(ctx context.Context, method string, args []any, results ...any) error {
	vs := make([]reflect.Value, len(args))
	for i, a := range args {
		vs[i] = reflect.ValueOf(a)
		if !vs[i].IsValid() {
			vs[i] = reflect.ValueOf((*struct{})(nil))
		}
	}
	data, err := encodeValues(vs)
	if err != nil {
		return fmt.Errorf("rpc: encode %s.%s: %w", c.service, method, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	msg := nats.NewMsg(Subject(c.service, method))
	msg.Data = data
	msg.Header.Set(deadlineHeader, deadline.UTC().Format(time.RFC3339Nano))
	resp, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		slog.Warn("rpc: call failed", "service", c.service, "method", method, "err", err)
		return unavailable(c.service)
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		return fmt.Errorf("rpc: %s.%s: %s %s", c.service, method, code, resp.Header.Get(micro.ErrorHeader))
	}
	var out reply
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return fmt.Errorf("rpc: %s.%s: bad reply: %w", c.service, method, err)
	}
	if out.Error != nil {
		return out.Error.decode(c.sentinels)
	}
	types := make([]reflect.Type, len(results))
	for i, r := range results {
		types[i] = reflect.TypeOf(r).Elem()
	}
	vals, err := decodeValues(out.Results, types)
	if err != nil {
		return fmt.Errorf("rpc: %s.%s: decode results: %w", c.service, method, err)
	}
	for i, r := range results {
		reflect.ValueOf(r).Elem().Set(vals[i])
	}
	return nil
}

// unavailable is what a caller sees when no process of a service answers:
// a retryable 503, never a 500.
func unavailable(service string) error {
	return &mxhttp.Error{Status: http.StatusServiceUnavailable, Code: "M_UNKNOWN",
		Msg: "The " + service + " is unavailable, try again"}
}
