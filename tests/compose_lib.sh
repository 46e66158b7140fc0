# shellcheck shell=bash
# tests/compose_lib.sh: what the Docker tests (tests/compose_*.sh, ctest label compose) share; sourced,
# not run. Every script calls compose_init STATE_DIR first: STATE_DIR (in the build folder) remembers
# between the tests of one ctest run which images they use and what they started (dockerd, a swarm,
# compose projects, stacks), so that compose_teardown.sh can undo what a killed test left behind.
# Everything a test makes carries its name: compose projects and stacks are pawpipe-ctest-*, images
# pawpipe:ctest-<id> and pawpipe-gpu:ctest-<id> (<id>: of the build folder), folders under TMPDIR.

# The Docker client on PATH (either 20.10's or a newer one: both talk to the 20.10 engine), and
# docker-compose (v1) or the `docker compose` plugin (v2).
DOCKER=${DOCKER:-docker}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '== %s\n' "$*"; }

# fail MESSAGE: print it, and the tails of the logs the test named in fail_logs, then exit 1
fail_logs=()
fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "${fail_logs[@]}"; do
        [ -f "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 30 "$f" >&2; }
    done
    exit 1
}

# as_root CMD...: run as root (directly, or through sudo)
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# apt_install PACKAGE...: install the missing ones with apt-get
apt_install() {
    local missing=() p
    for p in "$@"; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || fail "${missing[*]} missing and no apt-get to install them with."
    [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null ||
        fail "${missing[*]} missing: install them, or run the tests as root or with sudo."
    say "installing ${missing[*]}"
    local log=${state:-${TMPDIR:-/tmp}}/apt-get.log
    { as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
        >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "apt-get could not install ${missing[*]}."; }
}

# compose_init STATE_DIR: the shared state, image names, the test user and the compose command
compose_init() {
    state=$1
    mkdir -p "$state/owned"
    local id
    id=$(printf '%s' "$state" | sha256sum | cut -c1-8)
    cpu_image=pawpipe:ctest-$id
    gpu_image=pawpipe-gpu:ctest-$id
    # A non-root user that owns the test's folders: this user when it is not root, else uid/gid 4321.
    if [ "$(id -u)" -ne 0 ]; then test_uid=$(id -u) test_gid=$(id -g); else test_uid=4321 test_gid=4321; fi
    if command -v docker-compose >/dev/null; then
        compose_cmd=(docker-compose)
    else
        compose_cmd=("$DOCKER" compose)
    fi
    owned=()
    trap compose_cleanup EXIT
}

# The things this test started, undone in reverse order at its exit (and by compose_teardown.sh if
# the test was killed): own KIND NAME records one, forget KIND NAME forgets it once undone.
# Each record is a file of $state/owned holding "KIND=NAME".
record() { printf '%s/owned/%s.%s' "$state" "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-12)"; }
own() { printf '%s=%s\n' "$1" "$2" >"$(record "$1" "$2")"; owned+=("$1=$2"); }
forget() { rm -f "$(record "$1" "$2")"; }

undo() {   # undo KIND=NAME
    local kind=${1%%=*} name=${1#*=}
    case "$kind" in
        project)
            "${compose_cmd[@]}" -p "$name" -f "$root/compose.yaml" down -v --remove-orphans -t 3 >/dev/null 2>&1 || true
            # and whatever `down` did not know of (containers of `run`, a second compose file's services)
            local c
            for c in $("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$name"); do
                "$DOCKER" rm -f "$c" >/dev/null 2>&1 || true
            done
            "$DOCKER" volume rm "${name}_shm" >/dev/null 2>&1 || true
            "$DOCKER" network rm "${name}_default" >/dev/null 2>&1 || true ;;
        stack)
            "$DOCKER" stack rm "$name" >/dev/null 2>&1 || true
            wait_stack_gone "$name" || true ;;
        swarm)
            "$DOCKER" swarm leave --force >/dev/null 2>&1 || true ;;
        dockerd)   # started by compose_setup.sh; stopped by compose_teardown.sh only
            [ "$(cat "/proc/$name/comm" 2>/dev/null)" = dockerd ] || { forget "$kind" "$name"; return 0; }
            as_root kill -TERM "$name" 2>/dev/null || true
            for _ in $(seq 60); do kill -0 "$name" 2>/dev/null || break; sleep 0.5; done
            kill -0 "$name" 2>/dev/null && echo "dockerd ($name) did not stop within 30 s" >&2 ;;
        network)
            "$DOCKER" network rm "$name" >/dev/null 2>&1 || true ;;
        dir)
            as_root rm -rf "$name" 2>/dev/null || rm -rf "$name" ;;
    esac
    forget "$kind" "$name"
}

