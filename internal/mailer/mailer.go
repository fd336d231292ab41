// Package mailer sends the server's e-mail (address validation) over SMTP.
package mailer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// Config is where and as whom mail goes out.
type Config struct {
	Host string
	Port int
	// From is the sender address, e.g. "rohrpost@agency.example".
	From string
	// Username and Password log in with SMTP AUTH PLAIN, which net/smtp
	// only does over TLS or to localhost.
	Username, Password string
	// RequireTLS refuses to send unless the server offers STARTTLS.
	RequireTLS bool
	// HelloName is what the server introduces itself as (EHLO).
	HelloName string
}

// Mailer sends plain-text mail.
type Mailer struct {
	cfg Config
}

// New returns a mailer, or nil when no SMTP host is configured.
func New(cfg Config) *Mailer {
	if cfg.Host == "" {
		return nil
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	return &Mailer{cfg: cfg}
}

// Message is one mail to one recipient.
type Message struct {
	To, Subject, Body string
}

// Send delivers msg to the SMTP server before ctx ends.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	if strings.ContainsAny(msg.To, "\r\n") || strings.ContainsAny(msg.Subject, "\r\n") {
		return errors.New("mailer: line break in a header")
	}
	data, err := m.compose(msg)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mailer: connect %s: %w", addr, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, m.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mailer: %w", err)
	}
	defer c.Close()
	if err := m.deliver(c, msg.To, data); err != nil {
		return fmt.Errorf("mailer: %w", err)
	}
	return nil
}

func (m *Mailer) deliver(c *smtp.Client, to string, data []byte) error {
	if err := c.Hello(m.cfg.HelloName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: m.cfg.Host}); err != nil {
			return err
		}
	} else if m.cfg.RequireTLS {
		return errors.New("the SMTP server does not offer STARTTLS")
	}
	if m.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", m.cfg.Username, m.cfg.Password, m.cfg.Host)); err != nil {
			return err
		}
	}
	if err := c.Mail(m.cfg.From); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// The server took the mail with its reply to the data; how it takes
	// the goodbye does not matter (some small servers do not know QUIT).
	_ = c.Quit()
	return nil
}

// compose writes the message: UTF-8 text, quoted-printable, so that any
// mail server passes it unchanged.
func (m *Mailer) compose(msg Message) ([]byte, error) {
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	domain := m.cfg.From[strings.LastIndexByte(m.cfg.From, '@')+1:]
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.cfg.From)
	header("To", msg.To)
	header("Subject", mime.QEncoding.Encode("utf-8", msg.Subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id[:])+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(msg.Body, "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
