// Package config is rohrpost's YAML configuration: the schema, its
// defaults (a working single-process server with no file at all), loading
// with warnings for unknown keys, and validation that names every bad key.
package config
