#!/usr/bin/env bash
# multihost.sh: the pipeline on four "hosts" with CURVE on every socket. Each host is a network
# namespace and a mount namespace of its own (its own /dev/shm, a tmpfs), held by a process that ends
# with this script; veth pairs join them in a star around host A, on addresses that exist only inside
# them (10.77.N.0/24: A is 10.77.N.1, the other end 10.77.N.2, with its default route via A):
#   A 10.77.1.1   loader and trainer, binding there          (link 1 to B, 2 to C, 3 to D)
#   B 10.77.1.2   two augmenters, sharing B's /dev/shm image cache (and nobody else's)
#   C 10.77.2.2   the evaluator
#   D 10.77.3.2   net_intruder: a client whose key is not admitted
# Keys are keygen's, in a temporary folder; one allow folder holds the admitted clients' keys
# (trainer, augmenter, evaluator, evaluator2; not the intruder's).
#   reference  the same dry run on this host over 127.0.0.1, no namespaces, no keys
#   control    with its key admitted (another allow folder), the intruder's first batch is taken by
#              a dry-run trainer on 127.0.0.1: its batches are well-formed
#   run 1      trainer --dry-run, 2 augmenters on B, the intruder pushing batches to the trainer and
#              subscribing to the loader's control PUB: batch hashes byte-identical to the
#              reference, both servers refused the intruder (their `network:` lines), it received
#              nothing and no handshake of it succeeded, the trainer took exactly the planned batches
#              and rejected none, every stage exited 0 by itself
#   run 2      real training (a tiny model, --backend ref) with the evaluator on C scoring every
#              epoch's checkpoint into history.csv (a row per epoch), the intruder pushing batches
#              and subscribing to the checkpoints; before the batches flow, evaluator2's key is shown
#              admitted (a probe's handshake succeeds), then its .pub is deleted from the allow
#              folder and an evaluator with that key is refused (ZAP 400, counted in the trainer's
#              `network:` line) and exits 1 saying so; every other stage exited 0 by itself
# The batches are held back (the augmenters SIGSTOPped) until the intruder has been refused, so
# that nothing depends on how fast a run goes. Everything made is removed at exit (processes,
# namespaces with their veths and tmpfs mounts, the temporary folder), also on failure or Ctrl-C.
# usage: multihost.sh BIN_DIR      (exit 77: skipped: not root, no ip / unshare / nsenter, or no namespaces;
#        MULTIHOST_KEEP=1 keeps the temporary folder with the logs)
set -uo pipefail

bin=$(cd "$1" 2>/dev/null && pwd) || { echo "FAIL: multihost: no folder $1" >&2; exit 1; }
skip() {
    echo "SKIP: multihost: $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network and mount namespaces)"
for t in ip unshare nsenter tail; do command -v "$t" >/dev/null 2>&1 || skip "needs '$t' (iproute2, util-linux)"; done
unshare --net --mount --propagation private true 2>/dev/null ||
    skip "cannot make network and mount namespaces here ($(unshare --net --mount true 2>&1 | head -n 1))"
for b in loader augmenter trainer evaluator keygen dataplane_mkdata net_intruder; do
    [ -x "$bin/$b" ] || { echo "FAIL: multihost: $bin/$b is missing (build first)" >&2; exit 1; }
done

tmp=${TMPDIR:-/tmp}
case "$tmp" in /dev/shm*) tmp=/tmp ;; esac   # every host must see the folder: not in a /dev/shm
work=$(mktemp -d "$tmp/pawpipe-multihost.XXXXXX")
declare -A pid=() hold=()
export PAWPIPE_DIE_WITH_PARENT=1   # the stages get SIGTERM when this script dies (PR_SET_PDEATHSIG)
started=$(date +%s)

