# syntax=docker/dockerfile:1
# Multi-stage build of charon-dkg-sidecar: a release binary on a small
# distroless base, running as an unprivileged user (UID/GID 1000, as the dv-pod
# chart's securityContext expects). No charon binary is needed: the DKG is embedded.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin charon-dkg-sidecar \
    && strip target/release/charon-dkg-sidecar \
    && cp target/release/charon-dkg-sidecar /charon-dkg-sidecar

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /charon-dkg-sidecar /usr/local/bin/charon-dkg-sidecar
USER 1000:1000
WORKDIR /charon-data
# The chart passes [operatorAddress, enrFile] as args; they follow `run`.
ENTRYPOINT ["/usr/local/bin/charon-dkg-sidecar", "run"]
