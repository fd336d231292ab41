# rohrpost: one image for the single process and for every component of a
# separate-services deployment (chosen with --components, see
# docs/deploy.md).
#
#   docker build -t rohrpost .
#   docker run -p 8008:8008 -v rohrpost:/data --read-only --tmpfs /tmp rohrpost

# go.mod asks for go 1.26.8. The exact tag golang:1.26.8-bookworm could not
# be checked from where this file was written (no registry access), so the
# default is the 1.26 line's moving tag, which is that release or a newer
# patch. The official image sets GOTOOLCHAIN=local: a Go older than go.mod
# stops the build with a clear error instead of fetching a toolchain.
# Pin it for reproducible builds: --build-arg GO_IMAGE=golang:1.26.8-bookworm
ARG GO_IMAGE=golang:1.26-bookworm

# Bookworm on both stages: go-sqlite3 needs cgo, so the binary links
# against the build stage's glibc and must run on the same release.
FROM ${GO_IMAGE} AS build
WORKDIR /src
# Dependencies in their own layer: a source change does not fetch them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/rohrpost ./cmd/rohrpost

FROM debian:bookworm-slim
# ca-certificates: outgoing TLS (federation, PostgreSQL or NATS over TLS).
# /keys and /data/media exist so that a named volume mounted there
# (docker-compose.yml keeps the shared signing key and the media files in
# one each) starts out owned by uid 10001: Docker copies the image's
# directory, owner included, into an empty named volume. Without
# /data/media in the image the media volume would be root's and the media
# API could not write to it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rohrpost \
 && useradd --system --uid 10001 --gid 10001 --no-log-init \
      --home-dir /data --shell /usr/sbin/nologin rohrpost \
 && mkdir -p /data/media /keys \
 && chown 10001:10001 /data /data/media /keys
COPY --from=build /out/rohrpost /usr/local/bin/rohrpost
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# Everything rohrpost writes goes below its data_dir (SQLite, signing key,
# embedded NATS) and /tmp at most, so the root filesystem may be
# read-only (--read-only --tmpfs /tmp). A config mounted from elsewhere
# must say data_dir: /data: relative paths resolve against the config's
# own directory.
WORKDIR /data
VOLUME /data
# 8008 is the default listener (client and federation). 8448 is only
# served by a config that adds a TLS federation listener on it.
EXPOSE 8008 8448
# The image has no curl; the binary checks itself. It assumes the
# listener is on port 8008.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["rohrpost", "health", "http://127.0.0.1:8008/health"]
ENTRYPOINT ["rohrpost"]
# Without a config rohrpost listens on 127.0.0.1, unreachable from outside
# the container; this default makes `docker run` useful as it is (server
# name localhost, SQLite and NATS under /data/data). Any arguments given
# replace it, e.g. --config /etc/rohrpost/rohrpost.yaml --components X.
CMD ["--listen", "0.0.0.0:8008"]
