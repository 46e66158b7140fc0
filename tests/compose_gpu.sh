#!/usr/bin/env bash
# tests/compose_gpu.sh: the GPU image and the GPU files, on a machine without a GPU:
#   - builds the CUDA base images from NVIDIA's PyPI wheels (scripts/docker-cuda-base; the wheels
#     are cached between runs) and Dockerfile.gpu on them, once per run;
#   - in the image, every library the trainer and the evaluator load resolves, the driver's
#     libcuda.so.1 excepted (pawpipe-gpu-libcheck), and `--backend cuda` stops with its clear
#     no-GPU message;
#   - compose.gpu.yaml: valid with compose.yaml, and its containers reach the engine with the GPU
#     image, --backend cuda and a device request for one NVIDIA GPU; Swarm's stack format rejects it
#     (which is why Swarm has its own file);
#   - compose.swarm-gpu.yaml deployed on a one-node swarm: the trainer's reservation of an NVIDIA-GPU
#     generic resource is honoured: its task waits for a node with one when this node has none, and
#     gets the GPU assigned (DOCKER_RESOURCE_NVIDIA-GPU) when the node announces one (compose_setup
#     starts its own dockerd announcing a made-up GPU).
# usage: compose_gpu.sh STATE_DIR
set -euo pipefail
source "$(dirname "$0")/compose_lib.sh"
compose_init "$1"
need_engine
need_image "$cpu_image"
workdir gpu

# --- the images -----------------------------------------------------------------------------------
python=python3
"$python" -m pip --version >/dev/null 2>&1 || { [ -x /usr/bin/python3 ] && python=/usr/bin/python3; }
"$python" -m pip --version >/dev/null 2>&1 || { apt_install python3-pip; python=/usr/bin/python3; }
fail_logs=("$state/cuda-base.log")
t=$SECONDS
DOCKER=$DOCKER PYTHON=$python "$root/scripts/docker-cuda-base" >"$state/cuda-base.log" 2>&1 ||
    fail "scripts/docker-cuda-base failed."
echo "$(tail -n 1 "$state/cuda-base.log") ($((SECONDS - t)) s)"
devel=pawpipe-cuda:13.0-cudnn9-devel-debian12
runtime=pawpipe-cuda:13.0-cudnn9-runtime-debian12
old=$("$DOCKER" image inspect -f '{{.Id}}' "$gpu_image" 2>/dev/null || true)
say "building $gpu_image (Dockerfile.gpu on $devel and $runtime)"
t=$SECONDS
fail_logs=("$state/build-gpu.log")
"$DOCKER" build -f "$root/Dockerfile.gpu" -t "$gpu_image" \
    --build-arg CUDA_DEVEL_IMAGE=$devel --build-arg CUDA_RUNTIME_IMAGE=$runtime "$root" \
    >"$state/build-gpu.log" 2>&1 || fail "docker build of Dockerfile.gpu failed."
new=$("$DOCKER" image inspect -f '{{.Id}}' "$gpu_image")
[ -z "$old" ] || [ "$old" = "$new" ] || "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
echo "$gpu_image: $(($("$DOCKER" image inspect -f '{{.Size}}' "$gpu_image") / 1000000)) MB, built in $((SECONDS - t)) s"

# --- inside the image -----------------------------------------------------------------------------
fail_logs=("$work/libcheck.log")
"$DOCKER" run --rm -u "$test_uid:$test_gid" "$gpu_image" pawpipe-gpu-libcheck >"$work/libcheck.log" 2>&1 ||
    fail "pawpipe-gpu-libcheck: not every library resolves."
sed 's/^/  /' "$work/libcheck.log"
fail_logs=("$work/nogpu.log")
rc=0
"$DOCKER" run --rm -u "$test_uid:$test_gid" "$gpu_image" \
    trainer --model models/model1.ini --backend cuda --run-dir /tmp/run >"$work/nogpu.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "trainer --backend cuda succeeded without a GPU."
grep -q "the cuda backend cannot run on this machine" "$work/nogpu.log" || fail "no clear message from --backend cuda without a GPU."
echo "without a GPU, --backend cuda exits $rc: $(grep -o 'the cuda backend cannot run.*' "$work/nogpu.log" | head -n 1)"

# --- compose.gpu.yaml -----------------------------------------------------------------------------
compose_env "$work/data" "$work/runs"
compose_files=("$root/compose.gpu.yaml")
project=pawpipe-ctest-gpu-$$
fail_logs=("$work/compose.log")
compose "$project" config -q >"$work/compose.log" 2>&1 || fail "compose.yaml + compose.gpu.yaml do not validate."
own project "$project"
compose "$project" up --no-start --no-build --no-deps trainer evaluator >"$work/compose.log" 2>&1 ||
    fail "docker-compose could not create the GPU services."
