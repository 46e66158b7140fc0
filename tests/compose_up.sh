#!/usr/bin/env bash
# tests/compose_up.sh: compose.yaml as a user runs it, as a non-root uid:
#   `docker-compose up --scale augmenter=2` for three short epochs returns 0 by itself within the time
#   limit; every container (loader, 2 augmenters, trainer, evaluator) exited 0 and none restarted;
#   the checkpoints, history.csv (a row per epoch) and curves.png are in the run folder and belong to
#   that uid; the two augmenters shared one image cache in the shared-memory volume.
# usage: compose_up.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
need_engine
need_image "$cpu_image"

workdir up
make_data "$work/data" 30 20 2
compose_env "$work/data" "$work/runs"
export EPOCHS=3 STEPS_PER_EPOCH=4 PAWPIPE_VALIDATION_STEPS=2
project=pawpipe-ctest-up-$$
own project "$project"
fail_logs=("$work/up.log")

say "docker-compose up --scale augmenter=2 ($EPOCHS epochs of $STEPS_PER_EPOCH steps, uid $test_uid)"
t=$SECONDS
rc=0
timeout 240 "${compose_cmd[@]}" -p "$project" -f "$root/compose.yaml" up --no-build --scale augmenter=2 \
    >"$work/up.log" 2>&1 || rc=$?
[ $rc -ne 124 ] || fail "docker-compose up did not return within 240 s."
[ $rc -eq 0 ] || fail "docker-compose up exited $rc."
echo "docker-compose up returned 0 by itself after $((SECONDS - t)) s"

n=0
for s in loader augmenter trainer evaluator; do
    for c in $(containers "$project" "$s"); do
        n=$((n + 1))
        st=$("$DOCKER" inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$c")
        set -- $st
        [ "$2 $3 $4" = "exited 0 0" ] || fail "container $1: $2, exit code $3, restarted $4 times (want exited, 0, 0)."
    done
done
[ $n -eq 5 ] || fail "$n containers, not 5 (loader, 2 augmenters, trainer, evaluator)."
echo "all $n containers exited 0 without a restart"

expect_outputs "$work/runs/run" "$EPOCHS"
echo "checkpoints, history.csv and curves.png written, owned by $test_uid:$test_gid"
grep -q "created the shared image cache" "$work/up.log" || fail "no augmenter created a shared image cache."
[ "$(grep -c "created the shared image cache" "$work/up.log")" -eq 1 ] ||
    fail "each augmenter made its own image cache: the shared memory is not shared."
grep -q "MiB (private)" "$work/up.log" && fail "an augmenter fell back to a private cache."
echo "the augmenters shared one image cache"
