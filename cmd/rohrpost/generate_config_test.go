package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rohrpost/rohrpost/config"
)

// TestGenerateConfig: generate-config prints the sample; with --profile
// bundesmessenger the profile's keys with their comments; an unknown
// profile is an error.
func TestGenerateConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"sample", []string{"generate-config"}, []string{"server_name: localhost"}, false},
		{"bundesmessenger", []string{"generate-config", "--profile", "bundesmessenger"},
			[]string{"profile: bundesmessenger", "enable_set_displayname: false", "include_content: false", "# Names and avatars come from"}, false},
		{"unknown profile", []string{"generate-config", "--profile", "synapse"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tc.args, strings.NewReader(""), &out, io.Discard)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
	var out bytes.Buffer
	if err := run([]string{"generate-config", "--profile", "bundesmessenger"}, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	urls := "bundesmessenger:\n  data_privacy_url: https://a.example/d\n  imprint_url: https://a.example/i\n"
	if _, _, err := config.Parse(append(out.Bytes(), urls...), t.TempDir()); err != nil {
		t.Fatalf("the printed profile with the two URLs does not load: %v", err)
	}
}
