package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/testdb"
	"maunium.net/go/mautrix"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFirstMinutes is the README's first part: a server on a config
// with nothing about registration (no shared secret, no open
// registration) says at its first start how to make the first admin;
// register-user, run as it says, makes one and a plain user (password
// asked on stdin), and both log in; only the admin may use the admin API.
func TestFirstMinutes(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	db := "database:\n  type: sqlite\n"
	if uri := testdb.PostgresURI(); uri != "" {
		db = fmt.Sprintf("database:\n  type: postgres\n  uri: %s\n", uri)
	}
	cfgPath := filepath.Join(dir, "rohrpost.yaml")
	cfg := fmt.Sprintf("server_name: localhost\nlisteners:\n  - bind_address: 127.0.0.1\n    port: %d\n    resources: [client, federation, media]\n%s", port, db)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var stderr lockedBuffer
	cmd := exec.Command(binary, "--config", cfgPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "register-user") {
		if time.Now().After(deadline) {
			t.Fatalf("no hint how to make the first admin; output:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := "rohrpost register-user --admin --config " + cfgPath; !strings.Contains(stderr.String(), want) {
		t.Fatalf("the hint does not say %q:\n%s", want, stderr.String())
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		admin       bool
	}{
		{"admin, password asked", "first admin pw\n", []string{"--admin", "--user", "alice"}, true},
		{"user, name and password asked", "bob\nbobs pw\n", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			args := append([]string{"register-user", "--config", cfgPath}, tc.args...)
			if err := run(args, strings.NewReader(tc.stdin), &out, &stderr); err != nil {
				t.Fatalf("register-user: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(tc.stdin), "\n")
			password := lines[len(lines)-1]
			name := "alice"
			if len(lines) == 2 {
				name = lines[0]
			}
			if !strings.Contains(out.String(), "@"+name+":localhost") {
				t.Fatalf("output %q does not name the user", out.String())
			}
			cli, err := mautrix.NewClient(url, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cli.Login(context.Background(), &mautrix.ReqLogin{
				Type: mautrix.AuthTypePassword, Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: name},
				Password: password, StoreCredentials: true,
			}); err != nil {
				t.Fatalf("login as %s: %v", name, err)
			}
			_, err = cli.MakeRequest(context.Background(), http.MethodGet, cli.BuildClientURL("v1", "admin", "lock", "@alice:localhost"), nil, nil)
			if tc.admin && err != nil {
				t.Fatalf("the admin may not use the admin API: %v", err)
			}
			if !tc.admin && err == nil {
				t.Fatal("a user made without --admin is an admin")
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte(cfg+"registration_shared_secret: not-the-one\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run([]string{"register-user", "--config", bad, "-u", "mallory", "-p", "pw"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error(), "M_FORBIDDEN") {
			t.Fatalf("err = %v, want M_FORBIDDEN", err)
		}
	})
}
