# pxrelay container image. Built by Railway from railway.toml (builder = "DOCKERFILE"); works the same with
# `docker build -t pxrelay .` or `podman build --format docker -t pxrelay .` (the OCI format has no SHELL and no
# HEALTHCHECK). Deployment guide: docs/deploy-railway.md; build smoke test without a registry: .ci/container-smoke.
#
# No secret is baked in: PROJECT_X_*, JWT_TOKEN and WEBHOOK_SECRET come from the environment at run time.
# config/default.toml and the journal migrations are compiled into the binary (include_str!), so the runtime image
# holds only the binary and the CA certificates.

# Rust toolchain for the build; `1` is the newest stable 1.x (the workspace needs 1.89 or later). Pin a release with
# `--build-arg RUST_VERSION=1.95` for a reproducible toolchain.
ARG RUST_VERSION=1

# ---------------------------------------------------------------------------------------------------------------------
# Manifests: the workspace reduced to its Cargo.toml files and Cargo.lock. The dependency layer below is keyed on
# exactly these files (build caches compare content), so editing a source file never rebuilds the dependencies, and
# a crate added under crates/ needs no change here.
FROM rust:${RUST_VERSION}-slim-bookworm AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name Cargo.toml ! -name Cargo.lock -delete \
    && find . -mindepth 1 -type d -empty -delete

# ---------------------------------------------------------------------------------------------------------------------
# Builder. The rust slim image already carries gcc and libc6-dev, which is all the C that ring and rusqlite's bundled
# SQLite need; nothing else is installed.
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# 1. Dependencies, in a layer of their own. Cargo loads the whole workspace, so every member gets stub sources:
#    src/lib.rs, every target file its manifest names with `path = "..."` (e.g. the pxrelay binary) and the default
#    file of every [[bench]], [[test]] and [[example]] (cargo insists they exist even when it does not build them).
#    The stubs are deleted after the build, so none can leak into the image.
COPY --from=manifests /src/ ./
RUN find . -mindepth 2 -name Cargo.toml | while IFS= read -r manifest; do \
        dir="${manifest%/Cargo.toml}"; \
        awk 'BEGIN { print "src/lib.rs" } \
             /^\[/ { section = $1; next } \
             match($0, /"[^"]*"/) { value = substr($0, RSTART + 1, RLENGTH - 2) } \
             /^path *=/ && section ~ /^\[(lib|\[(bin|bench|test|example)\])\]$/ { print value } \
             /^name *=/ && section == "[[bench]]" { print "benches/" value ".rs" } \
             /^name *=/ && section == "[[test]]" { print "tests/" value ".rs" } \
             /^name *=/ && section == "[[example]]" { print "examples/" value ".rs" }' "$manifest" \
        | while IFS= read -r file; do \
            mkdir -p "$(dirname "$dir/$file")"; \
            echo '#![allow(dead_code)] fn main() {}' > "$dir/$file"; \
            echo "$dir/$file" >> /tmp/stubs; \
        done; \
    done \
    && cargo build --release --locked -p pxrelay \
    && xargs rm -f < /tmp/stubs \
    && rm /tmp/stubs

# 2. The application. COPY keeps the files' original modification times, which can be older than the stub build;
#    touching them makes cargo rebuild the workspace crates instead of reusing the stub artifacts.
COPY config config
COPY crates crates
RUN find config crates -type f -exec touch {} + \
    && cargo build --release --locked -p pxrelay \
    && install -D -m 0755 target/release/pxrelay /out/pxrelay

# ---------------------------------------------------------------------------------------------------------------------
# Runtime: Debian slim (same glibc as the builder) with the CA roots that rustls reads through rustls-native-certs /
# rustls-platform-verifier. ca-certificates is pinned to its upstream release; Debian security revisions still apply.
FROM debian:bookworm-slim AS runtime

LABEL org.opencontainers.image.title="pxrelay" \
      org.opencontainers.image.description="TradingView webhooks to ProjectX Gateway orders" \
      org.opencontainers.image.licenses="MIT"

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pxrelay \
    && useradd --system --uid 10001 --gid pxrelay --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin pxrelay \
    && mkdir -p /data /app \
    && chown pxrelay:pxrelay /data

COPY --from=builder /out/pxrelay /usr/local/bin/pxrelay

# The SQLite alert journal lives on the volume mounted at /data (Railway: add a volume with mount path /data). There
# is deliberately no VOLUME instruction: Railway rejects Dockerfiles that declare one.
ENV DATABASE_URL=/data/pxrelay.db
# The working directory is empty and owned by root (created above, so WORKDIR does not create it for the user):
# pxrelay writes nothing there, and it is not the volume because a `.env` in the working directory would be read.
WORKDIR /app

# Numeric, so runtimes can verify it is not root without reading /etc/passwd (uid 10001 = pxrelay).
USER 10001:10001

# pxrelay listens on $PORT (Railway sets it), 8080 when unset, on all interfaces (HOST=0.0.0.0).
EXPOSE 8080

# Liveness for `docker run` / podman / compose. Railway ignores this and uses healthcheckPath from railway.toml.
# The slim image has no curl or wget, and adding one (with its TLS and HTTP libraries) only for this is not worth
# it: bash's /dev/tcp sends a plain HTTP/1.0 GET /health to the port the process listens on and passes on a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# SIGTERM (docker stop, Railway redeploys) starts pxrelay's graceful shutdown; pxrelay runs as PID 1 and installs its
# own handlers, so the signal reaches it directly.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pxrelay"]
CMD ["serve"]
