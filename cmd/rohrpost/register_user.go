package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rohrpost/rohrpost/config"
)

// registerUser is `rohrpost register-user`, Synapse's
// register_new_matrix_user: it creates an account on the running server
// through shared-secret registration (/_synapse/admin/v1/register), with
// the secret and the address taken from the server's own config. Going
// through the server, not its database, keeps the one writer of accounts
// the user API, works the same for SQLite and PostgreSQL, for one process
// and for separate services, and while the server runs.
func registerUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("register-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rohrpost register-user [--config FILE] [--admin] [--user NAME] [--password PW] [SERVER_URL]")
		fmt.Fprintln(stderr, "Creates an account on the running server with the config's registration shared secret.")
		fmt.Fprintln(stderr, "Asks for what is not given; SERVER_URL defaults to the config's first client listener.")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "the server's YAML config file (default: the built-in defaults, data under ./data)")
	var user, password string
	var admin bool
	fs.StringVar(&user, "user", "", "the new user's localpart (or full user id)")
	fs.StringVar(&user, "u", "", "short for --user")
	fs.StringVar(&password, "password", "", "the password (default: asked for; anyone on this machine can read a password given here in the process list)")
	fs.StringVar(&password, "p", "", "short for --password")
	fs.BoolVar(&admin, "admin", false, "make the user a server admin")
	fs.BoolVar(&admin, "a", false, "short for --admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("unexpected arguments %v", fs.Args()[1:])
	}
	cfg, err := loadConfig(*configPath, stderr)
	if err != nil {
		return err
	}
	if err := cfg.LoadSharedSecret(false); err != nil {
		return err
	}
	if cfg.RegistrationSharedSecret == "" {
		return config.ErrNoSharedSecret
	}
	base := fs.Arg(0)
	if base == "" {
		if base, err = clientURL(cfg); err != nil {
			return err
		}
	}
	in := bufio.NewReader(stdin)
	if user == "" {
		if user, err = prompt(in, stdout, "New user localpart: "); err != nil {
			return err
		}
	}
	user = localpartOf(user)
	if user == "" {
		return errors.New("no user name given")
	}
	if password == "" {
		if password, err = askPassword(stdin, in, stdout); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	userID, err := sharedSecretRegister(ctx, base, cfg.RegistrationSharedSecret, user, password, admin)
	if err != nil {
		return err
	}
	kind := "user"
	if admin {
		kind = "admin"
	}
	fmt.Fprintf(stdout, "Created %s %s on %s\n", kind, userID, base)
	return nil
}

// localpartOf takes "alice" or "@alice:example.org".
func localpartOf(user string) string {
	user = strings.TrimSpace(user)
	if strings.HasPrefix(user, "@") {
		user = strings.TrimPrefix(user, "@")
		if i := strings.IndexByte(user, ':'); i >= 0 {
			user = user[:i]
		}
	}
	return user
}

// clientURL is where this machine reaches the first listener that serves
// the client API: a wildcard bind address becomes loopback.
func clientURL(cfg *config.Config) (string, error) {
	for _, l := range cfg.Listeners {
		if len(l.Resources) > 0 && !l.HasResource("client") {
			continue
		}
		host := l.BindAddress
		switch host {
		case "", "0.0.0.0", "::", "[::]":
			host = "127.0.0.1"
		}
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		return scheme + "://" + net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(l.Port)), nil
	}
	return "", errors.New("no listener serves the client API; give the server's URL")
}

func prompt(in *bufio.Reader, out io.Writer, question string) (string, error) {
	fmt.Fprint(out, question)
	line, err := in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// askPassword asks twice, without echo on a terminal. From a pipe it
// reads one line, for scripts.
func askPassword(stdin io.Reader, in *bufio.Reader, out io.Writer) (string, error) {
	f, isFile := stdin.(*os.File)
	if !isFile || !isTerminal(f) {
		pw, err := prompt(in, io.Discard, "")
		if err == nil && pw == "" {
			err = errors.New("empty password")
		}
		return pw, err
	}
	restore, err := noEcho(f)
	if err != nil {
		return "", err
	}
	defer restore()
	pw, err := prompt(in, out, "Password: ")
	fmt.Fprintln(out)
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	again, err := prompt(in, out, "Confirm password: ")
	fmt.Fprintln(out)
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

// sharedSecretRegister runs Synapse's two steps: fetch a nonce, post the
// account with the HMAC over nonce, user, password and admin flag.
func sharedSecretRegister(ctx context.Context, base, secret, user, password string, admin bool) (string, error) {
	endpoint := strings.TrimRight(base, "/") + "/_synapse/admin/v1/register"
	client := &http.Client{Timeout: 20 * time.Second}
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := callJSON(ctx, client, http.MethodGet, endpoint, nil, &nonce); err != nil {
		return "", err
	}
	kind := "notadmin"
	if admin {
		kind = "admin"
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(strings.Join([]string{nonce.Nonce, user, password, kind}, "\x00")))
	body := map[string]any{"nonce": nonce.Nonce, "username": user, "password": password, "admin": admin, "mac": hex.EncodeToString(m.Sum(nil))}
	var created struct {
		UserID string `json:"user_id"`
	}
	if err := callJSON(ctx, client, http.MethodPost, endpoint, body, &created); err != nil {
		return "", err
	}
	return created.UserID, nil
}

func callJSON(ctx context.Context, client *http.Client, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("is the server running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var mErr struct {
			Errcode string `json:"errcode"`
			Error   string `json:"error"`
		}
		if json.Unmarshal(raw, &mErr) == nil && mErr.Errcode != "" {
			return fmt.Errorf("%s %s: %s: %s", method, url, mErr.Errcode, mErr.Error)
		}
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return json.Unmarshal(raw, out)
}
