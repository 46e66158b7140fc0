#!/usr/bin/env bash
# sockfuzz.sh: bad traffic to every socket the stages bind, in the middle of a real run (loader, two
# augmenters, a trainer with the ref backend, over tcp://127.0.0.1 on free ports; the run is 3 epochs
# of 100 steps of a tiny model).
#
# First a clean run, for reference. Then the same run again: after its first epoch the augmenters are
# stopped (SIGSTOP: the run waits for them, the loader and the trainer keep reading their sockets), and
# sockfuzz (tests/sockfuzz.c) sends ~1500 invalid messages to the loader's credit socket and as many to
# the trainer's batch socket, and junk and wrong-type connections to all five bound sockets (jobs,
# credits and control of the loader; batches and checkpoints of the trainer); then the augmenters go
# on. Checked:
#   - every process stays up and exits 0 at the end of the run;
#   - the run is the same: every epoch's loss and accuracy, and the weights of every epoch checkpoint,
#     bit for bit, as in the clean run; 300 batches taken;
#   - the counts add up: the loader's rejected messages are exactly what was sent to its credit socket,
#     the trainer's (its `network:` line and its batch stream's "rejected") what was sent to its batch
#     socket; the trainer's batch stream received exactly taken + duplicates + stale + rejected + the 4
#     markers; the connections each stage refused are exactly the junk and wrong-type ones sockfuzz made
#     to its sockets (proto/net.c counts the refusals libzmq reports as HANDSHAKE_FAILED and those it
#     drops silently: see there); no stage fails a handshake as a client, the augmenters count nothing;
#     the clean run counts nothing;
#   - the logs stay small: thousands of bad messages and ~200 bad connections give at most a few lines
#     per socket (common/ratelog.h), not one per message.
# usage: sockfuzz.sh BIN_DIR [--seed N]   (or SOCKFUZZ_SEED=N; the seed is printed; SOCKFUZZ_KEEP=1 keeps
#        the work folder with every log)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
shift
seed=${SOCKFUZZ_SEED:-}
[ "${1:-}" = --seed ] && seed=$2
for exe in loader augmenter trainer dataplane_mkdata sockfuzz; do
    [ -x "$bin/$exe" ] || { echo "SKIP: $bin/$exe is not built"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-sockfuzz.XXXXXX")
declare -A pid=()
EPOCHS=3 STEPS=100

cleanup() {
    local p
    for p in "${pid[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ -n "${SOCKFUZZ_KEEP:-}" ]; then echo "(kept $work)"; else rm -rf "$work"; fi
}
trap cleanup EXIT
source "$root/tests/procs_lib.sh"

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$work"/*.log "$work"/*.out; do
        [ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 30 "$f" >&2; }
    done
    [ -n "$seed" ] && echo "(sockfuzz seed $seed: repeat with SOCKFUZZ_SEED=$seed)" >&2
    exit 1
}




alive() {   # alive NAME...: fail unless each is still running
    local n
    for n in "$@"; do kill -0 "${pid[$n]}" 2>/dev/null || fail "$n is gone (it should still be running)"; done
}

# network NAME: "REJECTED REFUSED FAILED" from the stage's summary line
network() {
    local l
    l=$(grep -E "network: [0-9]+ messages rejected" "$work/$1.log" | tail -n 1)
    [ -n "$l" ] || fail "$1: no 'network:' summary line"
    sed -E 's/.*network: ([0-9]+) messages rejected, ([0-9]+) connections refused, ([0-9]+) failed.*/\1 \2 \3/' <<<"$l"
}

# stream NAME: "RECEIVED TAKEN DUPLICATES REJECTED STALE" from the trainer's last batch-stream summary
stream() {
    local l
    l=$(grep -E "batch stream: [0-9]+ received" "$work/$1.log" | tail -n 1)
    [ -n "$l" ] || fail "$1: no batch-stream summary line"
    sed -E 's/.*batch stream: ([0-9]+) received, ([0-9]+) taken, ([0-9]+) duplicates, ([0-9]+) rejected, ([0-9]+) stale.*/\1 \2 \3 \4 \5/' <<<"$l"
}

