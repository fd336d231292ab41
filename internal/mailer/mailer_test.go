package mailer_test

import (
	"context"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/internal/mailer"
	"github.com/rohrpost/rohrpost/internal/mailer/mailertest"
)

func TestSend(t *testing.T) {
	sink := mailertest.Start(t)
	m := mailer.New(mailer.Config{Host: sink.Host, Port: sink.Port, From: "rohrpost@behoerde.example"})
	link := "https://matrix.behoerde.example/_rohrpost/client/email/submit_token?sid=" + strings.Repeat("s", 40) + "&token=" + strings.Repeat("t", 40)
	body := "Bitte bestätigen Sie Ihre Adresse:\n\n" + link + "\n\n.\nEnde"
	if err := m.Send(context.Background(), mailer.Message{To: "anna@behoerde.example", Subject: "Adresse bestätigen", Body: body}); err != nil {
		t.Fatal(err)
	}
	got := sink.Next(t, 5*time.Second)
	if got.To != "anna@behoerde.example" || got.From != "rohrpost@behoerde.example" {
		t.Errorf("envelope %s -> %s", got.From, got.To)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(got.Header.Get("Subject"))
	if err != nil || subject != "Adresse bestätigen" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	if got.Body != body {
		t.Errorf("body came out as %q, want %q", got.Body, body)
	}
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	m := mailer.New(mailer.Config{Host: "127.0.0.1", Port: 1, From: "rohrpost@behoerde.example"})
	for _, msg := range []mailer.Message{
		{To: "a@b.example\r\nBcc: c@d.example", Subject: "x"},
		{To: "a@b.example", Subject: "x\nBcc: c@d.example"},
	} {
		if err := m.Send(context.Background(), msg); err == nil {
			t.Errorf("sent %+v", msg)
		}
	}
}

func TestSendRequiresTLSWhenConfigured(t *testing.T) {
	sink := mailertest.Start(t)
	m := mailer.New(mailer.Config{Host: sink.Host, Port: sink.Port, From: "rohrpost@behoerde.example", RequireTLS: true})
	if err := m.Send(context.Background(), mailer.Message{To: "a@b.example", Subject: "x", Body: "y"}); err == nil {
		t.Fatal("sent without STARTTLS although RequireTLS is set")
	}
	sink.None(t, 200*time.Millisecond)
}
