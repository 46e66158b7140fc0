#!/usr/bin/env bash
# tests/compose_faults.sh: faults under compose.yaml's restart policy, mid-run: the run starts with
# 2 augmenters, is scaled to 3 (`up -d --scale augmenter=3`), one augmenter's process and then the
# trainer's are SIGKILLed from the host by their host PIDs (`docker kill` would mark them stopped by
# hand and switch the restart policy off). The policy restarts both, the trainer resumes from the run
# folder's latest checkpoint, `docker-compose up` returns 0, and the final checkpoint holds exactly
# the tensors of the same run without faults, run by scripts/pipeline from the build's executables.
# usage: compose_faults.sh STATE_DIR BIN_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
bin=$2
need_engine
need_image "$cpu_image"
for e in loader augmenter trainer; do [ -x "$bin/$e" ] || fail "$bin/$e is missing: build first."; done
py=""
for p in python3 /usr/bin/python3; do "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }; done
[ -n "$py" ] || fail "python3 with numpy is needed to compare checkpoints (scripts/dev deps installs it)."

workdir faults
make_data "$work/data" 30 20 2
compose_env "$work/data" "$work/runs"
export EPOCHS=3 STEPS_PER_EPOCH=25 CHECKPOINT_EVERY=5 PAWPIPE_VALIDATION_STEPS=2
run=$work/runs/run
project=pawpipe-ctest-faults-$$
own project "$project"
fail_logs=("$work/up.log" "$work/scale.log" "$work/ref/logs/trainer.log")

say "docker-compose up --scale augmenter=2 ($EPOCHS epochs of $STEPS_PER_EPOCH steps, a checkpoint every $CHECKPOINT_EVERY)"
timeout 300 "${compose_cmd[@]}" -p "$project" -f "$root/compose.yaml" up --no-build --scale augmenter=2 \
    >"$work/up.log" 2>&1 &
up=$!
wait_file "$run/ckpt-step-000005.safetensors" 90 "$up"

say "scaling to 3 augmenters"
compose "$project" up -d --no-build --no-deps --no-recreate --scale augmenter=3 augmenter >"$work/scale.log" 2>&1 ||
    fail "scaling to 3 augmenters failed."
augs=($(containers "$project" augmenter))
[ ${#augs[@]} -eq 3 ] || fail "${#augs[@]} augmenter containers after scaling, not 3."

hostpid() { "$DOCKER" inspect -f '{{.State.Pid}}' "$1"; }
victim=${augs[0]}
pid=$(hostpid "$victim")
[ "$pid" -gt 0 ] || fail "augmenter ${victim} is not running."
kill -KILL "$pid"
echo "SIGKILLed augmenter $victim (host pid $pid)"

trainer=$(containers "$project" trainer)
[ -e "$run/END" ] && fail "the run ended before the trainer could be killed: make it longer."
pid=$(hostpid "$trainer")
[ "$pid" -gt 0 ] || fail "the trainer is not running."
before=$(find "$run" -maxdepth 1 -name 'ckpt-*.safetensors' | wc -l)
kill -KILL "$pid"
echo "SIGKILLed the trainer (host pid $pid) with $before checkpoints written, before the end of the run"

rc=0
wait "$up" || rc=$?
[ $rc -ne 124 ] || fail "docker-compose up did not return within 300 s."
[ $rc -eq 0 ] || fail "docker-compose up exited $rc."
echo "docker-compose up returned 0"

for s in loader augmenter trainer evaluator; do
    for c in $(containers "$project" "$s"); do
        set -- $("$DOCKER" inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}}' "$c")
        [ "$2 $3" = "exited 0" ] || fail "container $1: $2, exit code $3."
    done
done
restarts() { "$DOCKER" inspect -f '{{.RestartCount}}' "$1"; }
[ "$(restarts "$trainer")" -ge 1 ] || fail "the trainer was not restarted by the restart policy."
[ "$(restarts "$victim")" -ge 1 ] || fail "the killed augmenter was not restarted by the restart policy."
# (grep reads everything: with pipefail, grep -q on a pipe can fail its writer with SIGPIPE)
"$DOCKER" logs "$trainer" >"$work/trainer.log" 2>&1
grep -q "resuming from" "$work/trainer.log" || fail "the restarted trainer did not resume from a checkpoint."
echo "the policy restarted the trainer ($(restarts "$trainer")x) and the augmenter ($(restarts "$victim")x); the trainer resumed:"
grep "resuming from" "$work/trainer.log" | sed 's/^/  /'
expect_outputs "$run" "$EPOCHS"

say "the same run without faults: scripts/pipeline"
"$root/scripts/pipeline" --bin "$bin" --data "$work/data" --model "$root/models/model2.ini" --epochs "$EPOCHS" \
    --steps-per-epoch "$STEPS_PER_EPOCH" --augmenters 2 --backend cpu --no-evaluator --run-dir "$work/ref" \
    >"$work/ref.log" 2>&1 || { fail_logs+=("$work/ref.log"); fail "scripts/pipeline failed."; }
final=$(printf 'ckpt-epoch-%03d.safetensors' "$EPOCHS")
"$py" - "$root/tools" "$run/$final" "$work/ref/$final" <<'PY' || fail "the final checkpoints differ."
import sys
sys.path.insert(0, sys.argv[1])
import ckpt_load
(a, ma), (b, mb) = ckpt_load.load(sys.argv[2]), ckpt_load.load(sys.argv[3])
bad = [n for n in sorted(set(a) | set(b)) if n not in a or n not in b or a[n].dtype != b[n].dtype
       or a[n].shape != b[n].shape or a[n].tobytes() != b[n].tobytes()]
for k in ("epoch", "step", "seed"):
    if ma.get(k) != mb.get(k):
        bad.append(f"metadata {k}: {ma.get(k)} != {mb.get(k)}")
if bad:
    print("differ: " + ", ".join(bad[:10]))
    sys.exit(1)
print(f"final checkpoint: {len(a)} tensors equal, bit for bit, to the run without faults "
      f"(epoch {ma.get('epoch')}, step {ma.get('step')})")
PY
