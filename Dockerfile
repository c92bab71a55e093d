# syntax=docker/dockerfile:1
# warden serve in a container: a static-enough binary on a distroless base,
# running as a non-root user with a read-only root filesystem. The workspace
# (warden.toml + .warden/) is mounted at /workspace; the server only reads
# it, except for audit events (serve.load / serve.skip) and checkpoints, so
# mount it read-write or point WARDEN_WORKSPACE at a writable copy.
#
#   docker build -t warden .
#   docker run --read-only -p 8080:8080 -v "$PWD/ws:/workspace" \
#     -e WARDEN_ACTOR=warden-server warden serve --env production --addr 0.0.0.0:8080

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin warden -p warden-cli \
 && install -D -m 0755 target/release/warden /out/warden

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/warden /usr/local/bin/warden
ENV WARDEN_WORKSPACE=/workspace
WORKDIR /workspace
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/warden"]
CMD ["serve", "--env", "production", "--addr", "0.0.0.0:8080"]
