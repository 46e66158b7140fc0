#!/usr/bin/env bash
# pipeline_script.sh: scripts/pipeline end to end on a small built-in data set, as a user runs it.
# Scenarios (one per ctest entry):
#   run        2 short epochs of model2 with 2 augmenters: exit 0, both checkpoints, history.csv with
#              Keras' column names and a row per epoch, curves.png a PNG, the outputs listed, every
#              stage exited by itself at the announced end (none had to be stopped), the run folder's
#              END marker; an image cache left in shared memory by killed augmenters (no holder) is
#              removed
#   interrupt  SIGINT (Ctrl-C) after the first checkpoint: exit 130
#   killed     SIGKILL of the script itself: its children follow it (PDEATHSIG)
#   loader     the loader SIGKILLed after the first checkpoint: the script restarts it, the trainer
#              sends START again at its position when batches stop, and the run completes
#   trainer    the trainer SIGKILLed after the first checkpoint: the script restarts it with
#              --resume-latest, and the run ends with the weights and optimizer state of the same run
#              uninterrupted, bit for bit
#   edited     the script file replaced (as git does) and rewritten in place (as an editor saves) while
#              it runs: the run still ends well, running only what it started with
# and after each: no process of the run is left. A run's processes are found by a marker variable in
# their environment, which every child inherits.
# usage: pipeline_script.sh BIN_DIR SCENARIO
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 scenario=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-script.XXXXXX")
tag="pawpipe-test-$$-$RANDOM"
pp=""

cleanup() {
    [ -n "$pp" ] && kill -KILL "$pp" 2>/dev/null
    for p in $(run_pids); do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$work"/out.log "$work"/run/logs/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

run_pids() {   # processes whose environment carries the run's marker
    local f
    for f in /proc/[0-9]*/environ; do
        { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "PAWPIPE_TEST_RUN=$tag" && { f=${f#/proc/}; echo "${f%/environ}"; }
    done
    return 0
}

no_process_left() {   # within 5 s
    local left
    for _ in $(seq 50); do
        left=$(run_pids)
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    for p in $left; do echo "left: $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" >&2; done
    fail "$scenario: processes of the run are still alive"
}

script="$root/scripts/pipeline"
start_pipeline() {   # start_pipeline EPOCHS STEPS [RUN_DIR]: in the background, pid in $pp
    # In a process group of its own, as a terminal's foreground job: a background job of a script
    # without job control would ignore SIGINT, which a terminal's Ctrl-C sends to the whole group.
    set -m
    PAWPIPE_TEST_RUN=$tag PAWPIPE_VALIDATION_STEPS=2 "$script" --bin "$bin" \
        --data "$work/data" --model "$root/models/model2.ini" --epochs "$1" --steps-per-epoch "$2" \
        --augmenters 2 --backend cpu --run-dir "${3:-$work/run}" >"$work/out.log" 2>&1 &
    pp=$!
    set +m
}

wait_exit() {   # wait_exit SECONDS: the pipeline's exit status in $rc, or fail when it is still running
    for _ in $(seq $(($1 * 10))); do
        kill -0 "$pp" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pp" 2>/dev/null && fail "the pipeline still runs after $1 s"
    wait "$pp"; rc=$?; pp=""
}

wait_running() {   # until the script, loader, 2 augmenters, trainer and evaluator all run
    for _ in $(seq 600); do
        [ "$(run_pids | wc -l)" -ge 6 ] && return 0
        sleep 0.1
    done
    fail "the run's processes did not all start"
}

wait_first_checkpoint() {   # until epoch 1's checkpoint is written, the run still going
    for _ in $(seq 600); do
        [ -s "$work/run/ckpt-epoch-001.safetensors" ] && return 0
        kill -0 "$pp" 2>/dev/null || fail "the pipeline ended before its first checkpoint"
        sleep 0.1
    done
    fail "no checkpoint within 60 s"
}

expect_history_epochs() {   # expect_history_epochs "1 2 ...": the epochs of history.csv's rows, sorted
    local got   # (a checkpoint missed on the stream is scored from its file at the end, after later ones)
    got=$(tail -n +2 "$work/run/history.csv" | cut -d, -f1 | sort -n | tr '\n' ' ')
    [ "$got" = "$1 " ] || fail "history.csv rows: $got(want $1)"
}

new_version() {   # new_version FILE: the pipeline script, longer, failing wherever a stale read lands
    { for i in $(seq 200); do echo "echo 'stale read of the edited script ($i)' >&2; exit 97"; done
      cat "$root/scripts/pipeline"; } >"$1"
}

kill_stage() {   # kill_stage NAME: SIGKILL the run's process of bin/NAME (as a crash would)
    local p victim=""
    for p in $(run_pids); do
        case "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" in "$bin/$1 "*) victim=$p ;; esac
    done
    [ -n "$victim" ] || fail "no $1 process found"
    kill -KILL "$victim"
}

png_size() {   # "WIDTHxHEIGHT" of a PNG file, or nothing when it is not one
    [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || return 0
    local w h
    w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print (($1 * 256 + $2) * 256 + $3) * 256 + $4}')
    h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print (($1 * 256 + $2) * 256 + $3) * 256 + $4}')
    echo "${w}x${h}"
}

"$bin/gen_dataset" --out "$work/data" --train 30 --validation 20 --test 2 >/dev/null ||
    fail "gen_dataset"

case "$scenario" in
run)
    stale=""
    if [ -d /dev/shm ] && command -v flock >/dev/null; then
        stale="/dev/shm/pawpipe-cache-$(id -u)-test$$"
        head -c 4096 /dev/zero >"$stale"
    fi
    start_pipeline 2 3
    wait "$pp"; rc=$?; pp=""
    [ $rc -eq 0 ] || fail "pipeline exited $rc"
    for f in ckpt-epoch-001.safetensors ckpt-epoch-002.safetensors history.csv curves.png logs/trainer.log; do
        [ -s "$work/run/$f" ] || fail "no $f in the run folder"
    done
    head -n 1 "$work/run/history.csv" | grep -q '^epoch,step,loss,accuracy,val_loss,val_accuracy,' ||
        fail "history.csv header: $(head -n 1 "$work/run/history.csv")"
    expect_history_epochs "1 2"
    size=$(png_size "$work/run/curves.png")
    [ -n "$size" ] || fail "curves.png is not a PNG"
    grep -q "Outputs in $work/run" "$work/out.log" || fail "the outputs' folder is not printed"
    grep "did not exit by itself" "$work/out.log" && fail "a stage did not exit at the end of the run"
    for name in loader augmenter1 augmenter2; do
        grep -q "the run\|the end of the run" "$work/run/logs/$name.log" || fail "$name did not hear of the end"
    done
    grep -q '^epochs 2$' "$work/run/END" || fail "no END marker for 2 epochs in the run folder"
    [ -z "$stale" ] || [ ! -e "$stale" ] || { rm -f "$stale"; fail "an unused image cache was left in /dev/shm"; }
    echo "run: 2 epochs, history.csv and curves.png ($size) written; every stage exited by itself at the end"
    ;;
interrupt)
    start_pipeline 50 5
    wait_first_checkpoint
    [ -n "$(run_pids)" ] || fail "no process of the run found by its marker"
    kill -INT -- "-$pp"   # Ctrl-C: the whole process group
    wait "$pp"; rc=$?; pp=""
    [ $rc -eq 130 ] || fail "exit status after SIGINT: $rc (want 130)"
    grep -q "interrupted" "$work/out.log" || fail "no word of the interruption"
    echo "interrupt: exit 130 after the first checkpoint"
    ;;