compose_cleanup() {
    local rc=$? i
    for ((i = ${#owned[@]} - 1; i >= 0; i--)); do undo "${owned[$i]}"; done
    exit $rc
}

# wait_stack_gone NAME: after `docker stack rm`, until its containers and network are gone, then
# remove its volumes (Swarm leaves them)
wait_stack_gone() {
    local name=$1 i
    for i in $(seq 60); do
        [ -z "$("$DOCKER" ps -aq --filter "label=com.docker.stack.namespace=$name")" ] &&
            [ -z "$("$DOCKER" network ls -q --filter "label=com.docker.stack.namespace=$name")" ] && break
        sleep 1
    done
    local v
    for v in $("$DOCKER" volume ls -q --filter "label=com.docker.stack.namespace=$name"); do
        "$DOCKER" volume rm "$v" >/dev/null 2>&1 || true
    done
    [ -z "$("$DOCKER" ps -aq --filter "label=com.docker.stack.namespace=$name")" ]
}

# need_engine: fail unless the Docker engine answers (compose_setup.sh starts it)
need_engine() {
    "$DOCKER" info >/dev/null 2>&1 || fail "the Docker engine does not answer (compose_setup starts it; see its output)."
}

# need_image IMAGE: fail unless IMAGE exists (built by compose_setup.sh or compose_gpu.sh)
need_image() {
    "$DOCKER" image inspect "$1" >/dev/null 2>&1 || fail "image $1 is missing: the setup test builds it."
}

# workdir NAME: $work, a new folder for this test with data/ and runs/ owned by the test user;
# removed at exit
workdir() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-ctest-$1.XXXXXX")
    chmod 755 "$work"
    own dir "$work"
    mkdir -p "$work/runs" "$work/data"
    [ "$(id -u)" -ne 0 ] || chown -R "$test_uid:$test_gid" "$work/runs" "$work/data"
}

# make_data DIR TRAIN VALIDATION TEST: the built-in data set, written by the image's gen_dataset
make_data() {
    "$DOCKER" run --rm -u "$test_uid:$test_gid" -v "$1:/out" "$cpu_image" \
        gen_dataset --out /out --train "$2" --validation "$3" --test "$4" >"$state/gen_dataset.log" 2>&1 ||
        { cat "$state/gen_dataset.log" >&2; fail "gen_dataset in $cpu_image failed."; }
}

# compose_env DATA RUNS: the variables of compose.yaml for a test run
compose_env() {
    export PAWPIPE_IMAGE=$cpu_image PAWPIPE_GPU_IMAGE=$gpu_image DATA=$1 RUNS=$2 RUN=run \
        PAWPIPE_UID=$test_uid PAWPIPE_GID=$test_gid CACHE_MB=256 SHM_SIZE=400m
}

# compose PROJECT ARGS...: docker-compose on the repository's compose.yaml (plus $compose_files)
compose_files=()
compose() {
    local p=$1; shift
    local files=(-f "$root/compose.yaml") f
    for f in "${compose_files[@]}"; do files+=(-f "$f"); done
    "${compose_cmd[@]}" -p "$p" "${files[@]}" "$@"
}

# containers PROJECT SERVICE: the ids of the service's containers, oldest first
containers() {
    "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$1" --filter "label=com.docker.compose.service=$2" |
        tac
}

# wait_file FILE SECONDS [PID]: until FILE exists; fail after SECONDS, or when process PID has ended
wait_file() {
    local i
    for i in $(seq $(($2 * 5))); do
        [ -e "$1" ] && return 0
        [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && fail "the run ended before $1 appeared."
        sleep 0.2
    done
    fail "$1 did not appear within $2 s."
}

# expect_outputs RUN_DIR EPOCHS: the checkpoints, history.csv (a row per epoch) and curves.png, all
# owned by the test user
expect_outputs() {
    local dir=$1 epochs=$2 e f
    for e in $(seq "$epochs"); do
        f=$dir/$(printf 'ckpt-epoch-%03d.safetensors' "$e")
        [ -s "$f" ] || fail "no $(basename "$f") in the run folder."
    done
    for f in history.csv curves.png END; do [ -s "$dir/$f" ] || fail "no $f in the run folder."; done
    local got
    got=$(awk -F, 'NR > 1 && $2 != "" {print $1}' "$dir/history.csv" | sort -un | tr '\n' ' ')
    for e in $(seq "$epochs"); do
        case " $got" in *" $e "*) ;; *) fail "history.csv has no row for epoch $e (epochs: $got)." ;; esac
    done
    local bad
    bad=$(find "$dir" -mindepth 0 \( ! -uid "$test_uid" -o ! -gid "$test_gid" \) -printf '%p (%U:%G) ')
    [ -z "$bad" ] || fail "not owned by $test_uid:$test_gid: $bad"
}

# swarm_up: a swarm to deploy on: this engine's, or a one-node swarm made here (advertised on
# loopback only, left again at exit). On a swarm that was there already, the test's services are
# kept on this node by placement constraints in the file named by $swarm_pin.
swarm_up() {
    swarm_pin=""
    local st
    st=$("$DOCKER" info -f '{{.Swarm.LocalNodeState}}' 2>/dev/null || true)
    case "$st" in
        active)
            local self
            self=$("$DOCKER" info -f '{{.Swarm.NodeID}}')
            swarm_pin=$(mktemp "${TMPDIR:-/tmp}/pawpipe-ctest-pin.XXXXXX")
            own dir "$swarm_pin"
            printf 'version: "3.8"\nservices:\n' >"$swarm_pin"
            local s
            for s in loader augmenter trainer evaluator; do
                printf '  %s:\n    deploy:\n      placement:\n        constraints: ["node.id == %s"]\n' "$s" "$self" >>"$swarm_pin"
            done ;;
        inactive)
            # swarm init also makes the docker_gwbridge network, which leaving does not remove
            "$DOCKER" network inspect docker_gwbridge >/dev/null 2>&1 || own network docker_gwbridge
            own swarm local
            "$DOCKER" swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 >/dev/null ||
                fail "docker swarm init failed." ;;
        *) fail "this engine's swarm is '$st': neither active nor inactive." ;;
    esac
}

# stack_ps STACK: "service state" per task, e.g. "pawpipe-ctest-1_trainer Complete"
stack_ps() {
    "$DOCKER" stack ps "$1" --format '{{.Name}} {{.CurrentState}}' 2>/dev/null |
        awk '{name = $1; sub(/\.[0-9]+$/, "", name); print name, $2}'
}
