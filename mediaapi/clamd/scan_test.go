package clamd_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rohrpost/rohrpost/mediaapi/clamd"
	"github.com/rohrpost/rohrpost/mediaapi/clamd/clamdtest"
)

// Against a real clamd: the test signature is found, a clean file passes,
// a stopped clamd is unavailable.
func TestScanWithClamd(t *testing.T) {
	d := clamdtest.Start(t)
	c, err := clamd.New(d.Address, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.Scan(ctx, bytes.NewReader(clamdtest.Infected))
	if err != nil || !res.Infected || res.Signature != clamdtest.SignatureName+".UNOFFICIAL" && res.Signature != clamdtest.SignatureName {
		t.Fatalf("infected file: %+v, %v", res, err)
	}
	big := bytes.Repeat([]byte("sauber "), 100000) // several chunks
	if res, err := c.Scan(ctx, bytes.NewReader(big)); err != nil || res.Infected {
		t.Fatalf("clean file: %+v, %v", res, err)
	}
	d.Stop()
	if _, err := c.Scan(ctx, bytes.NewReader(big)); !errors.Is(err, clamd.ErrUnavailable) {
		t.Fatalf("stopped clamd: %v", err)
	}
}
