#!/usr/bin/env bash
# Runs the load tool (10 senders in one room, 20 long-polling receivers)
# against a fresh deployment and prints throughput, delivery latency and
# the resident memory of the server processes.
#
#   DEPLOYMENT=monolith   (default) one process, SQLite, embedded NATS
#   DEPLOYMENT=postgres   one process, a throwaway PostgreSQL (fsync on)
#   DEPLOYMENT=services   scripts/services.sh: every component its own
#                         process, PostgreSQL (fsync on), nats-server, the
#                         gateway as entry point; memory is summed over the
#                         rohrpost processes (not PostgreSQL or NATS)
#
# MESSAGES (per sender), SENDERS, RECEIVERS and INITIAL_ROOMS (the rooms of
# the user whose initial /sync is timed) change the load. PPROF=HOST:PORT
# serves the one-process server's Go profiles there.
set -euo pipefail
cd "$(dirname "$0")/.."
deployment=${DEPLOYMENT:-monolith}
dir=$(mktemp -d /tmp/rohrpost-bench.XXXXXX)
chmod 755 "$dir"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -INT "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ "$deployment" = services ]; then
		scripts/services.sh down "$dir/services" >/dev/null 2>&1 || true
	fi
	[ -d "$dir/pg" ] && scripts/postgres.sh stop "$dir/pg" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT
go build -o "$dir/rohrpost" ./cmd/rohrpost
go build -o "$dir/rohrpost-load" ./cmd/rohrpost-load
port=${BENCH_PORT:-18448}

case "$deployment" in
monolith | postgres)
	db="type: sqlite"
	if [ "$deployment" = postgres ]; then
		uri=$(PG_FSYNC=on scripts/postgres.sh start "$dir/pg")
		db="type: postgres
  uri: \"$uri\""
	fi
	cat >"$dir/rohrpost.yaml" <<-YAML
	server_name: localhost
	data_dir: $dir/data
	listeners:
	  - bind_address: 127.0.0.1
	    port: $port
	    resources: [client, federation]
	database:
	  $db
	enable_registration: true
	enable_registration_without_verification: true
	rate_limiting:
	  enabled: false
	log_level: warn
	YAML
	"$dir/rohrpost" --config "$dir/rohrpost.yaml" ${PPROF:+--pprof "$PPROF"} 2>"$dir/server.log" &
	pid=$!
	for _ in $(seq 100); do
		"$dir/rohrpost" health "http://127.0.0.1:$port/health" 2>/dev/null && break
		sleep 0.1
	done
	pids=$pid
	;;
services)
	PG_FSYNC=on scripts/services.sh up "$port" "$dir/services" >&2
	pids=$(cat "$dir"/services/pids/* | grep -v "^$(cat "$dir/services/pids/nats")\$" | paste -sd,)
	;;
*)
	echo "bench.sh: DEPLOYMENT must be monolith, postgres or services" >&2
	exit 2
	;;
esac
echo "deployment:           $deployment"
"$dir/rohrpost-load" -url "http://127.0.0.1:$port" -senders "${SENDERS:-10}" -receivers "${RECEIVERS:-20}" -messages "${MESSAGES:-100}" -initial-rooms "${INITIAL_ROOMS:-100}" -pid "$pids"
