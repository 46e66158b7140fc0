#!/usr/bin/env bash
# tests/compose_teardown.sh: the cleanup of the Docker tests (ctest fixture "compose"): undoes what
# a test of the run left behind (it was killed: compose projects, stacks, a swarm, folders), then
# stops the dockerd that compose_setup.sh started, if it started one. Images stay (the next run's
# build cache); nothing that the tests did not make is touched.
# usage: compose_teardown.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
left=()
for f in "$state"/owned/*; do
    [ -e "$f" ] || continue
    k=$(cat "$f")
    case "$k" in dockerd=*) continue ;; esac
    left+=("$k")
done
[ ${#left[@]} -eq 0 ] || echo "undoing what tests left: ${left[*]}"
# in this order: compose projects and stacks (their containers write into the folders), the swarm
# and its network, then the folders
for kind in project stack swarm network dir; do
    for k in "${left[@]}"; do [ "${k%%=*}" = "$kind" ] && undo "$k"; done
done
for f in "$state"/owned/dockerd.*; do
    [ -e "$f" ] || continue
    k=$(cat "$f")
    echo "stopping the dockerd that compose_setup started (pid ${k#dockerd=})"
    undo "$k"
done
echo "teardown done"
