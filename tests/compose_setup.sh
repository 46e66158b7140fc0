#!/usr/bin/env bash
# tests/compose_setup.sh: the setup of the Docker tests (ctest fixture "compose", label compose):
#   - installs what is missing (docker.io, docker-compose; debootstrap when the base image must be
#     made) with apt-get, and starts dockerd when no engine answers (compose_teardown.sh stops it);
#   - makes the Debian base image when it is missing (scripts/docker-base-image: pulled, else made
#     with debootstrap);
#   - builds the CPU image from the working tree once for the whole run (Docker's layer cache makes
#     a rebuild of unchanged sources take seconds), replacing the test's previous image;
#   - checks the image: under 400 MB, a non-root user by default, any uid can run it.
# usage: compose_setup.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
t0=$SECONDS

# --- the engine -----------------------------------------------------------------------------------
command -v "$DOCKER" >/dev/null || apt_install docker.io   # the client (an engine may answer already)
if ! "$DOCKER" info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || apt_install docker.io
    [ "$(id -u)" -eq 0 ] || fail "no Docker engine answers, and starting dockerd needs root."
    if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
        fail "a dockerd runs but does not answer ($DOCKER info fails): see its log."
    fi
    say "starting dockerd (stopped again by compose_teardown)"
    # Its own session, every descriptor elsewhere: ctest waits for the test's output to close.
    # The node announces one made-up GPU to Swarm, so that compose_gpu can check that the Swarm GPU
    # file's reservation is honoured (no process ever sees a GPU through it).
    PATH=$PATH:/usr/sbin:/sbin setsid dockerd --node-generic-resource "NVIDIA-GPU=GPU-pawpipe-ctest-0" \
        </dev/null >"$state/dockerd.log" 2>&1 &
    pid=$!
    printf 'dockerd=%s\n' "$pid" >"$(record dockerd "$pid")"   # not own: it outlives this test
    for _ in $(seq 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 0.5; done
    fail_logs=("$state/dockerd.log")
    "$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not come up within 30 s."
fi
if ! command -v docker-compose >/dev/null && ! "$DOCKER" compose version >/dev/null 2>&1; then
    apt_install docker-compose
fi
echo "engine $("$DOCKER" version -f '{{.Server.Version}}'), client $("$DOCKER" version -f '{{.Client.Version}}'), $(
    command -v docker-compose >/dev/null && docker-compose version --short || "$DOCKER" compose version --short)"

# --- the base image -------------------------------------------------------------------------------
if ! "$DOCKER" image inspect debian:12-slim >/dev/null 2>&1; then
    "$DOCKER" pull -q debian:12-slim >/dev/null 2>&1 || apt_install debootstrap
fi
DOCKER=$DOCKER "$root/scripts/docker-base-image"

# --- the CPU image --------------------------------------------------------------------------------
old=$("$DOCKER" image inspect -f '{{.Id}}' "$cpu_image" 2>/dev/null || true)
say "building $cpu_image (Dockerfile)"
t=$SECONDS
fail_logs=("$state/build-cpu.log")
"$DOCKER" build -t "$cpu_image" "$root" >"$state/build-cpu.log" 2>&1 || fail "docker build of Dockerfile failed."
new=$("$DOCKER" image inspect -f '{{.Id}}' "$cpu_image")
[ -z "$old" ] || [ "$old" = "$new" ] || "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
size=$("$DOCKER" image inspect -f '{{.Size}}' "$cpu_image")
echo "$cpu_image: $((size / 1000000)) MB, built in $((SECONDS - t)) s"
[ "$size" -lt 400000000 ] || fail "the CPU image is $((size / 1000000)) MB, not under 400 MB."
user=$("$DOCKER" run --rm "$cpu_image" id -u)
[ "$user" != 0 ] || fail "the image runs as root by default."
out=$("$DOCKER" run --rm -u "$test_uid:$test_gid" "$cpu_image" sh -c 'id -u; trainer --help >/dev/null && echo ok')
[ "$out" = "$test_uid"$'\n'ok ] || fail "the image does not run as uid $test_uid: $out"
echo "runs as uid $user by default, and as $test_uid:$test_gid when told; setup took $((SECONDS - t0)) s"
