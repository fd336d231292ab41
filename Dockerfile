# rohrpost: one image for the single process and for every component of a
# separate-services deployment (choose with --components).
#
# The build stage needs cgo for SQLite. go.mod asks for Go 1.26; the
# 1.26 image on Debian bookworm matches the runtime stage's libc.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags='-s -w' -o /out/rohrpost ./cmd/rohrpost

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data rohrpost \
 && mkdir -p /data /keys \
 && chown rohrpost /data /keys
COPY --from=build /out/rohrpost /usr/local/bin/rohrpost
# Everything rohrpost writes goes below /data (database, signing key,
# embedded NATS); the root filesystem may be mounted read-only.
USER rohrpost
WORKDIR /data
VOLUME /data
EXPOSE 8008 8448
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["rohrpost", "health", "http://127.0.0.1:8008/health"]
ENTRYPOINT ["rohrpost"]
CMD ["--config", "/etc/rohrpost/rohrpost.yaml"]
