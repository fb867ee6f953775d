# sse serve in a container: a Mercure hub with durable history in /data.
#
#   docker build -t sse .
#   docker run -p 3000:3000 -v sse-data:/data \
#     -e SSE_PUBLISHER_JWT_KEY=… -e SSE_SUBSCRIBER_JWT_KEY=… \
#     -e SSE_PUBLIC_URL=https://hub.example.com/.well-known/mercure sse
#
# The hub listens on 0.0.0.0 here, so it needs keys (it refuses to start
# without them anywhere but loopback): pass them as variables, or mount key
# files and set SSE_PUBLISHER_JWT_KEY_FILE / SSE_SUBSCRIBER_JWT_KEY_FILE.
# Every other setting is an SSE_* variable too (`sse serve --help`).

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sse-cli \
 && install -D -m 0755 target/release/sse /out/sse

FROM debian:bookworm-slim
# ca-certificates: `sse publish`/`listen` to HTTPS peers; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin sse \
 && install -d -o sse -g sse -m 0700 /data
COPY --from=build /out/sse /usr/local/bin/sse
USER sse
WORKDIR /data
VOLUME ["/data"]
ENV SSE_ADDR=0.0.0.0:3000 \
    SSE_STORE=sqlite:///data/hub.sqlite3 \
    SSE_LOG_FORMAT=json
EXPOSE 3000
# /healthz is 503 when the store fails; with --tls-cert, probe https://
# (curl -k) or serve /healthz on a cleartext --metrics-addr instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
# SIGTERM (docker stop) ends streams with a retry: so clients come back.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sse"]
CMD ["serve"]
