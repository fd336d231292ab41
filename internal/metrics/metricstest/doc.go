// Package metricstest scrapes a metrics listener as Prometheus does and
// reads the parsed samples, for the tests of every process kind (one
// process, separate services).
package metricstest