killed)
    start_pipeline 50 5
    wait_running
    sleep 1
    kill -KILL "$pp"
    wait "$pp" 2>/dev/null; pp=""
    echo "killed: the script SIGKILLed with its processes running"
    ;;
loader)
    export PAWPIPE_STALL_MS=1500   # the trainer's wait before it sends START again (default 15 s)
    start_pipeline 6 5
    wait_first_checkpoint
    kill_stage loader
    wait_exit 60
    [ $rc -eq 0 ] || fail "pipeline exited $rc after its loader was killed"
    grep -q "restarting it" "$work/out.log" || fail "the script did not say it restarted the loader"
    expect_history_epochs "1 2 3 4 5 6"
    grep -q "START there again" "$work/run/logs/trainer.log" || fail "the trainer did not send START again"
    echo "loader: killed after epoch 1, restarted, and all 6 epochs trained and scored"
    ;;
trainer)
    start_pipeline 3 3 "$work/straight"
    wait_exit 120
    [ $rc -eq 0 ] || fail "the uninterrupted run exited $rc"
    no_process_left
    start_pipeline 3 3
    wait_first_checkpoint
    kill_stage trainer
    wait_exit 120
    [ $rc -eq 0 ] || fail "pipeline exited $rc after its trainer was killed"
    grep -q "restarting it with --resume-latest" "$work/out.log" || fail "the script did not restart the trainer"
    grep -q "resuming from .*latest.safetensors" "$work/run/logs/trainer.log" || fail "the trainer did not resume"
    expect_history_epochs "1 2 3"
    data() { local n; n=$(od -An -tu8 -N8 "$1" | tr -d ' '); tail -c +$((9 + n)) "$1"; }   # past the header
    cmp -s <(data "$work/straight/ckpt-epoch-003.safetensors") <(data "$work/run/ckpt-epoch-003.safetensors") ||
        fail "the resumed run's final weights differ from the uninterrupted run's"
    echo "trainer: killed after epoch 1, restarted with --resume-latest; final checkpoint equal to the uninterrupted run's"
    ;;
edited)
    mkdir -p "$work/scripts"
    cp "$root/scripts/pipeline" "$work/scripts/pipeline"
    script="$work/scripts/pipeline"
    start_pipeline 4 5
    wait_running
    new_version "$script.new"
    chmod +x "$script.new"
    mv "$script.new" "$script"   # as git does: a new file under the old name
    wait "$pp"; rc=$?; pp=""
    grep -q "stale read" "$work/out.log" && fail "the running script read the edited file"
    [ $rc -eq 0 ] || fail "pipeline exited $rc after its file was replaced"
    # and the same file rewritten in place (an editor's save)
    cp "$root/scripts/pipeline" "$script"
    start_pipeline 4 5
    wait_running
    new_version "$work/new"
    cat "$work/new" >"$script"
    wait "$pp"; rc=$?; pp=""
    grep -q "stale read" "$work/out.log" && fail "the running script read the file rewritten in place"
    [ $rc -eq 0 ] || fail "pipeline exited $rc after its file was rewritten in place"
    echo "edited: the runs ended well with their script replaced and rewritten mid-run"
    ;;
*) fail "unknown scenario $scenario" ;;
esac
no_process_left
echo "no process of the run is left"
