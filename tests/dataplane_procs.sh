#!/usr/bin/env bash
# dataplane_procs.sh: the data plane as real processes over tcp://127.0.0.1 on free ports: loader,
# augmenters and a dry-run trainer. Scenarios (one per ctest entry):
#   determinism   the dry-run output of 3 epochs is byte-identical with 1 augmenter, with 3, and when
#                 an augmenter holding jobs is SIGKILLed mid-epoch (its jobs are resent)
#   badinput      every bad-input case in the training folder: the run completes, the unusable files
#                 are skipped with one warning each and counted per epoch, batches stay full; missing,
#                 empty and one-class data folders fail at start-up with a clear message
#   flow          a trainer that stops reading: the loader's and the augmenter's memory stay flat
#   quiet         stages whose peers are gone (a crash) wait quietly: loader, augmenter and evaluator
#                 each use under 1% of a core over 5 s
#   late          stages started after the end of a run (its END marker in --run-dir) exit 0 by
#                 themselves: loader, augmenter, and an evaluator that first scores the run's epoch
#                 checkpoints missing from history.csv
# usage: dataplane_procs.sh BIN_DIR SCENARIO DRYRUN...   (DRYRUN: the consumer command, e.g.
#        BIN_DIR/trainer --dry-run, or BIN_DIR/dataplane_dryrun)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 scenario=$2
shift 2
dryrun=("$@")
work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-procs.XXXXXX")
declare -A pid=()

cleanup() {
    local p
    for p in "${pid[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
source "$root/tests/procs_lib.sh"

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$work"/*.log "$work"/*.err; do
        [ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
}






# run NAME N_AUG [victim] [loader and augmenter options...]: one whole run; the dry-run output in
# $work/NAME.out. With "victim", a first augmenter is frozen once two batches are out, killed with
# SIGKILL while it holds jobs, and N_AUG fresh augmenters finish the run.
run() {
    local name=$1 n=$2 victim=0
    shift 2
    [ "${1:-}" = victim ] && { victim=1; shift; }
    local pj pc pb pk
    read -r pj pc pb pk < <(ports 4)
    local jobs=tcp://127.0.0.1:$pj credits=tcp://127.0.0.1:$pc batches=tcp://127.0.0.1:$pb control=tcp://127.0.0.1:$pk
    start "loader-$name" "$bin/loader" --data "$work/data" --model "$work/spec.ini" --window 6 --resend-ms 500 \
        --jobs-bind "$jobs" --credits-bind "$credits" --control-bind "$control"
    "${dryrun[@]}" --model "$work/spec.ini" --window 6 --batches-bind "$batches" --credits "$credits" \
        >"$work/$name.out" 2>"$work/$name.err" &
    pid[dry-$name]=$!
    if [ $victim -eq 1 ]; then
        start "victim-$name" "$bin/augmenter" --jobs "$jobs" --batches "$batches" --control "$control" "$@"
        local i
        for ((i = 0; i < 200 && $(lines "$work/$name.out") < 2; i++)); do sleep 0.05; done
        [ "$(lines "$work/$name.out")" -ge 2 ] || fail "$name: no batch came out of the first augmenter"
        kill -STOP "${pid[victim-$name]}"   # it keeps what it holds; the loader's window fills up behind it
        lines "$work/$name.out" >"$work/$name.at"
        [ "$(cat "$work/$name.at")" -lt 50 ] || fail "$name: the first augmenter was nearly done before it was frozen"
        sleep 0.5
        kill -KILL "${pid[victim-$name]}"
        wait "${pid[victim-$name]}" 2>/dev/null
        unset "pid[victim-$name]"
    fi
    local k
    for ((k = 1; k <= n; k++)); do
        start "aug$k-$name" "$bin/augmenter" --jobs "$jobs" --batches "$batches" --control "$control" "$@"
    done
    wait_for "dry-$name" 60 || fail "$name: the dry run failed"
    wait_for "loader-$name" 10 || fail "$name: the loader failed"
    for ((k = 1; k <= n; k++)); do stop "aug$k-$name"; done
}

case "$scenario" in
determinism)
    # 60 photos of 640x480, batches of 6 at 150x150 (10 per pass), 6 epochs of one pass, augmented.
    # Run one keeps the decoded images in its cache, run three in the cache the three share; the
    # killed run decodes every time (--cache-mb 0), slow enough to freeze an augmenter mid-epoch.
    # None of this may change a byte.
    "$bin/dataplane_mkdata" data "$work/data" train 2 30 640 480 || fail "cannot write the data set"
    "$bin/dataplane_mkdata" spec "$work/spec.ini" 150 6 0 6 5 1 || fail "cannot write the spec"
    run one 1
    [ "$(lines "$work/one.out")" -eq 60 ] || fail "1 augmenter: $(lines "$work/one.out") batches, expected 60"
    run three 3
    cmp "$work/one.out" "$work/three.out" || fail "3 augmenters: the batches differ from 1 augmenter's"
    run killed 2 victim --cache-mb 0
    cmp "$work/one.out" "$work/killed.out" || fail "killed augmenter: the batches differ from 1 augmenter's"
    resends=$(grep -c "sent again" "$work/loader-killed.log")
    [ "$resends" -ge 1 ] || fail "killed augmenter: the loader resent nothing"
    echo "determinism: 60 batches identical with 1 augmenter, 3, and 2 after one was SIGKILLed at batch" \
         "$(cat "$work/killed.at") ($resends resends)"
    ;;

