# syntax=docker/dockerfile:1
# depot's container image: `docker build -t depot .` (BuildKit, the default
# builder since Docker 23, for the cache mounts).

# --- build ------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
# The whole workspace (the depot crate, entity/, migration/, benches/ that
# Cargo.toml names); .dockerignore keeps target/, .git and deployment files out.
COPY . .
# The registry and the target dir live in cache mounts, so a rebuild after a
# source change recompiles only depot's own crates. The binary is copied out
# in the same step, because the cache mount is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin depot \
 && install -D -m 0755 target/release/depot /out/depot

# --- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates unpinned on purpose: the newest CA list is the one wanted.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 depot \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/depot --no-create-home \
        --shell /usr/sbin/nologin depot \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/depot
COPY --from=build /out/depot /usr/local/bin/depot
# Fails the build if the binary needs a shared library the slim image lacks.
RUN depot --version

ENV DEPOT_LISTEN=0.0.0.0:8080 \
    DEPOT_DATA_DIR=/var/lib/depot
USER 10001:10001
# The embedded default (SQLite + local blobs) keeps its state in the data dir:
# mount a volume there (`-v depot-data:/var/lib/depot`) unless DEPOT_DATABASE_URL
# and DEPOT_STORAGE_URL point at PostgreSQL and S3.
WORKDIR /var/lib/depot
EXPOSE 8080

# No curl in the slim image: bash's /dev/tcp sends a plain HTTP/1.0 GET to
# /healthz (liveness: the process answers, no authentication) on the port
# DEPOT_LISTEN names, and the check passes on a 200 status line.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${DEPOT_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["depot"]
CMD ["serve"]
