# tests/procs_lib.sh: what the test scripts that run stages as processes share (sourced by
# dataplane_procs.sh, sockfuzz.sh and multihost.sh). The sourcing script defines $work (its scratch
# folder), the associative array pid (NAME -> pid) and fail MESSAGE (prints, exits 1).

# ports N: N free TCP ports on 127.0.0.1 (scripts/free_ports), or N at random without Python.
ports() {
    python3 "$(dirname "${BASH_SOURCE[0]}")/../scripts/free_ports" "$1" 2>/dev/null || {
        local b=$((20000 + RANDOM % 10000)) i out=""
        for ((i = 0; i < $1; i++)); do out+="$((b + i)) "; done
        echo "${out% }"
    }
}

start() {   # start NAME CMD...: in the background, output in $work/NAME.log
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    pid[$name]=$!
}

wait_for() {   # wait_for NAME SECONDS: wait for a process to exit; its status, or fail on timeout
    local name=$1 t=$2 i
    for ((i = 0; i < t * 20; i++)); do
        kill -0 "${pid[$name]}" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "${pid[$name]}" 2>/dev/null && fail "$name did not finish within $t s"
    wait "${pid[$name]}"
    local rc=$?
    unset "pid[$name]"
    return $rc
}

stop() {   # stop NAME: SIGTERM and wait; its status
    kill -TERM "${pid[$1]}" 2>/dev/null
    wait "${pid[$1]}" 2>/dev/null
    local rc=$?
    unset "pid[$1]"
    return $rc
}

wait_log() {   # wait_log NAME PATTERN SECONDS [COUNT]: until NAME's log has COUNT lines matching (grep -E)
    local name=$1 pat=$2 t=$3 want=${4:-1} i
    for ((i = 0; i < t * 20; i++)); do
        [ "$(grep -cE -- "$pat" "$work/$name.log" 2>/dev/null)" -ge "$want" ] && return 0
        kill -0 "${pid[$name]}" 2>/dev/null || fail "$name exited without '$pat' in its log"
        sleep 0.05
    done
    fail "$name: no '$pat' in its log within $t s"
}

lines() { [ -f "$1" ] && wc -l <"$1" || echo 0; }

# the counts of a stage's closing line "network: N messages rejected, M connections refused, K failed ..."
net_counts() { sed -n 's/.*network: \([0-9]*\) messages rejected, \([0-9]*\) connections refused, \([0-9]*\) failed handshakes.*/\1 \2 \3/p' "$work/$1.log" | tail -n 1; }
