// Command rohrpost is the Matrix homeserver. With no arguments it runs the
// whole server in one process on embedded defaults; see -help.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rohrpost/rohrpost/config"
	"github.com/rohrpost/rohrpost/internal/app"
	"github.com/rohrpost/rohrpost/internal/serverkey"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rohrpost:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "run":
			args = args[1:]
		case "generate-config":
			return generateConfig(args[1:], stdout, stderr)
		case "generate-keys":
			return generateKeys(args[1:], stdout)
		case "health":
			return health(args[1:])
		case "register-user":
			return registerUser(args[1:], stdin, stdout, stderr)
		case "export-user":
			return exportUser(args[1:], stdout, stderr)
		case "help":
			args = []string{"-help"}
		default:
			return fmt.Errorf("unknown command %q (commands: run, generate-config, generate-keys, register-user, export-user, health)", args[0])
		}
	}
	fs := flag.NewFlagSet("rohrpost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (default: built-in defaults, data under ./data)")
	components := fs.String("components", "", "run only these components, comma-separated: "+strings.Join(app.Monolith, ",")+","+app.Gateway+" (default: all but gateway, in one process)")
	listen := fs.String("listen", "", "HOST:PORT for the first listener, overriding the config (separate services sharing one config file)")
	metricsListen := fs.String("metrics-listen", "", "HOST:PORT for the metrics listener, overriding the config or adding one (separate services on one host: one port each)")
	pprofAddr := fs.String("pprof", "", "HOST:PORT to serve Go's profiles on (/debug/pprof/), for finding what is slow; keep it on loopback")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pprofAddr != "" {
		if err := serveProfiles(*pprofAddr); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	cfg, err := loadConfig(*configPath, stderr)
	if err != nil {
		return err
	}
	var opts app.Options
	if *components != "" {
		if opts.Components, err = app.ParseComponents(*components); err != nil {
			return err
		}
	}
	if *listen != "" {
		if err := overrideListener(cfg, *listen); err != nil {
			return err
		}
	}
	if *metricsListen != "" {
		if err := overrideMetricsListener(cfg, *metricsListen); err != nil {
			return err
		}
	}
	return serve(cfg, opts, *configPath, stderr)
}

func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var warnings []string
		var err error
		cfg, warnings, err = config.Load(path)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "rohrpost: warning: unknown config key %s (ignored)\n", w)
		}
		if err != nil {
			return nil, err
		}
	}
	cfg.Finish()
	return cfg, nil
}

// warnLoudly prints what the config asks for and the server will not do,
// on stderr and in the log, at every start.
func warnLoudly(cfg *config.Config, stderr io.Writer) {
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "rohrpost: WARNING: %s\n", w)
		if cfg.LogFile != "" {
			slog.Warn(w)
		}
	}
}

func generateKeys(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("generate-keys", flag.ContinueOnError)
	out := fs.String("private-key", "", "write the key to this file instead of stdout (never overwrites)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, priv, err := serverkey.Generate()
	if err != nil {
		return err
	}
	data := serverkey.Format(id, priv)
	if *out == "" {
		_, err = stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func setupLogging(cfg *config.Config, stderr io.Writer) (func(), error) {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.LogLevel) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	var w io.Writer = stderr
	closeFn := func() {}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("log_file: %w", err)
		}
		w, closeFn = f, func() { _ = f.Close() }
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	slog.SetDefault(slog.New(h))
	return closeFn, nil
}

func serve(cfg *config.Config, opts app.Options, configPath string, stderr io.Writer) error {
	closeLog, err := setupLogging(cfg, stderr)
	if err != nil {
		return err
	}
	defer closeLog()
	warnLoudly(cfg, stderr)
	if runsHere(opts, app.ClientAPI) {
		// The shared secret's file is made by the process that checks it.
		if err := cfg.LoadSharedSecret(true); err != nil {
			return err
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	opts.AccessLog = slog.Default().With("log", "access")
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer a.Close()

	var servers []*http.Server
	errCh := make(chan error, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		srv := &http.Server{
			Handler:           a.Handler(listenerResources(opts, l)...),
			ReadHeaderTimeout: 30 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return a.Stopping },
			ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		}
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			return fmt.Errorf("listen on %s: %w", l.Addr(), err)
		}
		if l.TLS {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertPath, cfg.TLSKeyPath)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("tls certificate: %w", err)
			}
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errCh <- err
			}
		}()
		slog.Info("listening", "addr", l.Addr(), "tls", l.TLS, "resources", l.Resources)
	}
	fmt.Fprintf(stderr, "rohrpost: %s ready on %s (%s)\n", cfg.ServerName, listenerList(cfg), strings.Join(a.ComponentList(), ","))
	firstAdminHint(ctx, a, configPath, stderr)

	select {
	case <-ctx.Done():
	case err := <-errCh:
		slog.Error("listener failed", "err", err)
		cancel()
		shutdown(a, servers)
		return err
	}
	shutdown(a, servers)
	slog.Info("stopped")
	return nil
}

// shutdown ends long polls first, then waits briefly for in-flight
// requests; the components stop after that (deferred Close).
func shutdown(a *app.App, servers []*http.Server) {
	a.EndRequests()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
}

// listenerResources is what a listener serves: in one process the
// resources it lists; a process started with --components serves every
// route of the components it runs (a separate-services config lists what
// the single process would, and media behind the gateway must not 404).
func listenerResources(opts app.Options, l config.Listener) []string {
	if len(opts.Components) > 0 {
		if l.HasResource(app.AdminResource) {
			return l.Resources // the admin API apart (docs/decisions/0020)
		}
		return componentResources(l)
	}
	return l.Resources
}

func runsHere(opts app.Options, component string) bool {
	if len(opts.Components) == 0 {
		return true
	}
	for _, c := range opts.Components {
		if c == component {
			return true
		}
	}
	return false
}

// firstAdminHint says, while there is no account yet, how to make the
// first one: open registration is off by default.
func firstAdminHint(ctx context.Context, a *app.App, configPath string, stderr io.Writer) {
	if a.LocalUsers == nil {
		return
	}
	has, err := a.LocalUsers.HasAccounts(ctx)
	if err != nil || has {
		return
	}
	cmd := "rohrpost register-user --admin"
	if configPath != "" {
		cmd += " --config " + configPath
	}
	fmt.Fprintf(stderr, "rohrpost: there are no accounts yet. Create the first admin, while the server runs, with\n\n    %s\n\n(`go run ./cmd/rohrpost register-user --admin` from a checkout); it asks for the name and the password.\n", cmd)
}

func listenerList(cfg *config.Config) string {
	var parts []string
	for _, l := range cfg.Listeners {
		scheme := "http"
		if l.TLS {
			scheme = "https"
		}
		parts = append(parts, scheme+"://"+l.Addr())
	}
	return strings.Join(parts, ", ")
}

// overrideListener points the first listener at addr.
func overrideListener(cfg *config.Config, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--listen: %q is not a port", port)
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []config.Listener{{Resources: []string{"client", "federation", "media"}}}
	}
	cfg.Listeners[0].BindAddress, cfg.Listeners[0].Port = host, p
	return nil
}

// health exits 0 when the URL answers 200: a health check for container
// images that have no curl.
func health(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: rohrpost health URL")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(args[0])
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", args[0], resp.Status)
	}
	return nil
}

// serveProfiles serves net/http/pprof's handlers on their own listener,
// apart from the Matrix APIs.
func serveProfiles(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if err := srv.Serve(ln); err != nil {
			slog.Error("pprof listener stopped", "err", err)
		}
	}()
	return nil
}
