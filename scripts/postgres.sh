#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests and prints its URI.
#
#   scripts/postgres.sh start DIR   -> prints postgres://...; the cluster lives in DIR
#   scripts/postgres.sh stop DIR
#
# PG_FSYNC=on makes it durable (benchmarks); tests run with fsync off.
#
# Installs Debian's postgresql package when no server binaries exist.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

pgbin() {
	ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

case "$cmd" in
start)
	if [ -z "$(pgbin)" ]; then
		echo "postgres.sh: installing postgresql" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update >/dev/null 2>&1 || true
		apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1
	fi
	bin=$(pgbin)
	[ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL server binaries" >&2; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	run=()
	if [ "$(id -u)" = 0 ]; then
		# PostgreSQL refuses to run as root.
		id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
		chown -R postgres "$dir"
		run=(runuser -u postgres --)
	fi
	# The first free port from 55432 on, so a cluster left running by
	# another run does not get in the way.
	port=${PGPORT_TEST:-55432}
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		"${run[@]}" "$bin/initdb" -D "$dir/data" -U rohrpost --auth=trust >"$dir/initdb.log" 2>&1
	fi
	"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=${PG_FSYNC:-off} -c max_connections=300" start >/dev/null
	echo "postgres://rohrpost@127.0.0.1:$port/postgres?sslmode=disable"
	;;
stop)
	bin=$(pgbin)
	dir=$(cd "$dir" && pwd)
	run=()
	[ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
	"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
	;;
*)
	echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