badinput)
    # 40 good images and the 9 cases in cats/ (49 files, 9 batches per pass, the last of one image)
    "$bin/dataplane_mkdata" data "$work/data" train 2 20 48 36 || fail "cannot write the data set"
    "$bin/dataplane_mkdata" bad "$work/data/train/cats" 400 300 || fail "cannot write the bad cases"
    "$bin/dataplane_mkdata" spec "$work/spec.ini" 24 6 0 2 3 1 || fail "cannot write the spec"
    run bad 1 --max-pixels 100000   # bad_big.jpg is 400x300 = 120000 pixels
    out=$work/bad.out
    [ "$(lines "$out")" -eq 18 ] || fail "$(lines "$out") batches, expected 2 x 9"
    # batches stay full: 6 images, but the last of each pass (49 = 8 x 6 + 1)
    awk '{ n = split($3, ids, ","); want = ($1 % 9 == 8) ? 1 : 6; if (n != want) { print "batch " $1 " has " n; bad = 1 } }
         END { exit bad }' "$out" || fail "a batch is not full"
    # the unusable files: sorted first in cats/ (ids 0-3), never in a batch; the convertible ones are
    for e in 1 2; do
        grep -q "epoch $e: .* 4 skipped" "$work/bad.err" || fail "epoch $e: 4 skipped files not reported"
    done
    awk '{ n = split($3, ids, ","); for (i = 1; i <= n; i++) seen[ids[i]]++ }
         END { for (i = 0; i < 4; i++) if (seen[i]) { print "unusable id " i " used"; bad = 1 }
               for (i = 24; i < 29; i++) if (seen[i] < 2) { print "convertible id " i " seen " seen[i] + 0 " times"; bad = 1 }
               exit bad }' "$out" || fail "unusable files used or convertible files skipped"
    for f in bad_empty.jpg bad_truncated.jpg bad_text.jpg bad_big.jpg; do
        n=$(grep "WARN" "$work/aug1-bad.log" | grep -c "$f")
        [ "$n" -eq 1 ] || fail "$f: warned $n times, expected once"
    done
    for f in ok_grey.jpg ok_cmyk.jpg ok_rgba.png ok_png_named.jpg ok_1x1.jpg; do
        grep "WARN" "$work/aug1-bad.log" | grep -q "$f" && fail "$f is convertible but was warned about"
    done
    # start-up failures with a clear message
    check_startup() {   # check_startup WHAT DIR PATTERN
        "$bin/loader" --data "$2" --model "$work/spec.ini" --jobs-bind "tcp://127.0.0.1:*" \
            --credits-bind "tcp://127.0.0.1:*" --control-bind "tcp://127.0.0.1:*" >"$work/startup.log" 2>&1
        local rc=$?
        [ $rc -ne 0 ] || fail "$1: the loader started"
        grep -q "$3" "$work/startup.log" || fail "$1: no clear message (wanted '$3')"
        echo "  $1: exit $rc, $(grep -o "$3.*" "$work/startup.log" | head -n 1)"
    }
    mkdir -p "$work/empty/train" "$work/one/train/cats" "$work/noimg/train/cats" "$work/noimg/train/dogs"
    cp "$work/data/train/dogs/img_0000.jpg" "$work/one/train/cats/"
    touch "$work/noimg/train/cats/readme.txt"
    check_startup "missing folder" "$work/nothing" "does not exist"
    check_startup "no class folders" "$work/empty" "no class folders"
    check_startup "one class" "$work/one" "need at least 2"
    check_startup "no images" "$work/noimg" "no images"
    echo "badinput: 18 full batches, 4 unusable files skipped with one warning each, 5 convertible used"
    ;;

