# Dockerfile: the CPU image of pawpipe, one image for every stage (loader, augmenter, trainer,
# evaluator, gen_dataset). Two stages:
#   build    Debian 12 with compilers and -dev packages; builds the five executables (no CUDA:
#            Debian has no nvcc; the GPU image is Dockerfile.gpu) and lists the Debian packages
#            that hold the libraries they load (docker/runtime-packages, from ldd);
#   runtime  Debian 12 with exactly those runtime packages, the executables and models/, running as
#            the non-root user pawpipe (uid/gid 1000 unless built with --build-arg PAWPIPE_UID=...;
#            compose.yaml runs it as ${PAWPIPE_UID}:${PAWPIPE_GID} anyway, see docs/docker.md).
# Written for the classic builder as well as BuildKit (no RUN --mount, no heredocs).
#   docker build -t pawpipe:latest .        (scripts/docker-base-image makes debian:12-slim offline)
ARG BASE_IMAGE=debian:12-slim

FROM ${BASE_IMAGE} AS build
# The build packages of scripts/dev (PACKAGES) without the test-only tools (clang, python3, git).
# ocl-icd-opencl-dev: Debian's oneDNN CMake package fails to configure without OpenCL's headers.
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libvips-dev libzmq3-dev libmsgpack-dev libdnnl-dev ocl-icd-opencl-dev libinih-dev \
      libcairo2-dev libssl-dev libjansson-dev libhdf5-dev libzip-dev libprotobuf-c-dev protobuf-c-compiler libisal-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG JOBS=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPAWPIPE_CUDA=OFF >/dev/null \
 && cmake --build /build -j "${JOBS:-$(nproc)}" --target loader augmenter trainer evaluator gen_dataset keygen \
 && mkdir -p /out/bin \
 && for e in loader augmenter trainer evaluator gen_dataset keygen; do strip -o /out/bin/$e /build/bin/$e; done \
 && docker/runtime-packages /out/bin/* >/out/runtime-packages \
 && echo "runtime packages: $(tr '\n' ' ' </out/runtime-packages)"

FROM ${BASE_IMAGE} AS runtime
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive xargs -a /tmp/runtime-packages apt-get install -y -qq --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
ARG PAWPIPE_UID=1000
ARG PAWPIPE_GID=1000
RUN groupadd -g "${PAWPIPE_GID}" pawpipe && useradd -u "${PAWPIPE_UID}" -g "${PAWPIPE_GID}" -m -s /bin/bash pawpipe
COPY --from=build /out/bin/ /usr/local/bin/
COPY models/ /opt/pawpipe/models/
WORKDIR /opt/pawpipe
# Any uid may run the image (compose's user:): caches go to /tmp, not to a home it may not have.
ENV XDG_CACHE_HOME=/tmp/.cache \
    OMP_WAIT_POLICY=passive
USER pawpipe
CMD ["trainer", "--help"]
