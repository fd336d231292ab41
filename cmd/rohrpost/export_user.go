package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/matrix-org/gomatrixserverlib/spec"

	"github.com/rohrpost/rohrpost/internal/sqlutil"
	"github.com/rohrpost/rohrpost/userexport"
)

// exportUser is `rohrpost export-user @user:server FILE`: everything the
// server holds about one local user, uploaded files included, in one zip
// archive (Art. 15 GDPR, docs/data-protection.md). It reads the database
// and the media store named by the server's config, so it runs where the
// media store is; it only reads and may run beside the server. In
// separate services use the admin API's POST
// /_synapse/admin/v1/users/{userId}/export, which reads the files through
// the media API.
func exportUser(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: rohrpost export-user [--config FILE] @user:server FILE")
		fmt.Fprintln(stderr, "Writes everything the server holds about a local user into the zip archive FILE (never overwritten).")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "the server's YAML config file (default: the built-in defaults, data under ./data)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errors.New("export-user needs a user id and a file name")
	}
	user, err := spec.NewUserID(fs.Arg(0), true)
	if err != nil {
		return fmt.Errorf("%q is not a user id: %w", fs.Arg(0), err)
	}
	out := fs.Arg(1)
	cfg, err := loadConfig(*configPath, stderr)
	if err != nil {
		return err
	}
	if !cfg.IsLocal(user.Domain()) {
		return fmt.Errorf("%s is not a user of this server (%s)", user.String(), cfg.ServerName)
	}
	db, err := sqlutil.Open(sqlutil.Options{Type: cfg.Database.Type, Path: cfg.Database.Path, URI: cfg.Database.URI, MaxOpenConns: 2})
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	exp := &userexport.Exporter{DB: db, Media: userexport.StoreDir(cfg.MediaStorePath)}
	if err := exp.Check(ctx, *user); err != nil {
		return err
	}
	// Written beside FILE under another name and renamed when complete,
	// so FILE is never a half archive.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".export-*")
	if err != nil {
		_ = f.Close()
		_ = os.Remove(out)
		return err
	}
	defer os.Remove(tmp.Name())
	err = exp.Write(ctx, tmp, *user)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	_ = f.Close()
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		_ = os.Remove(out)
		return fmt.Errorf("export %s: %w", user.String(), err)
	}
	fmt.Fprintf(stdout, "wrote the data of %s to %s\n", user.String(), out)
	return nil
}
