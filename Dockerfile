# rohrpost: one image for the single process and for every component of a
# separate-services deployment (chosen with --components).
#
#   docker build -t rohrpost .
#   docker run -p 8008:8008 -v rohrpost:/data --read-only --tmpfs /tmp rohrpost
#
# The build stage needs cgo (github.com/mattn/go-sqlite3), so it is the
# Debian variant of the official Go image, the same Debian release as the
# runtime stage. go.mod says "go 1.26.8"; whether the exact tag
# golang:1.26.8-bookworm is published could not be checked here, so the
# default is the 1.26 line (its newest patch release). The official image
# sets GOTOOLCHAIN=local: if its Go were older than go.mod's line the build
# stops with a clear error instead of downloading another toolchain. Pin an
# exact version with --build-arg GO_IMAGE=golang:1.26.8-bookworm.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/rohrpost ./cmd/rohrpost

FROM debian:bookworm-slim
# ca-certificates for outgoing TLS (federation, PostgreSQL or NATS with
# TLS). /keys is where docker-compose.yml mounts the shared signing key;
# a named volume mounted there takes over the owner set here.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rohrpost \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --home-dir /data --shell /usr/sbin/nologin rohrpost \
 && mkdir -p /data /keys \
 && chown 10001:10001 /data /keys
COPY --from=build /out/rohrpost /usr/local/bin/rohrpost
USER 10001:10001
# rohrpost writes only below /data (SQLite, signing key, embedded NATS) and
# /tmp, so the root filesystem may be read-only (--read-only, --tmpfs /tmp).
WORKDIR /data
VOLUME /data
EXPOSE 8008 8448
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["rohrpost", "health", "http://127.0.0.1:8008/health"]
ENTRYPOINT ["rohrpost"]
# Without arguments: the single process on its defaults (server name
# localhost, SQLite and NATS under /data/data), reachable from outside the
# container. With a config: rohrpost --config /etc/rohrpost/rohrpost.yaml
# (its listener must bind 0.0.0.0).
CMD ["--listen", "0.0.0.0:8008"]
