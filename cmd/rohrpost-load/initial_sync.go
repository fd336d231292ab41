package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

// Messages each room of the initial-sync user gets, and how often the
// sync is repeated once the server has seen it.
const (
	initialMessagesPerRoom = 10
	initialRepeats         = 5
)

type initialResult struct {
	rooms      int
	first, p50 time.Duration
	bytes      int
}

// timeInitialSync puts owner in nRooms more rooms, each with up to three
// other members and a few messages, and times owner's initial /sync with
// no filter: what a client does on its first start. The first call is
// reported apart, since caches make the later ones cheaper.
func timeInitialSync(ctx context.Context, url string, owner *mautrix.Client, others []*mautrix.Client, nRooms int) (*initialResult, error) {
	for r := 0; r < nRooms; r++ {
		created, err := owner.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: fmt.Sprintf("room %d", r)})
		if err != nil {
			return nil, fmt.Errorf("create room: %w", err)
		}
		for i := 0; i < min(3, len(others)); i++ {
			if _, err := others[(r+i)%len(others)].JoinRoomByID(ctx, created.RoomID); err != nil {
				return nil, fmt.Errorf("join: %w", err)
			}
		}
		for m := 0; m < initialMessagesPerRoom; m++ {
			if _, err := owner.SendMessageEvent(ctx, created.RoomID, event.EventMessage, map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("history %d", m)}); err != nil {
				return nil, fmt.Errorf("send: %w", err)
			}
		}
	}
	res := &initialResult{rooms: nRooms + 1}
	var times []time.Duration
	for i := 0; i <= initialRepeats; i++ {
		took, n, err := initialSync(ctx, url, owner.AccessToken)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			res.first, res.bytes = took, n
			continue
		}
		times = append(times, took)
	}
	res.p50, _ = percentiles(times)
	return res, nil
}

// initialSync times one /sync without a since token, up to the last byte
// of the answer.
func initialSync(ctx context.Context, url, token string) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/_matrix/client/v3/sync", nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("initial sync: %s", resp.Status)
	}
	return took, int(n), nil
}
