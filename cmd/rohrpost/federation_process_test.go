package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/testca"
	"github.com/rohrpost/rohrpost/internal/testdb"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Real rohrpost processes that federate with each other on loopback, the
// way SyTest runs two servers (../shared/sytest/CONTRACT.md): each has a
// TLS listener whose address is its server name ("127.0.0.1:port"), with
// a certificate of a CA made for the test, and trusts that CA
// (tls_client.ca_file, verification on) and loopback (ip_range_blacklist:
// []). A second, plain listener serves the test's clients and the
// readiness poll of serverProcess.start.

// fedServer is one federating process.
type fedServer struct {
	*serverProcess
	name string
}

// newFedServer configures (but does not start) a server that trusts ca,
// with SQLite or, under ROHRPOST_TEST_POSTGRES, a PostgreSQL database of
// its own. Its logs stay in its directory and are printed when the test
// fails.
func newFedServer(t *testing.T, ca *testca.CA) *fedServer {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 2)
	tlsPort, plainPort := ports[0], ports[1]
	certFile, keyFile := ca.IssueFiles(t, dir)
	name := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	db := fmt.Sprintf("database:\n  type: sqlite\n  path: %s/rohrpost.db\n", dir)
	if uri := testdb.PostgresURI(); uri != "" {
		db = fmt.Sprintf("database:\n  type: postgres\n  uri: %s\n", uri)
	}
	cfg := fmt.Sprintf(`server_name: %[1]s
public_baseurl: https://%[1]s
data_dir: %[2]s
tls_certificate_path: %[3]s
tls_private_key_path: %[4]s
listeners:
  - bind_address: 127.0.0.1
    port: %[5]d
    tls: true
    resources: [client, federation]
  - bind_address: 127.0.0.1
    port: %[6]d
    resources: [client]
%[8]stls_client:
  verify: true
  ca_file: %[7]s
ip_range_blacklist: []
enable_registration: true
enable_registration_without_verification: true
rate_limiting:
  enabled: false
log_file: %[2]s/rohrpost.log
`, name, dir, certFile, keyFile, tlsPort, plainPort, ca.File, db)
	if err := os.WriteFile(filepath.Join(dir, "rohrpost.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &fedServer{serverProcess: &serverProcess{dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", plainPort)}, name: name}
	t.Cleanup(func() {
		if s.running() {
			s.kill(t)
		}
		if t.Failed() {
			s.logTail(t, 60)
		}
	})
	return s
}

// freePorts finds n distinct free ports, holding each until all are found.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// running says whether the process was started and has not exited.
func (s *fedServer) running() bool {
	return s.cmd != nil && s.cmd.ProcessState == nil
}

// logTail prints the last n lines of the server's log.
func (s *fedServer) logTail(t *testing.T, n int) {
	raw, err := os.ReadFile(filepath.Join(s.dir, "rohrpost.log"))
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	t.Logf("last lines of %s's log:\n%s", s.name, strings.Join(lines[max(0, len(lines)-n):], "\n"))
}

// roomMessage is one m.room.message of a room's timeline.
type roomMessage struct {
	eventID, sender, body string
}

// roomMessages pages through /messages from the start of what the server
// has of the room.
func roomMessages(ctx context.Context, cli *mautrix.Client, room id.RoomID) ([]roomMessage, error) {
	var out []roomMessage
	from := ""
	for {
		resp, err := cli.Messages(ctx, room, from, "", mautrix.DirectionForward, nil, 100)
		if err != nil {
			return nil, err
		}
		for _, ev := range resp.Chunk {
			if ev.Type != event.EventMessage {
				continue
			}
			body, _ := ev.Content.Raw["body"].(string)
			out = append(out, roomMessage{eventID: ev.ID.String(), sender: ev.Sender.String(), body: body})
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			return out, nil
		}
		from = resp.End
	}
}

// waitFor polls cond until it holds or the deadline passes; then the test
// fails with the last reason cond gave.
func waitFor(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var why string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var ok bool
		if ok, why = cond(); ok {
			return
		}
	}
	t.Fatalf("%s: not within %s: %s", what, within, why)
}
