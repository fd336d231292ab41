// Package clamdtest runs a real ClamAV daemon for tests, with a signature
// database of its own: ClamAV cannot fetch its public signatures here, and
// a signature that matches a known test file proves the whole path.
package clamdtest

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Infected is a file the test signature matches; SignatureName is what
// clamd reports for it.
var Infected = []byte("rohrpost test malware: this file is flagged by a signature of our own\n")

const SignatureName = "Rohrpost.Test.Malware"

// Daemon is a running clamd.
type Daemon struct {
	// Address is "unix:<socket>", as content_scanner.clamd wants it.
	Address string
	cmd     *exec.Cmd
	socket  string
}

// Start runs clamd until the test ends. It fails the test when clamd is
// not installed (Debian: clamav-daemon; scripts/test.sh installs it).
func Start(t testing.TB) *Daemon {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/clamd"); statErr == nil {
			bin = "/usr/sbin/clamd"
		} else {
			t.Fatal("clamd is not installed (apt-get install -y clamav-daemon); scripts/test.sh installs it")
		}
	}
	dir, err := os.MkdirTemp("", "clamd-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// clamd may drop to its own user: the directory must be open to it.
	_ = os.Chmod(dir, 0o755)
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(Infected)
	sig := fmt.Sprintf("%s:%d:%s\n", hex.EncodeToString(sum[:]), len(Infected), SignatureName)
	if err := os.WriteFile(filepath.Join(db, "rohrpost.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{socket: filepath.Join(dir, "clamd.sock")}
	d.Address = "unix:" + d.socket
	conf := strings.Join([]string{
		"LocalSocket " + d.socket,
		"LocalSocketMode 666",
		"DatabaseDirectory " + db,
		"Foreground yes",
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		"TemporaryDirectory " + dir,
		"StreamMaxLength 100M",
		"MaxThreads 2",
		"",
	}, "\n")
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, "-c", confPath)
	// clamd writes to its log file (kept in dir while the test runs).
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	deadline := time.Now().Add(90 * time.Second)
	for !d.ping() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd did not come up: %s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d
}

func (d *Daemon) ping() bool {
	conn, err := net.DialTimeout("unix", d.socket, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return false
	}
	reply, _ := bufio.NewReader(conn).ReadString(0)
	return strings.HasPrefix(reply, "PONG")
}

// Stop ends clamd (a test may stop it early to see uploads refused).
func (d *Daemon) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
		d.cmd = nil
	}
}