flow)
    # a consumer that takes 2 batches and then reads nothing for 4 s
    "$bin/dataplane_mkdata" data "$work/data" train 2 12 400 300 || fail "cannot write the data set"
    "$bin/dataplane_mkdata" spec "$work/spec.ini" 64 4 0 2 9 1 || fail "cannot write the spec"
    read -r pj pc pb pk < <(ports 4)
    jobs=tcp://127.0.0.1:$pj credits=tcp://127.0.0.1:$pc batches=tcp://127.0.0.1:$pb control=tcp://127.0.0.1:$pk
    start loader "$bin/loader" --data "$work/data" --model "$work/spec.ini" --window 4 \
        --jobs-bind "$jobs" --credits-bind "$credits" --control-bind "$control"
    start aug "$bin/augmenter" --jobs "$jobs" --batches "$batches" --control "$control"
    "$bin/dataplane_dryrun" --model "$work/spec.ini" --window 4 --batches-bind "$batches" --credits "$credits" \
        --pause-after 2 --pause-ms 4000 >"$work/flow.out" 2>"$work/flow.err" &
    pid[dry]=$!
    for ((i = 0; i < 200; i++)); do grep -q pause "$work/flow.out" && break; sleep 0.05; done
    grep -q pause "$work/flow.out" || fail "the consumer never paused"
    sleep 1
    rss() { ps -o rss= -p "${pid[$1]}" | tr -d ' '; }
    l1=$(rss loader) a1=$(rss aug)
    sleep 2.5
    l2=$(rss loader) a2=$(rss aug)
    grep -q resume "$work/flow.out" && fail "the pause ended before the second measurement"
    echo "flow: RSS while the trainer reads nothing: loader ${l1} -> ${l2} KiB, augmenter ${a1} -> ${a2} KiB"
    [ $((l2 - l1)) -le 256 ] || fail "the loader grew by $((l2 - l1)) KiB while nobody read"
    [ $((a2 - a1)) -le 256 ] || fail "the augmenter grew by $((a2 - a1)) KiB while nobody read"
    wait_for dry 30 || fail "the consumer failed after its pause"
    wait_for loader 10 || fail "the loader failed"
    grep -q "taken 12 " "$work/flow.out" || fail "the run did not complete: $(tail -n 1 "$work/flow.out")"
    stop aug
    ;;

quiet)
    # nobody to talk to: an augmenter whose loader's host name does not resolve and whose trainer's
    # port is closed, a loader with no trainer, an evaluator with no trainer
    "$bin/dataplane_mkdata" data "$work/data" train 2 4 48 36 || fail "cannot write the data set"
    "$bin/dataplane_mkdata" spec "$work/spec.ini" 24 6 0 2 3 1 || fail "cannot write the spec"
    mkdir -p "$work/data/validation" && cp -r "$work/data/train/"* "$work/data/validation/"
    read -r pj pc pb pk < <(ports 4)
    start loader "$bin/loader" --data "$work/data" --model "$work/spec.ini" --jobs-bind "tcp://127.0.0.1:$pj" \
        --credits-bind "tcp://127.0.0.1:$pc" --control-bind "tcp://127.0.0.1:$pk"
    start aug "$bin/augmenter" --jobs "tcp://no-such-host.invalid:$pj" --batches "tcp://127.0.0.1:$pb" \
        --control "tcp://127.0.0.1:$pk" --cache-shared off
    start eval "$bin/evaluator" --data "$work/data" --checkpoints "tcp://127.0.0.1:$pb"
    sleep 2
    ticks() { awk '{ print $14 + $15 }' "/proc/${pid[$1]}/stat"; }
    declare -A t0=()
    for p in loader aug eval; do
        kill -0 "${pid[$p]}" 2>/dev/null || fail "$p exited while waiting"
        t0[$p]=$(ticks $p)
    done
    sleep 5
    hz=$(getconf CLK_TCK)
    for p in loader aug eval; do
        used=$(($(ticks $p) - ${t0[$p]}))
        echo "quiet: $p used $used of $((5 * hz)) clock ticks in 5 s"
        [ $((used * 100)) -le $((5 * hz)) ] || fail "$p used $used clock ticks in 5 s waiting for its peers (over 1%)"
    done
    for p in loader aug eval; do stop $p; done
    ;;

