# syntax=docker/dockerfile:1
# The trilens image: one static binary that runs any target (`up`, `--target=scorer`, ...).
# Build: docker compose build, or docker build -t trilens:dev .

# Base images are pinned by digest (tag kept for reading). The digests are those pinned by
# github.com/kubeswift-io/kubeswift-spin, Dockerfile at commit 4fc611825eb3 (public source;
# no registry is reachable from the machine that pinned them): bump tag and digest together.
FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
# The whole workspace: services/trilens imports the other modules through go.work.
COPY . .
# Cache mounts keep modules and build results between builds without listing every
# module's go.mod here (go.work grows as services are added).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/trilens ./services/trilens/cmd/trilens \
 && mkdir -p /out/data

# Distroless: CA certificates, tzdata and a nonroot user, no shell; the healthcheck is
# `trilens ready`, so nothing else is needed.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/trilens /usr/local/bin/trilens
# Owned by nonroot so a fresh named volume on /data inherits a writable directory.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
WORKDIR /data
USER 65532:65532
# 7070 HTTP (collectors' /v1/*, /healthz, /ready, /metrics), 4317 OTLP gRPC, 4318 OTLP HTTP.
EXPOSE 7070 4317 4318
ENTRYPOINT ["trilens"]
CMD ["up"]
