#!/usr/bin/env bash
# tests/compose_late.sh: stages that come after the end of a run. A short run without an evaluator
# (`up --scale evaluator=0`); then `docker-compose run --rm evaluator`, attached after the trainer
# ended, scores every epoch checkpoint of the run folder (history.csv, curves.png) and exits 0; and
# a late augmenter, loader and trainer (as a restart policy would start them) exit 0 by themselves,
# the trainer saying that the run is complete.
# usage: compose_late.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
need_engine
need_image "$cpu_image"

workdir late
make_data "$work/data" 30 20 2
compose_env "$work/data" "$work/runs"
export EPOCHS=2 STEPS_PER_EPOCH=3 PAWPIPE_VALIDATION_STEPS=2
run=$work/runs/run
project=pawpipe-ctest-late-$$
own project "$project"
fail_logs=("$work/up.log" "$work/late.log")

say "docker-compose up --scale evaluator=0 ($EPOCHS epochs of $STEPS_PER_EPOCH steps)"
rc=0
timeout 180 "${compose_cmd[@]}" -p "$project" -f "$root/compose.yaml" up --no-build --scale evaluator=0 \
    >"$work/up.log" 2>&1 || rc=$?
[ $rc -eq 0 ] || fail "docker-compose up exited $rc."
[ -e "$run/END" ] || fail "the run has no END marker after docker-compose up returned."
[ ! -e "$run/history.csv" ] || fail "history.csv exists, though no evaluator ran."

say "docker-compose run --rm evaluator, after the end"
t=$SECONDS
rc=0
timeout 120 "${compose_cmd[@]}" -p "$project" -f "$root/compose.yaml" run --rm evaluator >"$work/late.log" 2>&1 || rc=$?
[ $rc -ne 124 ] || fail "the late evaluator did not exit within 120 s."
[ $rc -eq 0 ] || fail "the late evaluator exited $rc."
expect_outputs "$run" "$EPOCHS"
echo "the late evaluator scored the run's $EPOCHS epoch checkpoints and exited 0 after $((SECONDS - t)) s"

for s in augmenter loader trainer; do
    t=$SECONDS
    rc=0
    timeout 60 "${compose_cmd[@]}" -p "$project" -f "$root/compose.yaml" run --rm "$s" >"$work/late.log" 2>&1 || rc=$?
    [ $rc -ne 124 ] || fail "a late $s did not exit within 60 s."
    [ $rc -eq 0 ] || fail "a late $s exited $rc."
    echo "a late $s exited 0 after $((SECONDS - t)) s: $(grep -Eio "(the run is (over|complete)[^\"]*|complete[^\"]*)" "$work/late.log" | head -n 1)"
done
grep -qi "complete" "$work/late.log" || fail "the late trainer did not say that the run is complete."