late)
    # a run folder whose run has ended: an END marker and two epoch checkpoints, one scored already
    "$bin/dataplane_mkdata" data "$work/data" train 2 6 48 36 || fail "cannot write the data set"
    mkdir -p "$work/data/validation" && cp -r "$work/data/train/"* "$work/data/validation/"
    "$bin/dataplane_mkdata" spec "$work/spec.ini" 24 6 0 2 3 1 || fail "cannot write the spec"
    run=$work/run
    read -r pj pc pb pk < <(ports 4)
    # a short real run makes the checkpoints (and the marker); its evaluator is left out
    start loader0 "$bin/loader" --data "$work/data" --model "$work/spec.ini" --jobs-bind "tcp://127.0.0.1:$pj" \
        --credits-bind "tcp://127.0.0.1:$pc" --control-bind "tcp://127.0.0.1:$pk" --epochs 2
    start aug0 "$bin/augmenter" --jobs "tcp://127.0.0.1:$pj" --batches "tcp://127.0.0.1:$pb" \
        --control "tcp://127.0.0.1:$pk" --cache-shared off
    "$bin/trainer" --model "$work/spec.ini" --epochs 2 --backend ref --run-dir "$run" --progress plain \
        --batches-bind "tcp://127.0.0.1:$pb" --credits "tcp://127.0.0.1:$pc" \
        --checkpoints-bind "tcp://127.0.0.1:*" >"$work/trainer.log" 2>&1 || fail "the trainer failed"
    wait_for loader0 10 || fail "the loader did not exit 0 at the end"
    wait_for aug0 10 || fail "the augmenter did not exit 0 at the end"
    [ -f "$run/END" ] && [ -f "$run/ckpt-epoch-002.safetensors" ] || fail "no END marker or checkpoints"
    "$bin/evaluator" --data "$work/data" --checkpoint "$run/ckpt-epoch-001.safetensors" >/dev/null 2>&1 ||
        fail "cannot score a checkpoint file"
    printf 'epoch,step,loss,accuracy,val_loss,val_accuracy\n1,6,0.7,0.5,0.7,0.5\n' >"$run/history.csv"
    # now the late ones, each on endpoints nobody serves
    read -r pj pc pb pk < <(ports 4)
    start loader "$bin/loader" --data "$work/data" --model "$work/spec.ini" --run-dir "$run" \
        --jobs-bind "tcp://127.0.0.1:$pj" --credits-bind "tcp://127.0.0.1:$pc" --control-bind "tcp://127.0.0.1:$pk"
    # (the augmenter listens elsewhere than where the late loader announces: it finds the marker itself)
    start aug "$bin/augmenter" --run-dir "$run" --jobs "tcp://127.0.0.1:$pj" --batches "tcp://127.0.0.1:$pb" \
        --control "tcp://127.0.0.1:$pb" --cache-shared off
    start eval "$bin/evaluator" --data "$work/data" --run-dir "$run" --checkpoints "tcp://127.0.0.1:$pb"
    for p in loader aug eval; do wait_for $p 20 || fail "the late $p did not exit 0"; done
    grep -q "the run is over" "$work/aug.log" || fail "the augmenter did not say why it exits"
    rows=$(awk -F, 'NR > 1 { print $1 }' "$run/history.csv" | tr '\n' ' ')
    [ "$rows" = "1 2 " ] || fail "history.csv epochs after the late evaluator: '$rows' (want '1 2 ')"
    echo "late: loader, augmenter and evaluator started after the end exited 0; the evaluator scored epoch 2"
    ;;

*)
    echo "unknown scenario '$scenario'" >&2
    exit 2
    ;;
esac
exit 0
