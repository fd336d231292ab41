package config

import _ "embed"

// Sample is the commented sample configuration `rohrpost generate-config`
// prints. A test keeps it loadable.
//
//go:embed sample.yaml
var Sample []byte
