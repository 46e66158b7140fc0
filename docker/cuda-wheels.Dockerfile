# docker/cuda-wheels.Dockerfile: CUDA 13 + cuDNN 9 base images made from NVIDIA's wheels on PyPI and
# the Debian 12 base, for hosts that cannot pull NVIDIA's images (nvidia/cuda:*-cudnn-devel/-runtime).
# scripts/docker-cuda-base builds it with a build context holding exactly the wheels of
# docker/cuda-wheels.txt; its two targets are laid out like NVIDIA's images, so Dockerfile.gpu takes
# either as its base:
#   devel    the toolkit in /usr/local/cuda (bin/nvcc, include/, lib/ = lib64/, nvvm/) with cuDNN's
#            headers and libraries beside CUDA's, link names (libX.so) for every library;
#   runtime  only the libraries the trainer and the evaluator load (CUDA runtime, cuBLAS, cuBLASLt,
#            NVRTC, cuDNN) in /usr/local/cuda/lib64, with the link names that cuDNN dlopens.
# Neither has the driver's libcuda.so.1: the NVIDIA container runtime mounts the host's.
ARG BASE_IMAGE=debian:12-slim

FROM ${BASE_IMAGE} AS unpack
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip \
 && rm -rf /var/lib/apt/lists/*
COPY *.whl /wheels/
# The wheels ship versioned names only (libcudnn_graph.so.9); cuDNN dlopens link names
# (libcudnn_graph.so, libnvrtc.so) and the linker wants them: one symlink per library.
RUN set -e; \
    for w in /wheels/*.whl; do unzip -q -o "$w" 'nvidia/*' -d /unpacked; done; \
    d=/opt/cuda; mkdir -p "$d"; \
    cp -a /unpacked/nvidia/cu13/. "$d/"; \
    cp -a /unpacked/nvidia/cudnn/include/. "$d/include/"; \
    cp -a /unpacked/nvidia/cudnn/lib/. "$d/lib/"; \
    rm -rf "$d/.metadata"; \
    ln -s lib "$d/lib64"; \
    mkdir -p "$d/targets/x86_64-linux"; \
    ln -s ../../include "$d/targets/x86_64-linux/include"; \
    ln -s ../../lib "$d/targets/x86_64-linux/lib"; \
    cd "$d/lib"; \
    for f in lib*.so.*; do link=${f%%.so.*}.so; [ -e "$link" ] || ln -s "$f" "$link"; done; \
    r=/opt/cuda-runtime/lib64; mkdir -p "$r"; \
    for f in libcudart.so.* libcublas.so.* libcublasLt.so.* libnvrtc.so.* libnvrtc-builtins.so.* libcudnn*.so.*; do \
        cp -a "$f" "$r/"; link=${f%%.so.*}.so; cp -a "$link" "$r/"; \
    done; \
    rm -rf /unpacked

FROM ${BASE_IMAGE} AS devel
COPY --from=unpack /opt/cuda/ /usr/local/cuda-13.0/
RUN ln -s cuda-13.0 /usr/local/cuda \
 && echo /usr/local/cuda/lib64 >/etc/ld.so.conf.d/000-cuda.conf \
 && printf '/usr/local/nvidia/lib\n/usr/local/nvidia/lib64\n' >/etc/ld.so.conf.d/nvidia.conf \
 && ldconfig
ENV PATH=/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CUDA_VERSION=13.0 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA=cuda>=13.0
LABEL org.opencontainers.image.description="CUDA 13.0 + cuDNN 9.19 devel, from NVIDIA's PyPI wheels on Debian 12 (pawpipe: scripts/docker-cuda-base)"

FROM ${BASE_IMAGE} AS runtime
COPY --from=unpack /opt/cuda-runtime/ /usr/local/cuda-13.0/
RUN ln -s cuda-13.0 /usr/local/cuda \
 && echo /usr/local/cuda/lib64 >/etc/ld.so.conf.d/000-cuda.conf \
 && printf '/usr/local/nvidia/lib\n/usr/local/nvidia/lib64\n' >/etc/ld.so.conf.d/nvidia.conf \
 && ldconfig
ENV CUDA_VERSION=13.0 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA=cuda>=13.0
LABEL org.opencontainers.image.description="CUDA 13.0 + cuDNN 9.19 runtime libraries, from NVIDIA's PyPI wheels on Debian 12 (pawpipe: scripts/docker-cuda-base)"
