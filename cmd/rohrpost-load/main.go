// Command rohrpost-load measures a homeserver from the outside, as a client
// sees it: send throughput with concurrent senders in one room, and the
// delay from send to arrival at long-polling /sync receivers; then the
// time an initial /sync takes for a user in many rooms. It registers
// its own users (open registration with m.login.dummy) and talks only to
// the URL it is given, so it measures any homeserver the same way.
//
//	rohrpost-load -url http://127.0.0.1:8008 -senders 10 -receivers 20 -messages 100 -pid 1234
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8008", "homeserver base URL")
	senders := flag.Int("senders", 10, "concurrent senders in the room")
	receivers := flag.Int("receivers", 20, "long-polling /sync receivers")
	messages := flag.Int("messages", 100, "messages per sender")
	pids := flag.String("pid", "", "server process ids, comma-separated, to report their resident memory (summed for separate services)")
	initialRooms := flag.Int("initial-rooms", 100, "rooms of the user whose initial /sync is timed (0: skip)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := run(ctx, *url, *senders, *receivers, *messages, *initialRooms)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rohrpost-load:", err)
		os.Exit(1)
	}
	fmt.Printf("events sent:          %d by %d senders\n", res.sent, *senders)
	fmt.Printf("send throughput:      %.1f events/s\n", res.throughput)
	fmt.Printf("send latency:         p50 %v  p99 %v\n", res.sendP50, res.sendP99)
	fmt.Printf("delivery latency:     p50 %v  p99 %v  (%d deliveries to %d receivers)\n", res.deliverP50, res.deliverP99, res.deliveries, *receivers)
	if res.initial != nil {
		i := res.initial
		fmt.Printf("initial sync:         first %v, then p50 %v (%d rooms, %.1f KiB)\n", i.first, i.p50, i.rooms, float64(i.bytes)/1024)
	}
	if *pids != "" {
		if rss, err := totalResidentMemory(*pids); err == nil {
			fmt.Printf("server resident mem:  %.1f MiB\n", float64(rss)/(1<<20))
		}
	}
}

type result struct {
	initial                *initialResult
	sent, deliveries       int
	throughput             float64
	sendP50, sendP99       time.Duration
	deliverP50, deliverP99 time.Duration
}

func register(ctx context.Context, url, name string) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(url, "", "")
	if err != nil {
		return nil, err
	}
	localpart := fmt.Sprintf("%s_%d", name, time.Now().UnixNano())
	resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister{Username: localpart, Password: "load-test-password-123"})
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", localpart, err)
	}
	cli.UserID, cli.AccessToken = resp.UserID, resp.AccessToken
	cli.DeviceID = resp.DeviceID
	return cli, nil
}

func run(ctx context.Context, url string, nSenders, nReceivers, perSender, initialRooms int) (*result, error) {
	owner, err := register(ctx, url, "owner")
	if err != nil {
		return nil, err
	}
	created, err := owner.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", Name: "load"})
	if err != nil {
		return nil, fmt.Errorf("create room: %w", err)
	}
	room := created.RoomID
	join := func(name string) (*mautrix.Client, error) {
		cli, err := register(ctx, url, name)
		if err != nil {
			return nil, err
		}
		if _, err := cli.JoinRoomByID(ctx, room); err != nil {
			return nil, fmt.Errorf("join: %w", err)
		}
		return cli, nil
	}
	var senders, receivers []*mautrix.Client
	for i := 0; i < nSenders; i++ {
		cli, err := join("sender")
		if err != nil {
			return nil, err
		}
		senders = append(senders, cli)
	}
	for i := 0; i < nReceivers; i++ {
		cli, err := join("receiver")
		if err != nil {
			return nil, err
		}
		receivers = append(receivers, cli)
	}

	total := nSenders * perSender
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var deliveries []time.Duration

	// Receivers: sync once to get a token, then long-poll and record when
	// each load message arrives.
	recvCtx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	var recvWG, ready sync.WaitGroup
	for _, cli := range receivers {
		recvWG.Add(1)
		ready.Add(1)
		go func(cli *mautrix.Client) {
			defer recvWG.Done()
			resp, err := cli.SyncRequest(recvCtx, 0, "", "", false, "")
			ready.Done()
			if err != nil {
				return
			}
			since, seen := resp.NextBatch, 0
			for seen < total && recvCtx.Err() == nil {
				resp, err := cli.SyncRequest(recvCtx, 30000, since, timelineFilter, false, "")
				if err != nil {
					return
				}
				now := time.Now()
				since = resp.NextBatch
				jr, ok := resp.Rooms.Join[room]
				if !ok {
					continue
				}
				for _, ev := range jr.Timeline.Events {
					if ev.Type != event.EventMessage {
						continue
					}
					_ = ev.Content.ParseRaw(ev.Type)
					body := ev.Content.AsMessage().Body
					if !strings.HasPrefix(body, "load ") {
						continue
					}
					seen++
					mu.Lock()
					if t0, ok := sentAt[body]; ok {
						deliveries = append(deliveries, now.Sub(t0))
					}
					mu.Unlock()
				}
			}
		}(cli)
	}
	ready.Wait()
	time.Sleep(200 * time.Millisecond) // let the long polls park

	var sendWG sync.WaitGroup
	sendLat := make([]time.Duration, 0, total)
	errs := make(chan error, nSenders)
	start := time.Now()
	for si, cli := range senders {
		sendWG.Add(1)
		go func(si int, cli *mautrix.Client) {
			defer sendWG.Done()
			for i := 0; i < perSender; i++ {
				body := "load " + strconv.Itoa(si) + " " + strconv.Itoa(i)
				t0 := time.Now()
				mu.Lock()
				sentAt[body] = t0
				mu.Unlock()
				if _, err := cli.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.text", "body": body}); err != nil {
					errs <- fmt.Errorf("send: %w", err)
					return
				}
				mu.Lock()
				sendLat = append(sendLat, time.Since(t0))
				mu.Unlock()
			}
		}(si, cli)
	}
	sendWG.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return nil, err
	}
	waitDone := make(chan struct{})
	go func() { recvWG.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		stopRecv()
		<-waitDone
	}
	res := &result{sent: total, throughput: float64(total) / elapsed.Seconds(), deliveries: len(deliveries)}
	res.sendP50, res.sendP99 = percentiles(sendLat)
	res.deliverP50, res.deliverP99 = percentiles(deliveries)
	if len(deliveries) < total*nReceivers {
		return res, fmt.Errorf("only %d of %d deliveries arrived", len(deliveries), total*nReceivers)
	}
	if initialRooms > 0 {
		if res.initial, err = timeInitialSync(ctx, url, owner, senders, initialRooms); err != nil {
			return res, err
		}
	}
	return res, nil
}

// timelineFilter keeps a busy receiver from getting a limited timeline
// (which would skip events it then never counts).
const timelineFilter = `{"room":{"timeline":{"limit":1000}}}`

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

// totalResidentMemory sums residentMemory over a comma-separated list.
func totalResidentMemory(pids string) (int64, error) {
	var total int64
	for _, f := range strings.Split(pids, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return 0, fmt.Errorf("pid %q: %w", f, err)
		}
		rss, err := residentMemory(pid)
		if err != nil {
			return 0, err
		}
		total += rss
	}
	return total, nil
}

// residentMemory reads VmRSS of a process, in bytes.
func residentMemory(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
