# MediBook: a multi-stage image. The builder compiles the one binary; the runtime image holds
# only that binary, CA certificates (SMTP/SMS/Google over TLS) and curl for the health check,
# and runs as an unprivileged user.
#
#   docker build -t medibook .
#   docker run -p 8080:8080 -v medibook-data:/var/lib/medibook medibook serve --demo

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p medibook \
    && cp target/release/medibook /usr/local/bin/medibook

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 medibook \
    && useradd --system --uid 10001 --gid medibook --home-dir /var/lib/medibook \
       --shell /usr/sbin/nologin medibook \
    && install -d -o medibook -g medibook -m 0750 /var/lib/medibook
COPY --from=builder /usr/local/bin/medibook /usr/local/bin/medibook
USER medibook:medibook
WORKDIR /var/lib/medibook
# The SQLite file and the generated secret live here (unused for the database on PostgreSQL).
ENV MEDIBOOK_DATA_DIR=/var/lib/medibook \
    MEDIBOOK_LISTEN=0.0.0.0:8080
VOLUME ["/var/lib/medibook"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD curl --fail --silent --show-error http://127.0.0.1:8080/healthz >/dev/null || exit 1
# SIGTERM lets the server drain open requests before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/medibook"]
CMD ["serve"]
