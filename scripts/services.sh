#!/usr/bin/env bash
# A whole separate-services deployment on this machine, for trying it and
# for the tests: a throwaway PostgreSQL cluster, a real nats-server with
# JetStream (built from the nats-server module rohrpost already depends
# on), every component in its own process, and the gateway as the one
# client entry point.
#
#   scripts/services.sh up PORT DIR     start it all; the gateway listens on
#                                       127.0.0.1:PORT, components on
#                                       PORT+1 … PORT+8, and each process
#                                       serves its metrics 10 ports above
#                                       (PORT+10 … PORT+18); prints "ready"
#   scripts/services.sh down DIR        stop it all
#   scripts/services.sh start DIR NAME  (re)start one component process
#   scripts/services.sh kill DIR NAME   kill -9 one component process
#   scripts/services.sh names DIR       the component processes
#
# Everything lives in DIR: config, signing key, logs (DIR/logs), pids.
# The config is deploy/rohrpost.yaml as shipped with local addresses; on
# top, registration is open and rate limiting off: this is for tests. A
# clamd with one test signature scans uploads when clamd is installed. The
# database is durable (fsync on) unless PG_FSYNC=off.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 up PORT DIR | down DIR | start DIR NAME | kill DIR NAME | names DIR" >&2; exit 2; }

# name component offset: the processes of a deployment.
processes() {
	cat <<-EOF
	roomserver roomserver 1
	userapi userapi 2
	federationapi federationapi 7
	mediaapi mediaapi 8
	syncapi-1 syncapi 3
	syncapi-2 syncapi 4
	clientapi-1 clientapi 5
	clientapi-2 clientapi 6
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
		--listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 10))" >>"$dir/logs/$name.log" 2>&1 </dev/null &
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

# start_clamd DIR: a ClamAV daemon with one test signature only (the
# bytes of clamdtest.Infected), as the media tests run it; prints its
# socket. Fails when clamd is not installed.
start_clamd() {
	local dir=$1/clamd bin
	bin=$(command -v clamd || echo /usr/sbin/clamd)
	[ -x "$bin" ] || return 1
	mkdir -p "$dir/db"
	chmod 755 "$1" "$dir" "$dir/db"
	local sample='rohrpost test malware: this file is flagged by a signature of our own'
	printf '%s:%d:Rohrpost.Test.Malware\n' "$(printf '%s\n' "$sample" | md5sum | cut -d' ' -f1)" $((${#sample} + 1)) >"$dir/db/rohrpost.hdb"
	cat >"$dir/clamd.conf" <<-EOF
	LocalSocket $dir/clamd.sock
	LocalSocketMode 666
	DatabaseDirectory $dir/db
	Foreground yes
	LogFile $dir/clamd.log
	PidFile $dir/clamd.pid
	TemporaryDirectory $dir
	StreamMaxLength 100M
	MaxThreads 2
	EOF
	setsid "$bin" -c "$dir/clamd.conf" >>"$1/logs/clamd.log" 2>&1 </dev/null &
	echo $! >"$1/pids/clamd"
	for _ in $(seq 1 600); do
		[ -S "$dir/clamd.sock" ] && { echo "$dir/clamd.sock"; return 0; }
		sleep 0.1
	done
	echo "services.sh: clamd did not start; see $dir/clamd.log" >&2
	return 1
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

	local clamd_addr='""'
	if clamd_addr=$(start_clamd "$dir"); then
		clamd_addr="unix:$clamd_addr"
	else
		echo "services.sh: no clamd (apt-get install clamav-daemon): uploads go unscanned" >&2
		clamd_addr='""'
	fi

	# deploy/rohrpost.yaml as shipped, with this machine's addresses in
	# place of the compose network's; each line must be there exactly as
	# below, so that a change to the shipped file cannot go untested.
	local cfg
	cfg=$(cat deploy/rohrpost.yaml)
	subst() { # OLD_LINE NEW_LINE
		cfg=$(printf '%s\n' "$cfg" | awk -v old="$1" -v new="$2" '
			$0 == old { print new; n++; next } { print }
			END { if (n != 1) { print "services.sh: deploy/rohrpost.yaml has no line: " old > "/dev/stderr"; exit 1 } }')
	}
	subst 'server_name: example.org' 'server_name: localhost'
	subst 'public_baseurl: http://localhost:8008' "public_baseurl: http://127.0.0.1:$port"
	subst 'data_dir: /data' "data_dir: $dir/data"
	subst 'signing_key_path: /keys/signing.key' "signing_key_path: $dir/signing.key"
	subst '    port: 8008' "    port: $port"
	subst '  uri: postgres://rohrpost:rohrpost@postgres/rohrpost?sslmode=disable' "  uri: \"$uri\""
	subst '  addresses: ["nats://nats:4222"]' "  addresses: [\"nats://127.0.0.1:$nats_port\"]"
	subst '  clamd: tcp:clamd:3310' "  clamd: $clamd_addr"
	subst '  clientapi: [http://clientapi:8008]' "  clientapi: [http://127.0.0.1:$(port_of "$dir" clientapi-1), http://127.0.0.1:$(port_of "$dir" clientapi-2)]"
	subst '  syncapi: [http://syncapi-1:8008, http://syncapi-2:8008]' "  syncapi: [http://127.0.0.1:$(port_of "$dir" syncapi-1), http://127.0.0.1:$(port_of "$dir" syncapi-2)]"
	subst '  federationapi: [http://federationapi:8008]' "  federationapi: [http://127.0.0.1:$(port_of "$dir" federationapi)]"
	subst '  mediaapi: [http://mediaapi:8008]' "  mediaapi: [http://127.0.0.1:$(port_of "$dir" mediaapi)]"
	subst 'trusted_proxies: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]' 'trusted_proxies: [127.0.0.1]'
	subst 'registration_shared_secret: change-me' 'registration_shared_secret: services-secret'
	# The tests register many users in seconds.
	subst 'enable_registration: false' 'enable_registration: true'
	{
		echo "# scripts/services.sh: deploy/rohrpost.yaml with local addresses, and for the tests:"
		printf '%s\n' "$cfg"
		echo "enable_registration_without_verification: true"
		echo "rate_limiting:"
		echo "  enabled: false"
	} >"$dir/rohrpost.yaml"

	# In the order of processes: the roomserver and the user API first
	# (the others call them), then the federation and media APIs, whose
	# tables the admin API of the client API processes reads.
	local name
	for name in $(processes | awk '{print $1}'); do
		start_process "$dir" "$name"
	done
	echo "services.sh: ready on http://127.0.0.1:$port (logs in $dir/logs)"
}

down() {
	local dir=$1 name
	[ -d "$dir" ] || return 0
	for name in $(processes | awk '{print $1}') nats clamd; do
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
