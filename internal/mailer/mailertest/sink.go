// Package mailertest is an SMTP server for tests: it accepts every mail
// and hands it to the test, as a mail server would hand it to a mailbox.
package mailertest

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// Mail is one received message with its body decoded.
type Mail struct {
	From, To string
	Header   mail.Header
	Body     string
}

// Sink listens on a loopback port until the test ends.
type Sink struct {
	Host string
	Port int
	mail chan Mail
}

// Start runs a sink for the test.
func Start(t testing.TB) *Sink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	addr := l.Addr().(*net.TCPAddr)
	s := &Sink{Host: "127.0.0.1", Port: addr.Port, mail: make(chan Mail, 100)}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

// Next waits for the next mail; it fails the test after timeout.
func (s *Sink) Next(t testing.TB, timeout time.Duration) Mail {
	t.Helper()
	select {
	case m := <-s.mail:
		return m
	case <-time.After(timeout):
		t.Fatalf("no mail arrived within %s", timeout)
		return Mail{}
	}
}

// None checks that no mail arrives within wait.
func (s *Sink) None(t testing.TB, wait time.Duration) {
	t.Helper()
	select {
	case m := <-s.mail:
		t.Fatalf("unexpected mail to %s: %q", m.To, m.Header.Get("Subject"))
	case <-time.After(wait):
	}
}

func (s *Sink) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	reply := func(line string) { io.WriteString(conn, line+"\r\n") }
	reply("220 mailertest ESMTP")
	var from, to string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250 mailertest")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			from = addressOf(line)
			reply("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to = addressOf(line)
			reply("250 ok")
		case cmd == "DATA":
			reply("354 go ahead")
			data, err := readData(r)
			if err != nil {
				return
			}
			if m, err := parse(from, to, data); err == nil {
				s.mail <- m
				reply("250 queued")
			} else {
				reply("554 " + err.Error())
			}
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

func addressOf(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.IndexByte(line, '<'); i >= 0 {
		if j := strings.IndexByte(line[i:], '>'); j > 0 {
			return line[i+1 : i+j]
		}
	}
	return line[strings.IndexByte(line, ':')+1:]
}

// readData reads up to the lone "." and undoes dot-stuffing.
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func parse(from, to, data string) (Mail, error) {
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		return Mail{}, err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return Mail{}, err
	}
	// The line break before the closing "." ends the last line; it is
	// not part of the text.
	text := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	return Mail{From: from, To: to, Header: msg.Header, Body: text}, nil
}