# weights FILE: the tensor bytes of a safetensors file (after its 8-byte length and JSON header)
weights() {
    local hlen
    hlen=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +$((9 + hlen)) "$1"
}

# run NAME FUZZ: one whole run; with FUZZ=1, sockfuzz in the middle of it
run() {
    local name=$1 fuzz=$2 pj pc pb pk pp
    read -r pj pc pb pk pp < <(ports 5)
    local jobs=tcp://127.0.0.1:$pj credits=tcp://127.0.0.1:$pc batches=tcp://127.0.0.1:$pb
    local control=tcp://127.0.0.1:$pk checkpoints=tcp://127.0.0.1:$pp
    start "loader-$name" "$bin/loader" --data "$work/data" --model "$work/spec.ini" --window 6 --resend-ms 3000 \
        --jobs-bind "$jobs" --credits-bind "$credits" --control-bind "$control"
    start "trainer-$name" "$bin/trainer" --model "$work/spec.ini" --backend ref --progress plain --window 6 \
        --run-dir "$work/run-$name" --batches-bind "$batches" --credits "$credits" --checkpoints-bind "$checkpoints"
    local k
    for k in 1 2; do
        start "aug$k-$name" "$bin/augmenter" --jobs "$jobs" --batches "$batches" --control "$control" --cache-shared off
    done
    if [ "$fuzz" = 1 ]; then
        local i
        for ((i = 0; i < 600; i++)); do
            grep -q "^Epoch 1/$EPOCHS" "$work/trainer-$name.log" 2>/dev/null && break
            kill -0 "${pid[trainer-$name]}" 2>/dev/null || break
            sleep 0.02
        done
        kill -STOP "${pid[aug1-$name]}" "${pid[aug2-$name]}"
        grep -q "^Epoch 1/$EPOCHS" "$work/trainer-$name.log" || fail "$name: the first epoch did not end within 12 s"
        grep -q "^Epoch $EPOCHS/$EPOCHS" "$work/trainer-$name.log" &&
            fail "$name: the run was over before the augmenters could be stopped (too fast to fuzz during it)"
        alive "loader-$name" "trainer-$name" "aug1-$name" "aug2-$name"
        local args=(--credits "$credits" --jobs "$jobs" --control "$control" --batches "$batches"
                    --checkpoints "$checkpoints" --shape 32x32x3 --batch 6)
        [ -n "$seed" ] && args+=(--seed "$seed")
        timeout 90 "$bin/sockfuzz" "${args[@]}" >"$work/sockfuzz.out" 2>&1 || fail "sockfuzz failed (exit $?)"
        seed=$(sed -nE 's/^sockfuzz: seed ([0-9]+).*/\1/p' "$work/sockfuzz.out")
        sleep 1   # the stages read what is still queued
        alive "loader-$name" "trainer-$name" "aug1-$name" "aug2-$name"
        grep -q "^Epoch $EPOCHS/$EPOCHS" "$work/trainer-$name.log" &&
            fail "$name: the run went on while the augmenters were stopped"
        kill -CONT "${pid[aug1-$name]}" "${pid[aug2-$name]}"
    fi
    wait_for "trainer-$name" 60 || fail "$name: the trainer failed"
    wait_for "loader-$name" 15 || fail "$name: the loader failed"
    for k in 1 2; do wait_for "aug$k-$name" 15 || fail "$name: augmenter $k failed"; done
}

"$bin/dataplane_mkdata" data "$work/data" train 2 30 160 120 >/dev/null || fail "cannot write the data set"
"$bin/dataplane_mkdata" spec "$work/spec.ini" 32 6 $STEPS $EPOCHS 5 1 || fail "cannot write the spec"
t0=$SECONDS
run clean 0
run fuzz 1
cat "$work/sockfuzz.out"

