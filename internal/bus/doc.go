// Package bus connects rohrpost's components to NATS JetStream: an embedded
// in-process server for the single-process deployment, or an external
// cluster for separate services. It owns the stream and subject names.
package bus
