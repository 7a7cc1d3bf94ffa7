# DearMe backend: one image for every process; services differ by command only
#   dearme serve     HTTP API            :8000  (/health/live, /health/ready, /metrics)
#   dearme worker    background jobs     :9100  (METRICS_ADDR: /health/live, /metrics)
#   dearme migrate   one-shot schema migrations (DATABASE_DIRECT_URL)
#   dearme dev-llm   development OpenAI-compatible LLM :8090
# Migrations are embedded in the binary (sqlx::migrate!), so the runtime needs no files.
#
#   docker build -t dearme:local .        (or: docker compose -f docker-compose.prod.yml build)

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.77

# ---------------------------------------------------------------------------------------
# Dependency caching with cargo-chef: `prepare` reduces the workspace to its manifests and
# lock file (recipe.json); `cook` builds only the dependencies from it. That layer is reused
# until Cargo.toml/Cargo.lock change, so a source change recompiles only the dearme crate.
FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# The build's settings (.cargo/config.toml: the allocator's compile-time default) apply to the
# dependencies cooked here too.
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
# No query!-style macros need a database at build time; SQLX_OFFLINE makes sure none tries.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked --bin dearme \
    && install -D -m 0755 target/release/dearme /out/dearme

# ---------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to the LLM provider and the SMTP relay. Nothing else: the health
# probe is a bash script (/dev/tcp), not curl.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 dearme \
    && useradd --system --uid 10001 --gid dearme --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin dearme
COPY --from=builder /out/dearme /usr/local/bin/dearme
COPY deploy/probe /usr/local/bin/probe

USER 10001:10001
ENV LISTEN_ADDR=0.0.0.0:8000 \
    METRICS_ADDR=0.0.0.0:9100 \
    LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8000 9100 8090
# `dearme` drains in-flight requests on SIGTERM (docker stop / compose down).
STOPSIGNAL SIGTERM
# For `serve`, the default command; compose overrides it for worker, dev-llm and migrate.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["probe", "http", "8000", "/health/live"]
CMD ["dearme", "serve"]
