package syncapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/matrix-org/gomatrixserverlib/spec"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/rohrpost/rohrpost/roomserver"
	"github.com/rohrpost/rohrpost/userapi"
	uastorage "github.com/rohrpost/rohrpost/userapi/storage"
)

// The push gateway API's POST /_matrix/push/v1/notify, one request per
// pusher. A gateway that is down is retried a few times with growing
// pauses; a push key it rejects is deleted, as the spec asks.

const (
	pushTimeout     = 10 * time.Second
	pushAttempts    = 4
	pushConcurrency = 8
	// pushQueue bounds the notifications waiting for a sender; past it
	// they are dropped (and logged) rather than held in memory.
	pushQueue = 10000
)

// notification is what one event means for one user; without an event
// it only updates the badge.
type notification struct {
	event        *roomserver.OutputEvent
	pdu          []byte
	highlight    bool
	userIsTarget bool
	oneToOne     bool
	unread       int
	naming       *roomNaming
}

type pushJob struct {
	n notification
	p uastorage.Pusher
}

// pushSender posts notifications to gateways from a few goroutines.
type pushSender struct {
	// includeContent is push.include_content: off, every push carries
	// only the event and room ids, whatever format the pusher asked for.
	includeContent bool
	client         *http.Client
	users          userapi.API
	jobs           chan pushJob
	quit           chan struct{}
}

// gatewayNeverAllowed are the addresses a gateway may not have unless
// the operator lists other ranges in push.ip_range_blacklist: none that
// is a host. A gateway on this host (Sygnal beside the server, as small
// installations run it) or the agency's network is allowed, as in
// Synapse; the request can only be a POST of JSON to the notify path.
var gatewayNeverAllowed = []string{"0.0.0.0/8", "::/128", "224.0.0.0/4", "ff00::/8"}

func newPushSender(users userapi.API, blacklist *[]string, includeContent bool, tlsCfg *tls.Config, quit chan struct{}) *pushSender {
	ranges := gatewayNeverAllowed
	if blacklist != nil {
		ranges = *blacklist
	}
	var nets []*net.IPNet
	for _, r := range ranges {
		if _, n, err := net.ParseCIDR(r); err == nil {
			nets = append(nets, n)
		}
	}
	dialer := &net.Dialer{Timeout: pushTimeout, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(host)
		for _, n := range nets {
			if ip == nil || n.Contains(ip) {
				return fmt.Errorf("push gateway address %s is not allowed", host)
			}
		}
		return nil
	}}
	ps := &pushSender{
		client: &http.Client{Timeout: pushTimeout, Transport: &http.Transport{DialContext: dialer.DialContext, Proxy: nil,
			TLSClientConfig: tlsCfg, MaxResponseHeaderBytes: 64 << 10, MaxIdleConnsPerHost: pushConcurrency}},
		users: users, jobs: make(chan pushJob, pushQueue), quit: quit, includeContent: includeContent,
	}
	for range pushConcurrency {
		go ps.run()
	}
	return ps
}

func (ps *pushSender) send(n notification, p uastorage.Pusher) {
	select {
	case ps.jobs <- pushJob{n, p}:
	default:
		slog.Warn("syncapi: push queue full, notification dropped", "user", p.UserID)
	}
}

func (ps *pushSender) run() {
	for {
		select {
		case <-ps.quit:
			return
		case job := <-ps.jobs:
			ps.deliver(job)
		}
	}
}

// deliver posts one notification, retrying a gateway that fails.
func (ps *pushSender) deliver(job pushJob) {
	body := notifyBody(job.n, job.p, ps.includeContent)
	url := gjson.Get(job.p.Data, "url").String()
	pause := time.Second
	for attempt := 1; ; attempt++ {
		rejected, err := ps.post(url, body)
		if err == nil {
			for _, key := range rejected {
				if key == job.p.PushKey {
					ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
					if err := ps.users.DeletePushKey(ctx, job.p.AppID, key); err != nil {
						slog.Warn("syncapi: delete rejected push key", "app_id", job.p.AppID, "err", err)
					}
					cancel()
				}
			}
			return
		}
		if attempt == pushAttempts {
			slog.Warn("syncapi: push gateway failed", "url", url, "user", job.p.UserID, "err", err)
			return
		}
		select {
		case <-ps.quit:
			return
		case <-time.After(pause):
		}
		pause *= 4
		if !ps.stillRegistered(job.p) {
			return
		}
	}
}

// stillRegistered tells whether the user still has the pusher: a retry
// must not reach a push key that was deleted meanwhile, or that another
// account took over (the same device, someone else logged in), with the
// first user's notification.
func (ps *pushSender) stillRegistered(p uastorage.Pusher) bool {
	user, err := spec.NewUserID(p.UserID, true)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	pushers, err := ps.users.Pushers(ctx, *user)
	if err != nil {
		slog.Warn("syncapi: pushers before a retry", "user", p.UserID, "err", err)
		return false
	}
	return slices.ContainsFunc(pushers, func(q userapi.Pusher) bool { return q.AppID == p.AppID && q.PushKey == p.PushKey })
}

// post sends the body and returns the push keys the gateway rejected.
func (ps *pushSender) post(url string, body []byte) ([]string, error) {
	resp, err := ps.client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("gateway answered %d", resp.StatusCode)
	}
	var out struct {
		Rejected []string `json:"rejected"`
	}
	_ = json.Unmarshal(data, &out)
	return out.Rejected, nil
}

// notifyBody is the request for one pusher. With the event_id_only
// format, or push.include_content off for all pushers, the event's
// type, sender, content and the room's name stay on the server; the app
// fetches the event itself.
func notifyBody(n notification, p uastorage.Pusher, includeContent bool) []byte {
	device := map[string]any{"app_id": p.AppID, "pushkey": p.PushKey, "pushkey_ts": p.CreatedTS / 1000,
		"data": json.RawMessage(gatewayData(p.Data))}
	note := map[string]any{"counts": map[string]int{"unread": n.unread}, "devices": []any{device}}
	if n.event == nil {
		body, _ := json.Marshal(map[string]any{"notification": note})
		return body
	}
	tweaks := map[string]any{"highlight": n.highlight}
	if n.highlight || n.oneToOne || n.userIsTarget || n.event.Type == "m.call.invite" {
		tweaks["sound"] = "default"
	}
	device["tweaks"] = tweaks
	note["event_id"], note["room_id"], note["prio"] = n.event.EventID, n.event.RoomID, "high"
	if includeContent && gjson.Get(p.Data, "format").String() != "event_id_only" {
		// "id" is the event id under the name gateways written against
		// Synapse's pushes read.
		note["id"] = n.event.EventID
		note["type"] = n.event.Type
		note["sender"] = n.event.Sender
		if content := gjson.GetBytes(n.pdu, "content"); content.IsObject() {
			note["content"] = json.RawMessage(content.Raw)
		}
		if n.event.Membership != "" {
			note["membership"] = n.event.Membership
		}
		if n.userIsTarget {
			note["user_is_target"] = true
		}
		if nm := n.naming; nm != nil {
			for key, v := range map[string]string{"room_name": nm.roomName, "room_alias": nm.roomAlias, "sender_display_name": nm.senderName} {
				if v != "" {
					note[key] = v
				}
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"notification": note})
	return body
}

// gatewayData is the pusher's data as the gateway gets it: all the
// client set but the URL.
func gatewayData(data string) []byte {
	out, err := sjson.Delete(data, "url")
	if err != nil || !gjson.Valid(out) {
		return []byte(`{}`)
	}
	return []byte(out)
}
