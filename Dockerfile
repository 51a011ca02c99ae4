# syntax=docker/dockerfile:1
# AeThex Cloud images: `docker build --target origin -t aethex-origin .`,
# `--target relay -t aethex-relay .`, `--target edge -t aethex-edge .`.
# One build stage compiles the three server binaries; each image holds one of them.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config make cmake clang \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin aethex --bin aethex-relay --bin aethex-edge \
 && mkdir -p /out \
 && cp target/release/aethex target/release/aethex-relay target/release/aethex-edge /out/

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/aethex --create-home aethex
USER 10001
WORKDIR /var/lib/aethex
ENTRYPOINT ["/usr/bin/tini", "--"]

# Origin: REST, JSON-RPC, auth, saves, social, analytics, DLC, matchmaking. Keeps its data
# (database file unless storage.database_url is set, keys, blobs) in /var/lib/aethex.
FROM runtime AS origin
COPY --from=build /out/aethex /usr/local/bin/aethex
ENV AETHEX_SERVER__LISTEN=0.0.0.0:8080 \
    AETHEX_STORAGE__DATA_DIR=/var/lib/aethex \
    AETHEX_EDGE__EMBEDDED=false \
    AETHEX_MULTIPLAYER__EMBEDDED_RELAY=false
EXPOSE 8080
VOLUME ["/var/lib/aethex"]
CMD ["/usr/local/bin/aethex", "serve"]

# Relay: one per region (WebSocket rooms on 7350/tcp, P2P address discovery on 7351/udp).
FROM runtime AS relay
COPY --from=build /out/aethex-relay /usr/local/bin/aethex-relay
ENV AETHEX_RELAY__LISTEN=0.0.0.0:7350 \
    AETHEX_RELAY__UDP_LISTEN=0.0.0.0:7351
EXPOSE 7350/tcp 7351/udp
CMD ["/usr/local/bin/aethex-relay"]

# Native edge: reads from its own libSQL replica, forwards the rest to origin.
FROM runtime AS edge
COPY --from=build /out/aethex-edge /usr/local/bin/aethex-edge
ENV AETHEX_NODE__LISTEN=0.0.0.0:8081 \
    AETHEX_NODE__DATA_DIR=/var/lib/aethex/edge
EXPOSE 8081
CMD ["/usr/local/bin/aethex-edge"]
