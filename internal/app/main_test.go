package app_test

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMain runs twice as many tests at once as go test would (-parallel
// defaults to GOMAXPROCS): every test starts its own servers, and much of
// a test's time is spent waiting on them (long polls, timeouts, delays
// running out), not computing. An explicit -parallel still counts.
func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
	}
	os.Exit(m.Run())
}