cleanup() {
    trap - EXIT INT TERM
    local p i f alive
    # what is still running (a failure, Ctrl-C): SIGTERM (and SIGCONT: the held-back augmenters), 2 s, SIGKILL
    for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null && kill -CONT "$p" 2>/dev/null; done
    for ((i = 0; i < 40; i++)); do
        alive=0
        for p in "${pid[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.05
    done
    for p in "${pid[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${hold[@]}"; do kill -KILL "$p" 2>/dev/null; done   # the namespaces go with their last process
    wait 2>/dev/null
    # the reference run's image cache is in this machine's /dev/shm: gone unless its augmenters were killed
    for f in "$work"/ref-aug*.log; do
        [ -f "$f" ] || continue
        p=$(sed -n 's/.*created the shared image cache \(\/pawpipe-cache-[^ ]*\).*/\1/p' "$f")
        [ -n "$p" ] && rm -f "/dev/shm$p"
    done
    if [ -n "${MULTIHOST_KEEP:-}" ]; then echo "multihost: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo "multihost: interrupted" >&2; exit 130' INT TERM
source "$(dirname "$0")/procs_lib.sh"

phase=ref   # the logs of this phase's processes are shown on failure
fail() {
    echo "FAIL: multihost: $*" >&2
    local f
    for f in "$work/$phase"-*.log; do
        [ -f "$f" ] && { echo "--- $(basename "$f")" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# ---- hosts -----------------------------------------------------------------------------------------

mkhost() {   # mkhost NAME: new network and mount namespaces, lo up, a tmpfs on /dev/shm
    local h=$1 i
    unshare --net --mount --propagation private sh -c '
        mount -t tmpfs -o size=256m,mode=1777 "pawpipe-shm-$1" /dev/shm || exit 1
        ip link set lo up || exit 1
        : >"$2"
        exec tail -f /dev/null --pid="$3" -s 0.5' sh "$h" "$work/host-$h.up" $$ &
    hold[$h]=$!
    for ((i = 0; i < 100; i++)); do
        [ -e "$work/host-$h.up" ] && return 0
        kill -0 "${hold[$h]}" 2>/dev/null || break
        sleep 0.05
    done
    fail "cannot make host $h (unshare --net --mount)"
}

on() {   # on HOST CMD...: run CMD in HOST's namespaces (nsenter execs it: same pid)
    local h=$1
    shift
    nsenter --target "${hold[$h]}" --net --mount --wd="$work" -- "$@"
}

link() {   # link N HOST: a veth pair A <-> HOST on 10.77.N.0/24
    local n=$1 h=$2
    ip link add "to$h" netns "${hold[A]}" type veth peer name eth0 netns "${hold[$h]}" ||
        fail "cannot make the veth pair A <-> $h"
    on A ip addr add "10.77.$n.1/24" dev "to$h" && on A ip link set "to$h" up &&
        on "$h" ip addr add "10.77.$n.2/24" dev eth0 && on "$h" ip link set eth0 up &&
        on "$h" ip route add default via "10.77.$n.1" || fail "cannot set up the link A <-> $h"
}

# ---- processes -------------------------------------------------------------------------------------

start() {   # start NAME HOST|- CMD...: in the background; stdout in $work/NAME.out, stderr in $work/NAME.log
    local name=$1 h=$2
    shift 2
    if [ "$h" = - ]; then
        "$@" >"$work/$name.out" 2>"$work/$name.log" &
    else   # (not through on(): a function in the background is a subshell, and its pid not the stage's)
        nsenter --target "${hold[$h]}" --net --mount --wd="$work" -- "$@" >"$work/$name.out" 2>"$work/$name.log" &
    fi
    pid[$name]=$!
}






# ---- data, spec, keys ------------------------------------------------------------------------------

# 48 training photos of 320x240 and 16 validation ones; batches of 6 at 64x64 (8 per pass), 4
# epochs of one pass, augmented
"$bin/dataplane_mkdata" data "$work/data" train 2 24 320 240 >/dev/null &&
    "$bin/dataplane_mkdata" data "$work/data" validation 2 8 320 240 >/dev/null || fail "cannot write the data set"
"$bin/dataplane_mkdata" spec "$work/spec.ini" 64 6 0 4 5 1 || fail "cannot write the spec"
planned=32
"$bin/keygen" --out "$work/keys" loader trainer augmenter evaluator evaluator2 intruder >/dev/null ||
    fail "keygen failed"
mkdir -p "$work/allow" && cp "$work/keys/"{trainer,augmenter,evaluator,evaluator2}.pub "$work/allow/" ||
    fail "cannot fill the allow folder"
K=$work/keys
aug_flags=(--cache-mb 64)

# ---- the reference: one host, 127.0.0.1, no keys ---------------------------------------------------

read -r pj pc pb pk < <(ports 4)
L=tcp://127.0.0.1
start ref-loader - "$bin/loader" --data "$work/data" --model "$work/spec.ini" \
    --jobs-bind "$L:$pj" --credits-bind "$L:$pc" --control-bind "$L:$pk"
start ref-dry - "$bin/trainer" --dry-run --model "$work/spec.ini" --batches-bind "$L:$pb" --credits "$L:$pc"
for k in 1 2; do
    start "ref-aug$k" - "$bin/augmenter" --jobs "$L:$pj" --batches "$L:$pb" --control "$L:$pk" "${aug_flags[@]}"
done
wait_for ref-dry 60 || fail "reference: the dry run failed"
for p in ref-loader ref-aug1 ref-aug2; do wait_for $p 15 || fail "reference: $p did not exit 0"; done
[ "$(wc -l <"$work/ref-dry.out")" -eq $planned ] ||
    fail "reference: $(wc -l <"$work/ref-dry.out") batches, expected $planned"

# The control: with its key admitted, the intruder's batches are taken (they are well-formed, and
# what keeps them out in the runs below is CURVE alone)
phase=ctl
read -r pb _ < <(ports 4)
mkdir -p "$work/allow-intruder" && cp "$K/intruder.pub" "$work/allow-intruder/" || fail "cannot make allow-intruder"
start ctl-dry - "$bin/trainer" --dry-run --model "$work/spec.ini" --batches-bind "$L:$pb" --credits "$L:$pc" \
    --key "$K/trainer.key" --allow "$work/allow-intruder" --loader-key "$K/loader.pub"
wait_log ctl-dry "batch stream: batches on" 10
start ctl-intruder - "$bin/net_intruder" --key "$K/intruder.key" --trainer-key "$K/trainer.pub" --batches "$L:$pb" \
    --checkpoints "$L:$pk" --height 64 --width 64 --batch 6 --steps-per-epoch 8 --seconds 10
intruder_sha=$(yes INTRUDER | tr -d '\n' | head -c $((6 * 64 * 64 * 3)) | sha256sum | cut -d' ' -f1)
for ((i = 0; i < 200; i++)); do [ -s "$work/ctl-dry.out" ] && break; sleep 0.05; done
stop ctl-intruder
stop ctl-dry
[ "$(head -n 1 "$work/ctl-dry.out")" = "0 0 0,1,2,3,4,5 $intruder_sha" ] ||
    fail "control: the admitted intruder's first batch was not taken: '$(head -n 1 "$work/ctl-dry.out")'"

# ---- the hosts -------------------------------------------------------------------------------------

for h in A B C D; do mkhost $h; done
link 1 B
link 2 C
link 3 D
A=tcp://10.77.1.1
jobs=$A:5555 credits=$A:5556 batches=$A:5557 checkpoints=$A:5558 control=$A:5559
loader_flags=(--data "$work/data" --model "$work/spec.ini" --jobs-bind "$jobs" --credits-bind "$credits"
    --control-bind "$control" --key "$K/loader.key" --allow "$work/allow")
trainer_flags=(--model "$work/spec.ini" --batches-bind "$batches" --credits "$credits" --key "$K/trainer.key"
    --allow "$work/allow" --loader-key "$K/loader.pub")
intruder_flags=(--key "$K/intruder.key" --trainer-key "$K/trainer.pub" --batches "$batches" --height 64 --width 64
    --batch 6 --steps-per-epoch 8 --seqs "$planned" --seconds 150)

start_augmenters() {   # start_augmenters RUN: two on host B; check that they share B's cache, and only B has it
    local r=$1 k
    for k in 1 2; do
        start "$r-aug$k" B "$bin/augmenter" --jobs "$jobs" --batches "$batches" --control "$control" \
            --key "$K/augmenter.key" --loader-key "$K/loader.pub" --trainer-key "$K/trainer.pub" "${aug_flags[@]}"
    done
    for k in 1 2; do wait_log "$r-aug$k" "(created|attached to) the shared image cache" 10; done
    local made attached
    made=$(cat "$work/$r-aug1.log" "$work/$r-aug2.log" | sed -n 's/.*created the shared image cache \(\/[^ ]*\).*/\1/p')
    attached=$(cat "$work/$r-aug1.log" "$work/$r-aug2.log" | sed -n 's/.*attached to the shared image cache \(\/[^ ]*\).*/\1/p')
    [ -n "$made" ] && [ "$made" = "$attached" ] ||
        fail "$r: the augmenters on B do not share one cache (created '$made', attached to '$attached')"
    for k in 1 2; do
        grep -q "shared by this host's augmenters" "$work/$r-aug$k.log" || fail "$r-aug$k: its cache is not shared"
    done
    on B test -e "/dev/shm$made" || fail "$r: $made is not in host B's /dev/shm"
    on A test -e "/dev/shm$made" && fail "$r: $made is in host A's /dev/shm"
    test -e "/dev/shm$made" && fail "$r: $made is in this machine's /dev/shm"
    shm_name=$made
    # held back until the servers have met the intruder
    kill -STOP "${pid[$r-aug1]}" "${pid[$r-aug2]}"
}

go_augmenters() { kill -CONT "${pid[$1-aug1]}" "${pid[$1-aug2]}"; }

check_intruder() {   # check_intruder RUN: after SIGTERM, what it says
    local r=$1
    stop "$r-intruder" || fail "$r: the intruder failed or got something through (exit $?)"
    local o=$work/$r-intruder.out
    grep -qx "received 0" "$o" || fail "$r: the intruder received messages: $(grep received "$o")"
    grep -qx "handshakes succeeded 0" "$o" || fail "$r: a handshake of the intruder succeeded"
    intruder_refused=$(sed -n 's/^handshakes failed [0-9]* (\([0-9]*\) refused.*/\1/p' "$o")
    [ "${intruder_refused:-0}" -ge 2 ] || fail "$r: the intruder was refused ${intruder_refused:-0} times (want >= 2)"
    intruder_sent=$(sed -n 's/^sent //p' "$o") intruder_attempts=$(sed -n 's/^attempts //p' "$o")
}

# ---- run 1: the dry run across hosts ---------------------------------------------------------------
phase=r1

start_augmenters r1
start r1-loader A "$bin/loader" "${loader_flags[@]}"
start r1-dry A "$bin/trainer" --dry-run "${trainer_flags[@]}"
wait_log r1-dry "batch stream: batches on" 10
start r1-intruder D "$bin/net_intruder" "${intruder_flags[@]}" --checkpoints "$control" --sub-key "$K/loader.pub"
wait_log r1-loader "control $control: refused a connection: authentication refused \(ZAP status 400\)" 10
wait_log r1-dry "batches $batches: refused a connection: authentication refused \(ZAP status 400\)" 10
go_augmenters r1
wait_for r1-dry 60 || fail "run 1: the dry run failed"
for p in r1-loader r1-aug1 r1-aug2; do wait_for $p 15 || fail "run 1: $p did not exit 0"; done
check_intruder r1
cmp -s "$work/ref-dry.out" "$work/r1-dry.out" ||
    fail "run 1: the batches differ from the single-host reference: $(diff "$work/ref-dry.out" "$work/r1-dry.out" | head -n 4)"
read -r rej ref _ < <(net_counts r1-dry)
[ "${rej:-x}" = 0 ] && [ "${ref:-0}" -ge 1 ] || fail "run 1: trainer's network line: '$(grep "network:" "$work/r1-dry.log")'"
r1_trainer_refused=$ref
read -r rej ref _ < <(net_counts r1-loader)
[ "${rej:-x}" = 0 ] && [ "${ref:-0}" -ge 1 ] || fail "run 1: loader's network line: '$(grep "network:" "$work/r1-loader.log")'"
r1_loader_refused=$ref
# received: the batches and the 5 markers (4 END_EPOCH, END_RUN), as in the reference
ref_received=$(sed -n 's/.*batch stream: \([0-9]*\) received.*/\1/p' "$work/ref-dry.log")
grep -qE "batch stream: $ref_received received, $planned taken, 0 duplicates, 0 rejected, 0 stale" "$work/r1-dry.log" ||
    fail "run 1: the trainer's batch stream: '$(grep "batch stream: [0-9]" "$work/r1-dry.log")'"
for p in r1-aug1 r1-aug2; do
    read -r rej ref fl < <(net_counts $p)
    [ "$rej $ref $fl" = "0 0 0" ] || fail "run 1: $p's network line: '$(grep "network:" "$work/$p.log")'"
done
r1_shm=$shm_name r1_intruder="sent $intruder_sent of $intruder_attempts, refused $intruder_refused times"

# ---- run 2: training across hosts, the evaluator on C, a key removed -------------------------------
phase=r2

run=$work/run2
start_augmenters r2
start r2-loader A "$bin/loader" "${loader_flags[@]}"
start r2-trainer A "$bin/trainer" "${trainer_flags[@]}" --checkpoints-bind "$checkpoints" --backend ref \
    --run-dir "$run" --progress plain
wait_log r2-trainer "batch stream: batches on" 20
eval_flags=(--data "$work/data" --checkpoints "$checkpoints" --trainer-key "$K/trainer.pub" --backend ref)
start r2-eval C "$bin/evaluator" "${eval_flags[@]}" --key "$K/evaluator.key" --run-dir "$run"
# evaluator2's key: admitted while its .pub is in the allow folder, refused once it is deleted
on C "$bin/net_intruder" --probe --key "$K/evaluator2.key" --trainer-key "$K/trainer.pub" \
    --checkpoints "$checkpoints" --seconds 10 >"$work/r2-probe.out" 2>"$work/r2-probe.log" ||
    fail "run 2: evaluator2's key was not admitted before its removal: $(cat "$work/r2-probe.out")"
rm "$work/allow/evaluator2.pub"
start r2-eval2 C "$bin/evaluator" "${eval_flags[@]}" --key "$K/evaluator2.key"
# libzmq never tries a refused key again: the evaluator says so and exits 1, instead of waiting for ever
wait_for r2-eval2 10
rc=$?
[ $rc -eq 1 ] || fail "run 2: evaluator2 exited $rc after its key was refused (want 1, an error)"
grep -qE "checkpoints $checkpoints: the handshake failed: .*authentication refused \(ZAP status 400\)" "$work/r2-eval2.log" &&
    grep -q "ERROR: checkpoints socket: the trainer refused this stage's key" "$work/r2-eval2.log" ||
    fail "run 2: evaluator2 did not say that the trainer refused its key"
read -r _ _ fl < <(net_counts r2-eval2)
[ "${fl:-0}" -ge 1 ] || fail "run 2: evaluator2's network line: '$(grep "network:" "$work/r2-eval2.log")'"
eval2_pub=$(grep -v '^# ' "$K/evaluator2.pub")   # (Z85 has '#' among its digits)
grep -qF "ZAP: refused a client: CURVE from 10.77.2.2 with key $eval2_pub" "$work/r2-trainer.log" ||
    fail "run 2: the trainer did not log the refusal of evaluator2's key"
start r2-intruder D "$bin/net_intruder" "${intruder_flags[@]}" --checkpoints "$checkpoints"
wait_log r2-intruder "batches $batches: authentication refused" 10
wait_log r2-intruder "checkpoints $checkpoints: authentication refused" 10
go_augmenters r2
wait_for r2-trainer 90 || fail "run 2: the trainer failed"
for p in r2-loader r2-aug1 r2-aug2; do wait_for $p 15 || fail "run 2: $p did not exit 0"; done
wait_for r2-eval 60 || fail "run 2: the evaluator did not exit 0"
check_intruder r2
# one row per epoch; in any order: an evaluator that falls behind skips to the newest checkpoint and
# scores the skipped ones from their files at the end
rows=$(awk -F, 'NR > 1 { print $1 }' "$run/history.csv" 2>/dev/null | sort -n | tr '\n' ' ')
[ "$rows" = "1 2 3 4 " ] || fail "run 2: history.csv epochs '$rows' (want '1 2 3 4 ')"
for e in 1 2 3 4; do [ -f "$run/ckpt-epoch-00$e.safetensors" ] || fail "run 2: no checkpoint of epoch $e"; done
streamed=$(sed -n 's/.*stopping: \([0-9]*\) checkpoint(s) received.*/\1/p' "$work/r2-eval.log")
from_files=$(sed -n 's/.*stopping: .* scored (\([0-9]*\) from files).*/\1/p' "$work/r2-eval.log")
[ "${streamed:-0}" -ge 1 ] || fail "run 2: no checkpoint reached the evaluator over the network"
read -r rej ref _ < <(net_counts r2-trainer)
# evaluator2 once, the intruder's two sockets at least once each
[ "${rej:-x}" = 0 ] && [ "${ref:-0}" -ge 3 ] || fail "run 2: trainer's network line: '$(grep "network:" "$work/r2-trainer.log")'"
r2_trainer_refused=$ref
grep -qE "batch stream: $ref_received received, $planned taken, 0 duplicates, 0 rejected, 0 stale" "$work/r2-trainer.log" ||
    fail "run 2: the trainer's batch stream: '$(grep "batch stream: [0-9]" "$work/r2-trainer.log")'"
for p in r2-eval r2-aug1 r2-aug2 r2-loader; do
    read -r rej ref fl < <(net_counts $p)
    [ "$rej $fl" = "0 0" ] || fail "run 2: $p's network line: '$(grep "network:" "$work/$p.log")'"
done

echo "multihost: 4 hosts (netns + own /dev/shm), CURVE everywhere; dry run of $planned batches byte-identical" \
     "to 127.0.0.1; augmenters on B shared $r1_shm in B's /dev/shm only; intruder from D: $r1_intruder" \
     "(trainer refused $r1_trainer_refused, loader $r1_loader_refused), received 0; training: 4 epochs scored on C" \
     "($streamed received over the network; ${from_files:-?} of them skipped while busy and scored from files)," \
     "evaluator2 admitted, its key deleted, then refused (trainer refused $r2_trainer_refused in run 2);" \
     "every stage exited 0; $(($(date +%s) - started)) s"
exit 0
