#!/usr/bin/env bash
# The whole test suite: every package with the race detector on SQLite
# with the components calling each other directly (the single process),
# then again on a throwaway PostgreSQL cluster (installed from Debian's
# packages when missing) with every call between components going over
# NATS request/reply, as separate services make them; that run also starts
# a whole separate-services deployment (scripts/services.sh) and kills
# each of its processes in turn. Extra arguments go to `go test`.
#
# -tags goolm builds mautrix's pure-Go Olm, which the end-to-end
# encryption tests use as a real client (no C libolm needed). The media
# tests scan uploads with a real ClamAV daemon (Debian's clamav-daemon,
# installed here when missing) running their own signature database.
# TestSlidingSyncMatrixJSSDK runs matrix-js-sdk under Node (Debian's
# nodejs and npm, installed here when missing); it installs the SDK once
# into ~/.cache/rohrpost-test (ROHRPOST_JSSDK_CACHE), outside the
# repository.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clamd >/dev/null 2>&1 && [ ! -x /usr/sbin/clamd ]; then
	echo "== installing clamav-daemon"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >/dev/null 2>&1 || true
	apt-get install -y --no-install-recommends clamav-daemon >/dev/null 2>&1
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "== installing nodejs and npm"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >/dev/null 2>&1 || true
	apt-get install -y --no-install-recommends nodejs npm >/dev/null 2>&1
fi

echo "== go vet"
go vet -tags goolm ./...

# staticcheck at a pinned version (the module proxy serves it; the build
# is cached after the first run). Its findings fail the run, as vet's do.
echo "== staticcheck"
go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
gobin=$(go env GOBIN)
"${gobin:-$(go env GOPATH)/bin}/staticcheck" -tags goolm ./...

# -timeout: room for internal/app, the integration tests with real servers,
# on a slow or busy machine. It took over go test's default 10 minutes
# under -race on two cores before its tests ran in parallel (about 1.5
# minutes by itself now).
echo "== tests on SQLite"
go test -race -tags goolm -count=1 -timeout 30m "$@" ./...

if [ "${ROHRPOST_SKIP_POSTGRES:-}" = 1 ]; then
	echo "== PostgreSQL run skipped (ROHRPOST_SKIP_POSTGRES=1)"
	exit 0
fi
pgdir=$(mktemp -d /tmp/rohrpost-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
uri=$(scripts/postgres.sh start "$pgdir")
echo "== tests on PostgreSQL ($uri), components over NATS"
ROHRPOST_TEST_POSTGRES="$uri" ROHRPOST_TEST_OVER_BUS=1 ROHRPOST_TEST_SERVICES=1 go test -race -tags goolm -count=1 -timeout 30m "$@" ./...
