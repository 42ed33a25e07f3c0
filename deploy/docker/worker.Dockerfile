# memmgr-worker: runs RISC-V guest sandboxes (`memmgr-worker serve`: Worker
# gRPC :7071, Prometheus /metrics :9465), with memmgrctl for `kubectl exec`.
# Build from the repo root:
#   docker build -f deploy/docker/worker.Dockerfile -t memmgr-worker:0.1.0 .
# tests/deploy/docker_images_test.sh checks this file offline: lint rules, the
# runtime packages against `ldd` of the real binaries, the build stage against
# the CMake build dir and scripts/install-deps. Keep both images' build stages
# identical (same packages, same cmake line).

# ---- build: the repository's own CMake build (RelWithDebInfo, Ninja) --------
FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
# scripts/install-deps --list without the lint/test-only packages (clang,
# clang-format, git, prometheus, curl, ca-certificates, yamllint, shellcheck,
# nodejs, npm; tests/deploy/docker_check.py names the reasons). The cross
# compiler and qemu-user stay: configuring the project (tests/ included)
# requires them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build pkg-config g++ \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      librocksdb-dev prometheus-cpp-dev libabsl-dev \
      libgtest-dev libgmock-dev libbenchmark-dev \
      liblz4-dev libzstd-dev libnuma-dev \
      gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && ninja -C build memmgr-worker memmgrctl

# ---- runtime: debian:12-slim + the shared libraries the binaries load -------
FROM debian:12-slim
LABEL org.opencontainers.image.title="memmgr-worker" \
      org.opencontainers.image.description="memmgr worker: RISC-V sandboxes (gRPC 7071, metrics 9465)" \
      org.opencontainers.image.version="0.1.0"
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libabsl20220623 libc-ares2 libcivetweb1 libgflags2.2 libgrpc++1.51 \
      libgrpc29 libnuma1 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libprotobuf32 libre2-9 librocksdb7.8 libsnappy1v5 libssl3 \
 && rm -rf /var/lib/apt/lists/*
# uid/gid 10001: the Kubernetes manifests' runAsUser/runAsGroup.
RUN groupadd --system --gid 10001 memmgr \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin memmgr
COPY --from=build /src/build/worker/memmgr-worker /usr/local/bin/memmgr-worker
COPY --from=build /src/build/client/memmgrctl /usr/local/bin/memmgrctl
USER 10001:10001
# --swap=embedded (the default) keeps its RocksDB in $TMPDIR (/tmp); in
# production the worker swaps to memmgr-server (--server=HOST:7070).
WORKDIR /tmp
EXPOSE 7071 9465
# For plain Docker; Kubernetes ignores it and probes the gRPC health service.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/memmgrctl", "--worker=127.0.0.1:7071", "--attempts=1", "--deadline=5s", "worker-stats"]
# SIGTERM kills the sandboxes, drains RPCs (--shutdown_grace) and exits 0.
ENTRYPOINT ["/usr/local/bin/memmgr-worker"]
CMD ["serve", "--listen=0.0.0.0:7071", "--metrics_listen=0.0.0.0:9465"]
