#!/usr/bin/env bash
# A whole separate-services deployment on this machine, for trying it and
# for the tests: a throwaway PostgreSQL cluster, a real nats-server with
# JetStream (built from the nats-server module rohrpost already depends
# on), every component in its own process, and the gateway as the one
# client entry point.
#
#   scripts/services.sh up PORT DIR     start it all; the gateway listens on
#                                       127.0.0.1:PORT, components on
#                                       PORT+1 … PORT+8; prints "ready"
#   scripts/services.sh down DIR        stop it all
#   scripts/services.sh start DIR NAME  (re)start one component process
#   scripts/services.sh kill DIR NAME   kill -9 one component process
#   scripts/services.sh names DIR       the component processes
#
# Everything lives in DIR: config, signing key, logs (DIR/logs), pids.
# Registration is open and rate limiting off: this is for tests. The
# database is durable (fsync on) unless PG_FSYNC=off.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 up PORT DIR | down DIR | start DIR NAME | kill DIR NAME | names DIR" >&2; exit 2; }

# name component offset: the processes of a deployment.
processes() {
	cat <<-EOF
	roomserver roomserver 1
	userapi userapi 2
	syncapi-1 syncapi 3
	syncapi-2 syncapi 4
	clientapi-1 clientapi 5
	clientapi-2 clientapi 6
	federationapi federationapi 7
	mediaapi mediaapi 8
	gateway gateway 0
	EOF
}

port_of() { # DIR NAME
	local base off
	base=$(cat "$1/port")
	off=$(processes | awk -v n="$2" '$1 == n {print $3}')
	[ -n "$off" ] || { echo "services.sh: no process $2" >&2; exit 2; }
	echo $((base + off))
}

wait_healthy() { # DIR URL LOG
	for _ in $(seq 1 300); do
		if "$1/bin/rohrpost" health "$2" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "services.sh: $2 not healthy; last log lines:" >&2
	tail -n 20 "$3" >&2 || true
	return 1
}

start_process() { # DIR NAME
	local dir=$1 name=$2 comp port
	comp=$(processes | awk -v n="$name" '$1 == n {print $2}')
	port=$(port_of "$dir" "$name")
	stop_process "$dir" "$name" KILL
	# setsid: a process of its own, so that a kill reaches only it.
	setsid "$dir/bin/rohrpost" --config "$dir/rohrpost.yaml" --components "$comp" \
		--listen "127.0.0.1:$port" >>"$dir/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/pids/$name"
	wait_healthy "$dir" "http://127.0.0.1:$port/health" "$dir/logs/$name.log"
}

stop_process() { # DIR NAME SIGNAL
	local pidfile=$1/pids/$2 pid
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	rm -f "$pidfile"
	kill -"$3" "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

free_port() { # first free TCP port from $1 on
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do
		p=$((p + 1))
	done
	echo "$p"
}

up() {
	local port=$1 dir=$2
	mkdir -p "$dir"/{bin,logs,pids,data,nats}
	dir=$(cd "$dir" && pwd)
	echo "$port" >"$dir/port"

	echo "services.sh: building rohrpost and nats-server" >&2
	go build -o "$dir/bin/rohrpost" ./cmd/rohrpost
	go build -o "$dir/bin/nats-server" github.com/nats-io/nats-server/v2

	local uri
	uri=$(PG_FSYNC=${PG_FSYNC:-on} scripts/postgres.sh start "$dir/pg")

	local nats_port
	nats_port=$(free_port 24222)
	cat >"$dir/nats.conf" <<-EOF
	listen: 127.0.0.1:$nats_port
	max_payload: 8MB
	jetstream {
	  store_dir: "$dir/nats"
	}
	EOF
	setsid "$dir/bin/nats-server" -c "$dir/nats.conf" >>"$dir/logs/nats.log" 2>&1 </dev/null &
	echo $! >"$dir/pids/nats"
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
		sleep 0.1
	done

	[ -f "$dir/signing.key" ] || "$dir/bin/rohrpost" generate-keys --private-key "$dir/signing.key"
	cat >"$dir/rohrpost.yaml" <<-EOF
	# Written by scripts/services.sh: a local separate-services deployment.
	server_name: localhost
	public_baseurl: http://127.0.0.1:$port
	data_dir: $dir/data
	signing_key_path: $dir/signing.key
	listeners:
	  - bind_address: 127.0.0.1
	    port: $port
	    resources: [client, federation]
	database:
	  type: postgres
	  uri: "$uri"
	  max_open_conns: 20
	nats:
	  addresses: ["nats://127.0.0.1:$nats_port"]
	enable_registration: true
	enable_registration_without_verification: true
	registration_shared_secret: services-secret
	rate_limiting:
	  enabled: false
	trusted_proxies: [127.0.0.1]
	gateway:
	  clientapi: [http://127.0.0.1:$(port_of "$dir" clientapi-1), http://127.0.0.1:$(port_of "$dir" clientapi-2)]
	  syncapi: [http://127.0.0.1:$(port_of "$dir" syncapi-1), http://127.0.0.1:$(port_of "$dir" syncapi-2)]
	  federationapi: [http://127.0.0.1:$(port_of "$dir" federationapi)]
	  mediaapi: [http://127.0.0.1:$(port_of "$dir" mediaapi)]
	EOF

	# The roomserver and the user API first: the others call them.
	local name
	for name in $(processes | awk '{print $1}'); do
		start_process "$dir" "$name"
	done
	echo "services.sh: ready on http://127.0.0.1:$port (logs in $dir/logs)"
}

down() {
	local dir=$1 name
	[ -d "$dir" ] || return 0
	for name in $(processes | awk '{print $1}') nats; do
		stop_process "$dir" "$name" TERM
	done
	scripts/postgres.sh stop "$dir/pg" >/dev/null 2>&1 || true
	echo "services.sh: stopped" >&2
}

cmd=${1:-}
case "$cmd" in
up) [ $# -eq 3 ] || usage; up "$2" "$3" ;;
down) [ $# -eq 2 ] || usage; down "$2" ;;
start) [ $# -eq 3 ] || usage; start_process "$(cd "$2" && pwd)" "$3" ;;
kill) [ $# -eq 3 ] || usage; stop_process "$(cd "$2" && pwd)" "$3" KILL ;;
names) processes | awk '{print $1}' ;;
*) usage ;;
esac
