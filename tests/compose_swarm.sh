#!/usr/bin/env bash
# tests/compose_swarm.sh: compose.yaml on Docker Swarm with its Swarm variant (compose.swarm.yaml: CURVE
# keys, made by the image's keygen, as Docker secrets), as a non-root uid: `docker stack deploy` on a
# one-node swarm (made here, on loopback, and left again; on an existing swarm the services are
# pinned to this node), `docker service scale` of the augmenters mid-run, the trainer's process
# SIGKILLed after epoch 1 (Swarm starts a new task, at a new address: the other stages find it
# through dnsrr, and it resumes), completion (every other task Complete: none rejected, failed or
# restarted; completed services stay down), the run's outputs owned by that uid, CURVE on, and
# `docker stack rm` leaving nothing behind (secrets included).
# usage: compose_swarm.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
need_engine
need_image "$cpu_image"

workdir swarm
make_data "$work/data" 30 20 2
compose_env "$work/data" "$work/runs"
export EPOCHS=3 STEPS_PER_EPOCH=15 PAWPIPE_VALIDATION_STEPS=2
run=$work/runs/run
stack=pawpipe-ctest-swarm-$$
fail_logs=("$work/deploy.log" "$work/services.log")

# CURVE keys, made by the image's keygen, handed to the tasks as secrets by compose.swarm.yaml
mkdir -p "$work/keys"
"$DOCKER" run --rm -u 0 -v "$work/keys:/keys" "$cpu_image" keygen --out /keys loader trainer augmenter evaluator \
    >"$work/keygen.log" 2>&1 || { cat "$work/keygen.log" >&2; fail "keygen in the image failed."; }
export KEYS=$work/keys

swarm_up
files=(-c "$root/compose.yaml" -c "$root/compose.swarm.yaml")
[ -z "$swarm_pin" ] || files+=(-c "$swarm_pin")
say "docker stack deploy ($EPOCHS epochs of $STEPS_PER_EPOCH steps, uid $test_uid)"
t=$SECONDS
own stack "$stack"
"$DOCKER" stack deploy "${files[@]}" "$stack" >"$work/deploy.log" 2>&1 || fail "docker stack deploy failed."

dump_services() {
    for s in loader augmenter trainer evaluator; do
        "$DOCKER" service ps --no-trunc "${stack}_$s" 2>&1
        "$DOCKER" service logs --raw "${stack}_$s" 2>&1 | tail -n 8
    done >"$work/services.log" 2>&1 || true
}
for i in $(seq 90); do
    [ -e "$run/ckpt-epoch-001.safetensors" ] && break
    [ $i -lt 90 ] || { dump_services; fail "no checkpoint within 90 s of the deployment."; }
    sleep 1
done
[ -e "$run/END" ] && fail "the run ended before the augmenters could be scaled: make it longer."
"$DOCKER" service scale --detach "${stack}_augmenter=2" >/dev/null 2>&1 || fail "docker service scale failed."
echo "scaled to 2 augmenters after epoch 1"
c=$("$DOCKER" ps -q --filter "label=com.docker.swarm.service.name=${stack}_trainer")
[ -n "$c" ] || fail "no running trainer task."
[ -e "$run/END" ] && fail "the run ended before the trainer could be killed: make it longer."
address() { "$DOCKER" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
was=$(address "$c")
kill -KILL "$("$DOCKER" inspect -f '{{.State.Pid}}' "$c")"
echo "SIGKILLed the trainer's task (address $was)"
now=""
for _ in $(seq 60); do
    c2=$("$DOCKER" ps -q --filter "label=com.docker.swarm.service.name=${stack}_trainer" | grep -v "^$c" | head -n 1 || true)
    [ -n "$c2" ] && now=$(address "$c2") && [ -n "$now" ] && break
    [ -e "$run/END" ] && break
    sleep 0.5
done

# Done when no task is meant to run any more (completed services are not restarted).
for i in $(seq 180); do
    [ -z "$("$DOCKER" stack ps "$stack" -q --filter desired-state=running 2>/dev/null)" ] &&
        [ -z "$("$DOCKER" stack ps "$stack" -q --filter desired-state=ready 2>/dev/null)" ] && break
    [ $i -lt 180 ] || { dump_services; fail "the stack still runs tasks 180 s after its deployment."; }
    sleep 1
done
dump_services
echo "every task ended $((SECONDS - t)) s after the deployment"
states=$(stack_ps "$stack")
echo "$states" | sed 's/^/  /'
bad=$(echo "$states" | awk '$2 != "Complete" && !($1 ~ /_trainer$/ && $2 == "Failed")')
[ -z "$bad" ] || fail "tasks that did not complete: $(echo $bad)"
[ "$(echo "$states" | grep -c "_augmenter ")" -eq 2 ] || fail "not 2 augmenter tasks."
for s in loader evaluator; do
    [ "$(echo "$states" | grep -c "_$s ")" -eq 1 ] || fail "the $s service ran more than one task (restarted)."
done
[ "$(echo "$states" | grep -c "_trainer Failed")" -eq 1 ] && [ "$(echo "$states" | grep -c "_trainer Complete")" -eq 1 ] ||
    fail "the trainer did not run as one killed task and one complete one."
c=""
for id in $("$DOCKER" ps -aq --filter "label=com.docker.swarm.service.name=${stack}_trainer"); do
    [ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$id")" = 0 ] && c=$id
done
[ -n "$c" ] || fail "no trainer task exited 0."
"$DOCKER" logs "$c" >"$work/trainer2.log" 2>&1; fail_logs+=("$work/trainer2.log")
grep -q "resuming from" "$work/trainer2.log" || fail "the trainer's new task did not resume from a checkpoint."
echo "the trainer's new task (address ${now:-unseen}) resumed: $("$DOCKER" logs "$c" 2>&1 | grep -o 'resuming from.*')"
expect_outputs "$run" "$EPOCHS"
echo "checkpoints, history.csv and curves.png written, owned by $test_uid:$test_gid"

for s in loader trainer; do   # every socket with CURVE (the binders say so, and bind only with keys)
    # (to a file first: grep -q stopping early would SIGPIPE the client, a failure under pipefail)
    "$DOCKER" service logs --raw "${stack}_$s" >"$work/$s-all.log" 2>&1
    grep -q "network: .*(CURVE on)" "$work/$s-all.log" || fail "the $s did not run with CURVE."
done
echo "loader and trainer ran with CURVE, keys from Docker secrets"

"$DOCKER" stack rm "$stack" >/dev/null || fail "docker stack rm failed."
wait_stack_gone "$stack" || fail "containers of the stack are left 60 s after docker stack rm."
forget stack "$stack"
[ -z "$("$DOCKER" secret ls -q --filter "label=com.docker.stack.namespace=$stack")" ] ||
    fail "secrets of the stack are left after docker stack rm."
echo "docker stack rm: no container, network or volume of the stack left"
