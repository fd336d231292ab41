#!/usr/bin/env bash
# Starts a fresh rohrpost (SQLite, embedded NATS) on a free port, runs the
# load tool against it (10 senders, 20 long-polling receivers) and prints
# throughput, delivery latency and the server's resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/rohrpost-bench.XXXXXX)
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
go build -o "$dir/rohrpost" ./cmd/rohrpost
go build -o "$dir/rohrpost-load" ./cmd/rohrpost-load
port=${BENCH_PORT:-18448}
cat > "$dir/rohrpost.yaml" <<YAML
server_name: localhost
listeners:
  - bind_address: 127.0.0.1
    port: $port
    resources: [client, federation]
enable_registration: true
enable_registration_without_verification: true
rate_limiting:
  enabled: false
log_level: warn
YAML
"$dir/rohrpost" --config "$dir/rohrpost.yaml" 2>"$dir/server.log" &
pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null && break
	sleep 0.1
done
"$dir/rohrpost-load" -url "http://127.0.0.1:$port" -senders "${SENDERS:-10}" -receivers "${RECEIVERS:-20}" -messages "${MESSAGES:-100}" -pid "$pid"