for s in trainer evaluator; do
    c=$(containers "$project" $s)
    [ -n "$c" ] || fail "no $s container."
    got=$("$DOCKER" inspect -f '{{.Config.Image}} {{range .HostConfig.DeviceRequests}}{{.Driver}}:{{.Count}}:{{.Capabilities}}{{end}}' "$c")
    [ "$got" = "$gpu_image nvidia:1:[[gpu]]" ] || fail "$s: image and device request are '$got'."
    grep -qx "PAWPIPE_BACKEND=cuda" <<<"$("$DOCKER" inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$c")" ||
        fail "$s does not get PAWPIPE_BACKEND=cuda."
    echo "$s: $got (one NVIDIA GPU requested from the engine), PAWPIPE_BACKEND=cuda"
done
undo "project=$project"

# --- Swarm ----------------------------------------------------------------------------------------
swarm_up
fail_logs=("$work/stack.log")
rc=0
"$DOCKER" stack deploy -c "$root/compose.yaml" -c "$root/compose.gpu.yaml" pawpipe-ctest-never-$$ \
    >"$work/stack.log" 2>&1 || rc=$?
if [ $rc -eq 0 ]; then
    own stack "pawpipe-ctest-never-$$"
    fail "docker stack deploy accepted compose.gpu.yaml (its device reservations are not Swarm's)."
fi
grep -q "devices" "$work/stack.log" || fail "docker stack deploy rejected compose.gpu.yaml, but not for its devices."
echo "Swarm's stack format rejects compose.gpu.yaml: $(grep -m1 -o 'Additional property devices.*' "$work/stack.log")"

stack=pawpipe-ctest-gpu-$$
files=(-c "$root/compose.yaml" -c "$root/compose.swarm-gpu.yaml")
[ -z "$swarm_pin" ] || files+=(-c "$swarm_pin")
own stack "$stack"
"$DOCKER" stack deploy "${files[@]}" "$stack" >"$work/stack.log" 2>&1 ||
    fail "docker stack deploy of compose.yaml + compose.swarm-gpu.yaml failed."
gpus=$("$DOCKER" node inspect self -f '{{range .Description.Resources.GenericResources}}{{if .DiscreteResourceSpec}}{{.DiscreteResourceSpec.Kind}}={{.DiscreteResourceSpec.Value}} {{end}}{{if .NamedResourceSpec}}{{.NamedResourceSpec.Kind}}={{.NamedResourceSpec.Value}} {{end}}{{end}}')
trainer=${stack}_trainer
reservation=$("$DOCKER" service inspect -f '{{range .Spec.TaskTemplate.Resources.Reservations.GenericResources}}{{.DiscreteResourceSpec.Kind}}={{.DiscreteResourceSpec.Value}}{{end}}' "$trainer")
[ "$reservation" = "NVIDIA-GPU=1" ] || fail "the trainer service reserves '$reservation', not NVIDIA-GPU=1."
[ "$("$DOCKER" service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "$trainer")" = "$gpu_image" ] ||
    fail "the trainer service does not run $gpu_image."
if [[ " $gpus" == *" NVIDIA-GPU="* ]]; then
    # The node announces a GPU: the task gets it, named in DOCKER_RESOURCE_NVIDIA-GPU (what NVIDIA's
    # runtime reads); without a real GPU behind it the trainer then stops with its no-GPU message.
    assigned=""
    for _ in $(seq 60); do
        c=$("$DOCKER" ps -aq --filter "label=com.docker.swarm.service.name=$trainer" | head -n 1)
        [ -n "$c" ] && assigned=$("$DOCKER" inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$c" |
            sed -n 's/^DOCKER_RESOURCE_NVIDIA-GPU=//p') && [ -n "$assigned" ] && break
        sleep 1
    done
    [ -n "$assigned" ] || fail "the trainer's task was not given the node's GPU ($gpus)."
    [[ " $gpus" == *" NVIDIA-GPU=$assigned "* ]] || fail "the trainer was given '$assigned', not one of $gpus."
    echo "the node announces ${gpus% }: Swarm gave the trainer's task DOCKER_RESOURCE_NVIDIA-GPU=$assigned"
else
    # No GPU on this node: the task must wait for one.
    why=""
    for _ in $(seq 30); do
        why=$("$DOCKER" service ps --no-trunc -f desired-state=running --format '{{.CurrentState}} {{.Error}}' "$trainer" | head -n 1)
        [[ "$why" == Pending*"insufficient resources"* ]] && break
        sleep 1
    done
    [[ "$why" == Pending*"insufficient resources"* ]] || fail "the trainer's task is '$why', not pending for a GPU."
    echo "the node announces no GPU: the trainer's task waits: $why"
fi
"$DOCKER" stack rm "$stack" >/dev/null || fail "docker stack rm failed."
wait_stack_gone "$stack" || fail "containers of the GPU stack are left 60 s after docker stack rm."
forget stack "$stack"
echo "compose.swarm-gpu.yaml: the reservation is Swarm's; stack removed"
