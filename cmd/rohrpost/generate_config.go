package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/rohrpost/rohrpost/config"
)

// generateConfig prints the commented sample configuration, or with
// --profile NAME the profile's (every default it sets, written out).
func generateConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "print the configuration of a profile with every default it sets: "+config.ProfileBundesMessenger)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("generate-config: unexpected arguments %v", fs.Args())
	}
	out := config.Sample
	if *profile != "" {
		var err error
		if out, err = config.ProfileSample(*profile); err != nil {
			return fmt.Errorf("generate-config: %w", err)
		}
	}
	_, err := stdout.Write(out)
	return err
}