# the same run
epochs() { grep -oE "^Epoch [0-9]+/[0-9]+ - .* - loss: [0-9.]+ - accuracy: [0-9.]+" "$work/$1.log" | sed -E 's/ - [0-9]+s - / - /'; }
[ "$(epochs trainer-clean | wc -l)" -eq $EPOCHS ] || fail "the clean run did not report $EPOCHS epochs"
diff <(epochs trainer-clean) <(epochs trainer-fuzz) >&2 || fail "the losses or accuracies differ from the clean run's"
for ((e = 1; e <= EPOCHS; e++)); do
    f=$(printf 'ckpt-epoch-%03d.safetensors' $e)
    [ -f "$work/run-fuzz/$f" ] || fail "no $f"
    cmp -s <(weights "$work/run-clean/$f") <(weights "$work/run-fuzz/$f") || fail "$f: the weights differ from the clean run's"
done
total=$((EPOCHS * STEPS))

# the counts
read -r x_lrej x_lref < <(sed -nE 's/^expect loader rejected ([0-9]+) refused ([0-9]+)/\1 \2/p' "$work/sockfuzz.out")
read -r x_trej x_tref < <(sed -nE 's/^expect trainer rejected ([0-9]+) refused ([0-9]+)/\1 \2/p' "$work/sockfuzz.out")
[ -n "$x_lrej" ] && [ -n "$x_trej" ] || fail "no expectations in sockfuzz's output"
for name in clean fuzz; do
    read -r rec taken dup rej stale < <(stream "trainer-$name")
    [ "$taken" -eq $total ] || fail "$name: the trainer took $taken batches, expected $total"
    [ "$rec" -eq $((taken + dup + stale + rej + EPOCHS + 1)) ] ||
        fail "$name: batch stream: $rec received != $taken taken + $dup duplicates + $stale stale + $rej rejected + $((EPOCHS + 1)) markers"
    want_trej=0 want_tref=0 want_lrej=0 want_lref=0
    [ $name = fuzz ] && want_trej=$x_trej want_tref=$x_tref want_lrej=$x_lrej want_lref=$x_lref
    [ "$rej" -eq "$want_trej" ] || fail "$name: the trainer's batch stream rejected $rej messages, sockfuzz sent $want_trej"
    got=$(network "trainer-$name")
    [ "$got" = "$want_trej $want_tref 0" ] ||
        fail "$name: trainer: rejected, refused, failed = $got; expected $want_trej $want_tref 0"
    got=$(network "loader-$name")
    [ "$got" = "$want_lrej $want_lref 0" ] ||
        fail "$name: loader: rejected, refused, failed = $got; expected $want_lrej $want_lref 0"
    for k in 1 2; do
        got=$(network "aug$k-$name")
        [ "$got" = "0 0 0" ] || fail "$name: augmenter $k: rejected, refused, failed = $got; expected 0 0 0"
    done
done

# small logs: per socket, the first RATELOG_FULL (5) events in full and a summary line every 10 s
for stage in loader trainer; do
    log=$work/$stage-fuzz.log
    n=$(grep -cE "rejected a message|refused a connection" "$log")
    per=$(grep -oE "(credits|batches|jobs|control|checkpoints)( tcp://[0-9.:]+)?: (rejected a message|refused a connection)" "$log" |
          sort | uniq -c | sort -rn | head -n 1 | awk '{ print $1 }')
    lines=$(wc -l <"$log")
    echo "logs: $stage: $lines lines, $n about bad traffic (at most $per for one socket)"
    [ "${per:-0}" -le 8 ] || fail "$stage: $per log lines about one socket's bad traffic (rate limit: 5 + one per 10 s)"
    [ "$n" -le 40 ] || fail "$stage: $n log lines about bad traffic"
    [ "$lines" -le 150 ] || fail "$stage: its log has $lines lines"
done
echo "sockfuzz: the run unchanged ($total batches, same weights); loader rejected $x_lrej messages and" \
     "refused $x_lref connections, trainer rejected $x_trej and refused $x_tref, as sent; $((SECONDS - t0)) s" \
     "(seed $seed)"
exit 0
