#!/usr/bin/env bash
# bench/gpu_check.sh: the prepared check for the GPU benchmark machine (bench/gpu_check.md says what it
# measures and how to read it). Runs from a copy of this repo that holds gpu-pack/ (made here by
# bench/gpu_pack.sh), within about 8 minutes: the packed executables (or, if they cannot start, a
# build of the CUDA parts made there), the gpu tests, training-step times against PyTorch, a photo-size
# data set, the tutorial's model2 run end to end against PyTorch, and the data plane's scaling.
# Without a GPU it says what it skips and runs the rest on the CPU with small sizes.
# Every step is timed, limited and logged to OUTDIR/NN-*.log; a failing step is recorded and the
# others go on; OUTDIR/summary.md is always written, and printed at the end.
#
# usage: bench/gpu_check.sh [options] OUTDIR
#   --pack DIR       the pack folder (default: gpu-pack at the repo root)
#   --epochs N       epochs of the end-to-end runs (default 100; each side also stops at its time cap)
#   --quick          a first look: 5 epochs, 50 timed steps, 3 augmenter counts, no torch.compile
#   --no-compile     leave out the torch.compile row of the step-time peer
#   --budget S       seconds for the whole check (default 465)
#   --fallback       build the CUDA parts here even if the packed executables start (tests the fallback)
#   --keep           keep the temporary folder (data set, runs, unpacked pack)
# To try the GPU path of this script where there is no GPU: GPU_CHECK_PRETEND=cpu runs it with our cpu
# backend, the PyTorch peers on the CPU and tiny sizes (its figures mean nothing).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pack_dir=$root/gpu-pack epochs=100 epochs_given=0 quick=0 compile=1 budget=465 force_fallback=0 keep=0 out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --pack) pack_dir=$2; shift 2 ;;
        --epochs) epochs=$2 epochs_given=1; shift 2 ;;
        --quick) quick=1; shift ;;
        --no-compile) compile=0; shift ;;
        --budget) budget=$2; shift 2 ;;
        --fallback) force_fallback=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "gpu_check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "gpu_check.sh: give one OUTDIR (see --help)" >&2; exit 2; }; out=$1; shift ;;
    esac
done
[ -n "$out" ] || { echo "gpu_check.sh: OUTDIR is required (see --help)" >&2; exit 2; }
[[ "$epochs" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check.sh: --epochs needs a positive number" >&2; exit 2; }
[[ "$budget" =~ ^[1-9][0-9]*$ ]] || { echo "gpu_check.sh: --budget needs a number of seconds" >&2; exit 2; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
pack_dir=$(cd "$pack_dir" 2>/dev/null && pwd || echo "$pack_dir")
cd "$root"
work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-gpu-check.XXXXXX")
# everything printed also goes to OUTDIR/console.log (tee ignores Ctrl-C, so the summary still shows)
exec > >(trap '' INT TERM; exec tee -a "$out/console.log") 2>&1

# --- sizes and time caps (seconds) ---------------------------------------------------------------
[ $quick -eq 1 ] && { [ $epochs_given -eq 1 ] || epochs=5; compile=0; }
bench_steps=300 peer_steps=200 peer_warmup=20 batches="20 256" backend=cuda peer_dev=cuda
aug_counts="1 2 4 8 14" scale_epochs=3
[ $quick -eq 1 ] && { bench_steps=50 peer_steps=50 peer_warmup=10 aug_counts="1 4 14"; }
cap_setup=30 cap_build=200 cap_tests=90 cap_ours_steps=75 cap_ours_step_run=25 cap_peer_steps=70
cap_compile=30 cap_data=20 cap_e2e=65 cap_scaling=40 cap_peer_e2e=65
n_train=1000 n_val=500 n_test=500 augs=14   # the tutorial's split (per class); augmenters of the e2e run
pretend=${GPU_CHECK_PRETEND:-}
if [ "$pretend" = cpu ]; then
    bench_steps=3 peer_steps=3 peer_warmup=1 batches="4 8" backend=cpu peer_dev=cpu aug_counts="1 2" scale_epochs=2
    n_train=40 n_val=20 n_test=20 augs=2 cap_peer_steps=150
    # 2 epochs; or, with --epochs, short caps that stop both end-to-end runs part-way
    if [ $epochs_given -eq 0 ]; then epochs=2; else cap_e2e=12 cap_peer_e2e=15; fi
fi

# --- state -----------------------------------------------------------------------------------------
gpu=0 on_gpu=0 gpu_desc="none" torch_desc="not checked" torch_cuda=0 torch_ok=0 probe_no_device=0
mode="not set up" P="" bins="" bins_all="" list="" build_sub="" gpu_lib_path=""
data="" steps_rows=() test_rows=() time_rows=() scale_rows=() e2e_rows=() notes=()
declare -A peer=()

say() { printf '%s\n' "$*"; }
now() { date +%s.%N; }
fmt() { awk -v x="$1" -v d="${2:-1}" 'BEGIN { if (x !~ /^[0-9]*[.]?[0-9]+$/) print "n/a"; else printf "%.*f\n", d, x }'; }
div() {   # a / b with d decimals, or n/a when either is not a number or b is 0
    awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { n = "^[0-9]*[.]?[0-9]+([eE][-+]?[0-9]+)?$"
        if (a !~ n || b !~ n || b + 0 == 0) print "n/a"; else printf "%.*f\n", d, a / b }'
}
# cap WANT: WANT seconds, or less when the whole budget would be overrun (10 s kept for the summary)
cap() { local left=$((budget - SECONDS - 10)); [ "$left" -lt "$1" ] && echo "$left" || echo "$1"; }
# limited SECONDS LOG CMD...: run CMD with a time limit (in the folder LIMITED_CWD if set), its output
# appended to LOG; returns its status (124 when the limit was reached). It runs in the background
# and is waited for, so that Ctrl-C or a TERM reaches our trap at once, which stops it.
current=""      # the command running now
bg_pids=()      # other commands running in the background
limited() {
    local s=$1 log=$2; shift 2
    if [ "$s" -lt 3 ]; then echo "(not started: the check's time budget is spent)" >>"$log"; return 124; fi
    echo "\$ $* (limit ${s} s)" >>"$log"
    local rc=0
    if [ -n "${LIMITED_CWD:-}" ]; then
        (cd "$LIMITED_CWD" && exec timeout -k 10 "$s" "$@") >>"$log" 2>&1 </dev/null &
    else
        timeout -k 10 "$s" "$@" >>"$log" 2>&1 </dev/null &
    fi
    current=$!
    wait "$current" || rc=$?
    current=""
    echo "(exit $rc)" >>"$log"
    return $rc
}
why() { case "$1" in 0) echo ok ;; 124|137) echo "time limit" ;; *) echo "exit $1" ;; esac; }
# last non-empty lines of a log, as one line (for the summary's notes)
tail_of() { grep -v '^\s*$' "$1" 2>/dev/null | grep -v '^(exit\|^\$ ' | tail -n "${2:-1}" | tr '\n' ' ' | tr '|' '/' | cut -c1-160; }
# value after a label, leniently: "median ms/step: 1.23" -> 1.23
num_after() { grep -io "$1[^0-9]\{0,4\}[0-9][0-9.]*" "$2" 2>/dev/null | tail -n 1 | grep -o '[0-9][0-9.]*$' || true; }

# run_step KEY TITLE FUNCTION: runs FUNCTION (which sets step_status and step_note), timed
step_status="" step_note="" step_now="" step_t0=0
run_step() {
    local key=$1 title=$2 fn=$3 t0=$SECONDS
    step_status=ok step_note="" step_now="$key $title" step_t0=$SECONDS
    say ""
    say "== $key $title ($((budget - SECONDS)) s of the budget left)"
    "$fn" || { [ "$step_status" = ok ] && step_status="FAILED"; }
    local dt=$((SECONDS - t0))
    say "== $key $title: $step_status ($dt s)${step_note:+: $step_note}"
    steps_rows+=("| $key $title | $step_status | $dt | ${step_note//|//} |")
    step_now=""
}

# Before our executables: nothing for the packed wrappers, which find their libraries themselves;
# for a fallback build's, cuDNN, cuBLAS and the driver on the library path (set in fallback_build).
ours=()

# --- 1. set-up: host, GPU, libraries, the pack ------------------------------------------------------
find_nvidia_libs() {   # prints cudnn=ROOT, cublas=ROOT, ... for the pip packages' lib/ folders
    timeout 20 python3 - <<'EOF'
import glob, os, sys
roots = {}
for p in sys.path:
    if not p or not os.path.isdir(p):
        continue
    for key, pat in (("cudnn", "libcudnn.so.*"), ("cublas", "libcublas.so.*"), ("cudart", "libcudart.so.*"),
                     ("nvrtc", "libnvrtc.so.*")):
        hits = sorted(glob.glob(os.path.join(p, "nvidia", "*", "lib", pat)))
        if hits and key not in roots:
            roots[key] = os.path.dirname(os.path.dirname(hits[0]))
for key, root in roots.items():
    print("%s=%s" % (key, root))
EOF
}

setup() {
    local log=$out/01-setup.log
    {
        say "host: $(uname -srm), $(nproc) cores; $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
        say "C library: $(ldd --version 2>/dev/null | head -n 1)"
        say "python3: $(command -v python3) $(python3 --version 2>&1)"
        say "nvcc: $(command -v nvcc || echo 'not on PATH'); cmake: $(command -v cmake || echo none); ninja: $(command -v ninja || echo none)"
        say "memory: $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB, " $7 " GiB available"}'); /dev/shm: $(df -h /dev/shm 2>/dev/null | awk 'NR == 2 {print $4 " free"}')"
    } >>"$log" 2>&1
    if command -v nvidia-smi >/dev/null && timeout 20 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
        gpu=1
        gpu_desc=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
        timeout 20 nvidia-smi >>"$log" 2>&1 || true
        timeout 20 nvidia-smi || true
    else
        say "no GPU: nvidia-smi $(command -v nvidia-smi >/dev/null && echo 'lists none' || echo 'is not installed')" | tee -a "$log"
    fi
    local t
    t=$(timeout 45 python3 -c 'import torch; print(torch.__version__, torch.version.cuda, int(torch.cuda.is_available()))' \
        2>>"$log" | tail -n 1) || t=""
    if [ -n "$t" ]; then
        read -r tv tc torch_cuda <<<"$t"
        torch_ok=1 torch_desc="torch $tv (CUDA $tc), sees a GPU: $([ "$torch_cuda" = 1 ] && echo yes || echo no)"
        [ "$gpu" = 1 ] && [ "$torch_cuda" != 1 ] && { gpu=0; notes+=("torch sees no CUDA device: treated as a machine without a GPU"); }
    else
        torch_desc="python3 has no (working) torch"
    fi
    if [ "$pretend" = cpu ]; then
        gpu=1 gpu_desc="none (GPU_CHECK_PRETEND=cpu: the GPU path on the CPU)" torch_cuda=$torch_ok
        notes+=("GPU_CHECK_PRETEND=cpu: the GPU path run on the CPU with tiny sizes; the figures mean nothing")
    fi
    say "GPU: $gpu_desc; $torch_desc" | tee -a "$log"

    # cuDNN and cuBLAS in the Python packages, the driver's libcuda
    local libs cudnn_root="" cublas_root="" cudart_root="" nvrtc_root="" d
    libs=$(find_nvidia_libs 2>>"$log") || libs=""
    say "$libs" >>"$log"
    cudnn_root=$(sed -n 's/^cudnn=//p' <<<"$libs") cublas_root=$(sed -n 's/^cublas=//p' <<<"$libs")
    cudart_root=$(sed -n 's/^cudart=//p' <<<"$libs") nvrtc_root=$(sed -n 's/^nvrtc=//p' <<<"$libs")
    CUDNN_ROOT_FOUND=$cudnn_root CUBLAS_ROOT_FOUND=$cublas_root
    for d in "$cudnn_root" "$cublas_root" "$cudart_root" "$nvrtc_root"; do
        [ -n "$d" ] && [[ ":$gpu_lib_path:" != *":$d/lib:"* ]] && gpu_lib_path=${gpu_lib_path:+$gpu_lib_path:}$d/lib
    done
    local ldc
    ldc=$(command -v ldconfig || echo /sbin/ldconfig)
    for d in $("$ldc" -p 2>/dev/null | awk '/libcuda\.so\.1 / {print $NF}' | xargs -r -n1 dirname) \
             ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib64 \
             /usr/lib/x86_64-linux-gnu /usr/lib/wsl/lib; do
        [ -e "$d/libcuda.so.1" ] && [[ ":$gpu_lib_path:" != *":$d:"* ]] && gpu_lib_path=${gpu_lib_path:+$gpu_lib_path:}$d
    done
    say "library path for cuDNN, cuBLAS and the driver: ${gpu_lib_path:-none found}" | tee -a "$log"
    [ -z "$cudnn_root" ] && [ "$gpu" = 1 ] && notes+=("cuDNN not found in python3's packages (nvidia-cudnn-cu13)")

    # the pack
    local tarball=$pack_dir/pawpipe-gpu.tar.xz
    if [ ! -f "$tarball" ]; then
        say "no pack at $tarball (run bench/gpu_pack.sh on the development machine)" | tee -a "$log"
        step_status=FAILED step_note="no pack"
    elif ! if command -v xz >/dev/null; then limited "$(cap $cap_setup)" "$log" tar -C "$work" -xJf "$tarball"
           else   # no xz program: Python's tarfile reads .tar.xz too
               limited "$(cap $cap_setup)" "$log" python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
                   "$tarball" "$work"
           fi; then
        step_status=FAILED step_note="the pack does not unpack"
    else
        P=$work/pawpipe-gpu
        head -n 4 "$P/MANIFEST.txt" >>"$log" 2>/dev/null || true
        printf '%s\n' "$gpu_lib_path" >"$P/extra-lib-path"
        local bad="" why_bad=""
        for e in trainer bench_step; do
            if ! limited 20 "$work/help-$e.out" "$P/bin/$e" --help; then
                bad="$bad $e" why_bad="$why_bad$(tail_of "$work/help-$e.out" 1) "
            fi
            cat "$work/help-$e.out" >>"$log"
        done
        # what the packed loader resolves, and what it cannot
        for e in bench_step test_cuda; do
            [ -f "$P/bin/.real/$e" ] || continue
            say "libraries of $e:" >>"$log"
            "$P/lib/ld-linux-x86-64.so.2" --library-path "$P/lib:$gpu_lib_path" --list "$P/bin/.real/$e" >>"$log" 2>&1 || true
        done
        # On a GPU, one real step: cuDNN and cuBLAS are only loaded (some of cuDNN on demand) when used,
        # and a library that does not fit (a missing symbol or C library version) shows only then. At
        # debug level the backend logs every convolution algorithm cuDNN offers and the ones it chose.
        if [ -z "$bad" ] && [ "$gpu" = 1 ] && [ "$pretend" != cpu ]; then
            local probe=$work/probe.out
            limited "$(cap 40)" "$probe" env PAWPIPE_LOG_LEVEL=debug "$P/bin/bench_step" models/model2.ini --backend cuda \
                --batch 20 --steps 1 || true
            cat "$probe" >>"$log"
            if grep -qi 'undefined symbol\|symbol lookup error\|cannot open shared object\|version .GLIBC' "$probe"; then
                bad=" bench_step --backend cuda"
                why_bad=$(grep -i -m 1 'undefined symbol\|symbol lookup error\|cannot open shared object\|version .GLIBC' "$probe" | cut -c1-160)
            fi
        fi
        if [ -z "$bad" ] && [ $force_fallback -eq 0 ]; then
            mode=packed bins=$P/bin bins_all=$P/bin list=$pack_dir/gpu_tests.txt build_sub=$P
            step_note="packed executables start"
        else
            step_note="packed executables do not work:${bad:- (--fallback)}"
            [ -n "$bad" ] && say "packed executables that do not work:$bad: $why_bad" | tee -a "$log"
            mode=fallback
        fi
    fi
    [ "$mode" = packed ] || mode=fallback
    return 0
}

# The CUDA parts built here, for steps 2 and 3, when the packed executables cannot start.
fallback_build() {
    local log=$out/01b-fallback-build.log
    command -v nvcc >/dev/null || { [ -x /usr/local/cuda/bin/nvcc ] && PATH=$PATH:/usr/local/cuda/bin; }
    for tool in cmake nvcc; do
        command -v "$tool" >/dev/null || { step_status=FAILED step_note="no $tool here"; return 1; }
    done
    # cuDNN and cuBLAS roots with include/ and lib/, the unversioned names (libcudnn.so) that linking
    # wants added (the Python packages have only libcudnn.so.9 and the like)
    shim() {
        local real=$1 dst=$2 f b
        mkdir -p "$dst/lib"
        [ -d "$real/include" ] && ln -sfn "$real/include" "$dst/include"
        for f in "$real"/lib/*; do
            [ -e "$f" ] || continue
            b=$(basename "$f")
            ln -sf "$f" "$dst/lib/$b"
            case "$b" in *.so.*) [ -e "$dst/lib/${b%%.so.*}.so" ] || ln -s "$f" "$dst/lib/${b%%.so.*}.so" ;; esac
        done
    }
    local args=(-S "$root" -B "$root/build-gpu" -DCMAKE_BUILD_TYPE=Release -DPAWPIPE_GPU_ONLY=ON)
    command -v ninja >/dev/null && args+=(-G Ninja)
    [ -n "$P" ] && [ -d "$P/inih" ] && args+=(-DPAWPIPE_INIH_DIR="$P/inih")
    [ -n "$P" ] && [ -d "$P/jansson" ] && args+=(-DPAWPIPE_JANSSON_DIR="$P/jansson")
    # (beside the build, not in the temporary folder: a later run reuses the build and its paths)
    local roots=$root/build-gpu-roots
    rm -rf "$roots"
    if [ -n "${CUDNN_ROOT_FOUND:-}" ]; then shim "$CUDNN_ROOT_FOUND" "$roots/cudnn"; args+=(-DCUDNN_ROOT="$roots/cudnn"); fi
    if [ -n "${CUBLAS_ROOT_FOUND:-}" ]; then shim "$CUBLAS_ROOT_FOUND" "$roots/cublas"; args+=(-DCUBLAS_ROOT="$roots/cublas"); fi
    local rc=0
    limited "$(cap 60)" "$log" cmake "${args[@]}" || rc=$?
    [ $rc -eq 0 ] && { limited "$(cap $((cap_build - 30)))" "$log" cmake --build "$root/build-gpu" -j "$(nproc)" || rc=$?; }
    if [ $rc -ne 0 ]; then
        step_status=FAILED step_note="$(why $rc): $(tail_of "$log")"
        bins="" list=""
        return 1
    fi
    bins=$root/build-gpu/bin build_sub=$root/build-gpu list=$work/gpu_tests.txt
    ours=(env LD_LIBRARY_PATH="$gpu_lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    "$root/bench/gpu_pack.sh" --list-tests "$root/build-gpu" >"$list" 2>>"$log" || list=$pack_dir/gpu_tests.txt
    step_note="built: $(ls "$bins" 2>/dev/null | tr '\n' ' ')"
}

# --- 2. the gpu tests ---------------------------------------------------------------------------
gpu_tests() {
    local log=$out/02-gpu-tests.log line f name wd skip tmo cmd i rc n=0 fails=0 skips=0 reason
    local until=$((SECONDS + cap_tests))
    [ -n "$list" ] && [ -f "$list" ] || { step_status=FAILED step_note="no list of gpu tests"; return 1; }
    [ -n "$build_sub" ] || { step_status=FAILED step_note="no executables"; return 1; }
    while IFS= read -r line; do
        case "$line" in ''|'#'*) continue ;; esac
        IFS=$'\t' read -r -a f <<<"$line"
        for i in "${!f[@]}"; do
            f[$i]=${f[$i]//@BUILD@/$build_sub}
            f[$i]=${f[$i]//@SRC@/$root}
            [ "${f[$i]}" = - ] && f[$i]=""
        done
        name=${f[0]} wd=${f[1]} skip=${f[2]:-77} tmo=${f[3]:-60}
        # the test's own timeout, within what is left of the step's cap
        tmo=${tmo%%.*}
        [ "$tmo" -gt 0 ] 2>/dev/null || tmo=60
        [ "$tmo" -gt $((until - SECONDS)) ] && tmo=$((until - SECONDS))
        cmd=("${f[@]:4}")
        n=$((n + 1))
        mkdir -p "$wd" 2>/dev/null || wd=$work
        echo "== $name" >>"$log"
        rc=0
        LIMITED_CWD=$wd limited "$(cap "$tmo")" "$log" "${ours[@]}" "${cmd[@]}" || rc=$?
        if [ $rc -eq 0 ]; then
            test_rows+=("| $name | passed | |")
        elif [ $rc -eq "$skip" ]; then
            skips=$((skips + 1))
            # the test's first "skipped: REASON" line, else its last line that mentions skipping
            reason=$(sed -n '/^== '"$name"'$/,$p' "$log" | grep -i -m 1 'skipped: ' || true)
            [ -n "$reason" ] || reason=$(sed -n '/^== '"$name"'$/,$p' "$log" | grep -i 'skip' | tail -n 1 || true)
            reason=$(sed "s/^ *//; s/^skipped: //" <<<"$reason" | cut -c1-150)
            test_rows+=("| $name | skipped | ${reason//|//} |")
            say "$name: skipped: $reason"
            case "$reason" in *"no CUDA device"*|*"no device"*|*"insufficient"*) probe_no_device=1 ;; esac
        else
            fails=$((fails + 1))
            test_rows+=("| $name | FAILED ($(why $rc)) | $(sed -n '/^== '"$name"'$/,$p' "$log" | grep -v '^(exit' | tail -n 1 | tr '|' '/' | cut -c1-150) |")
        fi
    done <"$list"
    step_note="$n tests: $((n - fails - skips)) passed, $fails failed, $skips skipped"
    [ $fails -eq 0 ] || { step_status=FAILED; return 1; }
    [ $n -gt 0 ] && [ $skips -eq $n ] && step_status=skipped
    return 0
}

# --- 3. training-step time, ours and PyTorch's -------------------------------------------------
step_times() {
    local log=$out/03-step-time.log plog=$out/03-step-peer.log rc model b p f ms tf gf note failed=0
    [ -n "$bins" ] || { step_status=skipped step_note="no executables"; return 0; }
    # each run of ours is limited, and all of them together
    local until=$((SECONDS + cap_ours_steps))
    run_cap() { local c; c=$(cap $cap_ours_step_run); [ $((until - SECONDS)) -lt "$c" ] && c=$((until - SECONDS)); echo "$c"; }
    if [ "$on_gpu" = 1 ]; then
        for model in model1 model2; do
            for b in $batches; do
                for p in fp32 tf32; do
                    [ "$backend" = cpu ] && [ $p = tf32 ] && continue   # GPU_CHECK_PRETEND=cpu: fp32 only
                    f=$work/step-$model-$b-$p.out
                    : >"$f"
                    rc=0
                    limited "$(run_cap)" "$f" "${ours[@]}" env PAWPIPE_PRECISION=$p \
                        "$bins/bench_step" "models/$model.ini" --backend $backend --precision $p --batch "$b" --steps $bench_steps || rc=$?
                    note=""
                    if [ $rc -eq 2 ] && grep -qi 'precision' "$f"; then
                        # a bench_step without --precision: the same through PAWPIPE_PRECISION
                        rc=0
                        limited "$(run_cap)" "$f" "${ours[@]}" env PAWPIPE_PRECISION=$p \
                            "$bins/bench_step" "models/$model.ini" --backend $backend --batch "$b" --steps $bench_steps || rc=$?
                        note="precision through PAWPIPE_PRECISION"
                    fi
                    cat "$f" >>"$log"
                    ms=$(num_after 'median ms/step:' "$f") tf=$(num_after 'TFLOP/s' "$f") gf=$(num_after 'GFLOP/step' "$f")
                    [ $rc -eq 0 ] && [ -n "$ms" ] || { failed=$((failed + 1)); note="$(why $rc): $(tail_of "$f")"; ms=""; }
                    [ -z "$tf" ] && [ -n "$gf" ] && [ -n "$ms" ] && tf=$(div "$gf" "$ms")
                    time_rows+=("$model|$b|$p|${ms:-failed}|${tf:-}|$note")
                    say "ours $model batch $b $p: ${ms:-failed} ms/step${tf:+, $tf TFLOP/s}${note:+ ($note)}"
                done
            done
        done
        # cuDNN's algorithms timed at start-up instead of its heuristics' choice (--autotune)
        f=$work/step-model2-20-autotune.out
        : >"$f"
        rc=0
        limited "$(run_cap)" "$f" "${ours[@]}" "$bins/bench_step" models/model2.ini --backend $backend --precision fp32 \
            --autotune --batch 20 --steps $bench_steps || rc=$?
        cat "$f" >>"$log"
        ms=$(num_after 'median ms/step:' "$f") tf=$(num_after 'TFLOP/s' "$f") note="--autotune: algorithms timed"
        [ $rc -eq 0 ] && [ -n "$ms" ] || { failed=$((failed + 1)); note="$(why $rc): $(tail_of "$f")"; ms=""; }
        time_rows+=("model2|20|fp32 autotune|${ms:-failed}|${tf:-}|$note")
        say "ours model2 batch 20 fp32 --autotune: ${ms:-failed} ms/step"
    else
        # a fallback build has no cpu (oneDNN) backend: the reference backend, on a tiny batch
        local cpu_args=(--backend cpu --batch 20 --steps 3)
        [ "$mode" = fallback ] && cpu_args=(--backend ref --batch 2 --steps 1)
        say "no GPU (or our probe found no device): the cuda step times are skipped; bench_step ${cpu_args[*]}" \
            "on model1 instead, to exercise the script"
        f=$work/step-cpu.out
        : >"$f"
        rc=0
        limited "$(run_cap)" "$f" "${ours[@]}" "$bins/bench_step" models/model1.ini "${cpu_args[@]}" || rc=$?
        cat "$f" >>"$log"
        ms=$(num_after 'median ms/step:' "$f") tf=$(num_after 'TFLOP/s' "$f")
        [ $rc -eq 0 ] && [ -n "$ms" ] || { failed=1; ms=""; }
        time_rows+=("model1|${cpu_args[3]}|fp32 (cpu)|${ms:-failed}|$tf|$( [ -z "$ms" ] && echo "$(why $rc): $(tail_of "$f")")")
    fi

    # the peer: one process for every configuration (eager and CUDA graphs), then torch.compile on one
    local peer_args=() rc_p=0
    if [ "$on_gpu" = 1 ] && [ "$torch_cuda" = 1 ]; then
        # model2 first: if the cap cuts the run short, the network of the end-to-end run is measured
        peer_args=(--spec models/model2.ini --spec models/model1.ini --precision fp32 --precision tf32
                   --modes "eager,graphs" --steps "$peer_steps" --warmup "$peer_warmup" --device "$peer_dev")
        for b in $batches; do peer_args+=(--batch "$b"); done
        limited "$(cap $cap_peer_steps)" "$plog" python3 bench/gpu_step_peer.py "${peer_args[@]}" || rc_p=$?
        if [ $compile -eq 1 ]; then
            local ct
            ct=$(cap $cap_compile)
            limited "$((ct + 5))" "$plog" python3 bench/gpu_step_peer.py --spec models/model2.ini --batch "${batches%% *}" \
                --precision fp32 --device "$peer_dev" --modes compile --compile-timeout "$((ct > 10 ? ct - 5 : 5))" --steps $peer_steps --warmup $peer_warmup || true
        fi
    elif [ $torch_ok -eq 1 ]; then
        say "the PyTorch peer runs on the CPU for a few steps (no GPU): to exercise it, not to compare"
        limited "$(cap 60)" "$plog" python3 bench/gpu_step_peer.py --device cpu --spec models/model1.ini --batch 20 \
            --modes eager --steps 3 --warmup 1 || rc_p=$?
    else
        say "the PyTorch peer is skipped: $torch_desc" | tee -a "$plog"
        rc_p=77
    fi
    local line key fields
    while IFS= read -r line; do
        fields=${line#result }
        local m="" bb="" pp="" mo="" val=""
        for kv in $fields; do
            case "$kv" in
                model=*) m=${kv#*=} ;; batch=*) bb=${kv#*=} ;; precision=*) pp=${kv#*=} ;; mode=*) mo=${kv#*=} ;;
                median_ms=*) val=${kv#*=} ;; error=*) val=error ;; skipped=*) val=skipped ;;
            esac
        done
        [ "$on_gpu" = 1 ] || pp="$pp (cpu)"
        [ -n "$m" ] && peer["$m|$bb|$pp|$mo"]=$val
    done < <(grep '^result ' "$plog" 2>/dev/null || true)
    [ $rc_p -ne 0 ] && [ $rc_p -ne 77 ] && failed=$((failed + 1)) && notes+=("step-time peer: $(why $rc_p): $(tail_of "$plog")")
    step_note="${#time_rows[@]} rows of ours, $(grep -c '^result .*median_ms' "$plog" 2>/dev/null || true) peer results"
    [ "$on_gpu" = 1 ] || step_note="$step_note (CPU: exercise only)"
    [ $failed -eq 0 ] || { step_status="FAILED ($failed)"; return 1; }
}

# --- 4. a photo-size data set --------------------------------------------------------------------
make_data() {
    local log=$out/04-data.log
    [ -n "$bins_all" ] || { step_status=skipped step_note="needs the packed executables (fallback mode: steps 4-5 skipped)"; return 0; }
    [ "$on_gpu" = 1 ] || { n_train=40 n_val=20 n_test=20; }
    local d=$work/data s seed=1 pids=() rc=0 pid
    mkdir -p "$d"
    # one process per split (each with its own seed, so no picture repeats across splits)
    for s in train validation test; do
        local c_train=0 c_val=0 c_test=0
        case $s in train) c_train=$n_train ;; validation) c_val=$n_val ;; test) c_test=$n_test ;; esac
        timeout -k 5 "$(cap $cap_data)" "$bins_all/gen_dataset" --out "$work/gen-$s" --seed $seed --size 500x375 \
            --train $c_train --validation $c_val --test $c_test >>"$log" 2>&1 </dev/null &
        pids+=($!)
        bg_pids+=($!)
        seed=$((seed + 1))
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
    bg_pids=()
    for s in train validation test; do
        [ -d "$work/gen-$s/$s" ] && mv "$work/gen-$s/$s" "$d/$s"
    done
    local got
    got=$(find "$d" -name '*.jpg' | wc -l)
    step_note="$got pictures of 500x375 (train $n_train+$n_train, validation $n_val+$n_val, test $n_test+$n_test)"
    if [ $rc -ne 0 ] || [ "$got" -ne $((2 * (n_train + n_val + n_test))) ]; then
        step_status=FAILED step_note="$(why $rc): $step_note: $(tail_of "$log")"
        return 1
    fi
    data=$d
}

# --- 5. end to end, ours and PyTorch's; the data plane's scaling ----------------------------------
# The share of the trainer's time not spent computing, from its epoch checkpoints' metrics
# (1 - compute_ms_per_step / ms_per_step over the epochs): for a trainer that does not print it.
ckpt_wait() {
    python3 - "$1" <<'EOF' 2>/dev/null || true
import glob, json, struct, sys
ms = comp = 0.0
for path in sorted(glob.glob(sys.argv[1] + "/ckpt-epoch-*.safetensors")):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    if "metric.ms_per_step" in meta and "metric.compute_ms_per_step" in meta:
        ms += float(meta["metric.ms_per_step"])
        comp += float(meta["metric.compute_ms_per_step"])
if ms > 0:
    print("~%.0f%% (from the checkpoints)" % (100.0 * (1.0 - comp / ms)))
EOF
}

# seconds since midnight of a HH:MM:SS.mmm stamp
tod() { awk -F: '{ print $1 * 3600 + $2 * 60 + $3 }' <<<"$1"; }

e2e_ours() {
    local log=$out/05-e2e-ours.log run=$work/run-ours backend=$backend k=$augs e=$epochs
    [ -n "$data" ] || { step_status=skipped step_note="no data set"; return 0; }
    [ "$on_gpu" = 1 ] || { backend=cpu k=2 e=1; say "no GPU: one epoch on the CPU with 2 augmenters, to exercise the pipeline"; }
    local start_tod start rc=0 wall
    start_tod=$(tod "$(date +%H:%M:%S.%N)") start=$(now)
    limited "$(cap $cap_e2e)" "$log" env PAWPIPE_PRECISION=fp32 scripts/pipeline --bin "$bins_all" --data "$data" --model models/model2.ini --epochs $e --steps-per-epoch 0 \
        --augmenters $k --backend $backend --run-dir "$run" || rc=$?
    wall=$(awk -v a="$start" -v b="$(now)" 'BEGIN { print b - a }')
    # the trainer's lines as scripts/pipeline passed them on (its logs/trainer.log can lose lines: the
    # trainer's stdout and stderr are written into it by two tee processes)
    local tlog=$log ndone last t waited acc
    ndone=$(grep -c 'trainer info: epoch [0-9]*/[0-9]*: checkpoint' "$tlog" 2>/dev/null || true)
    ndone=${ndone:-0}
    if [ $rc -eq 0 ]; then t=$wall
    else
        last=$(grep -o '^[0-9:.]* trainer info: epoch [0-9]*/[0-9]*: checkpoint' "$tlog" 2>/dev/null | tail -n 1 | cut -d' ' -f1)
        t=""
        [ -n "$last" ] && t=$(awk -v a="$start_tod" -v b="$(tod "$last")" 'BEGIN { d = b - a; if (d < 0) d += 86400; print d }')
    fi
    waited=$(grep -io 'waited for data[^0-9]*[0-9][0-9.]* *%' "$tlog" 2>/dev/null | tail -n 1 | grep -o '[0-9][0-9.]* *%' || true)
    [ -n "$waited" ] || waited=$(ckpt_wait "$run")
    acc=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "val_accuracy") c = i; next } c { v = $c } END { print v }' "$run/history.csv" 2>/dev/null || true)
    cp -r "$run/logs" "$out/05-e2e-ours-logs" 2>/dev/null || true
    cp "$run/history.csv" "$out/05-e2e-ours-history.csv" 2>/dev/null || true
    local n_img=$((2 * n_train))
    ours_spe=$(div "$t" "$ndone" 3)
    e2e_rows+=("| ours ($backend, $k augmenters) | $ndone of $e | $(fmt "$wall") | $(fmt "$ours_spe" 2) | $(div $((ndone * n_img)) "$t" 0) | ${waited:-n/a} | ${acc:-n/a} |")
    step_note="$ndone of $e epochs in $(fmt "$wall") s ($(why $rc)); waited for data: ${waited:-n/a}"
    [ "$ndone" -gt 0 ] || { step_status="FAILED ($(why $rc))"; step_note="$step_note: $(tail_of "$log")"; return 1; }
    [ $rc -eq 0 ] || step_status="partial ($(why $rc))"
}

scaling() {
    local log=$out/05-scaling.log k f r1 rl base="" counts=$aug_counts e=$scale_epochs
    [ -n "$data" ] || { step_status=skipped step_note="no data set"; return 0; }
    [ "$on_gpu" = 1 ] || { counts="1 2" e=2; }
    local n_counts per rc failed=0
    n_counts=$(wc -w <<<"$counts")
    for k in $counts; do
        per=$(( (budget - SECONDS - 10) < cap_scaling / n_counts ? (budget - SECONDS - 10) : cap_scaling / n_counts ))
        f=$work/scale-$k.out
        rc=0
        limited "$per" "$f" bench/dataplane.sh --bin "$bins_all" --data "$data" --model models/model2.ini --epochs $e \
            --augmenters "$k" --transport ipc || rc=$?
        cat "$f" >>"$log"
        mapfile -t r < <(sed -n 's/^ *epoch [0-9]*: *\([0-9.]*\) images\/s.*/\1/p' "$f")
        r1=${r[0]:-}
        rl=$( [ ${#r[@]} -gt 1 ] && printf '%s\n' "${r[@]:1}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }' || true)
        [ -z "$base" ] && [ -n "$r1" ] && base=$r1 base_l=$rl
        [ -n "$r1" ] || failed=$((failed + 1))
        scale_rows+=("| $k | $(fmt "$r1") | $(fmt "$rl") | $(div "$r1" "$base") / $(div "$rl" "${base_l:-}") | $([ $rc -eq 0 ] || why $rc) |")
        say "scaling: $k augmenter(s): epoch 1 $(fmt "$r1") images/s, later epochs $(fmt "$rl") images/s ($(why $rc))"
    done
    step_note="augmenters $counts, $e epochs each"
    [ $failed -eq 0 ] || { step_status="FAILED ($failed)"; return 1; }
}

e2e_peer() {
    local log=$out/05-e2e-peer.log args=() rc=0 c e w dev=cpu
    [ -n "$data" ] || { step_status=skipped step_note="no data set"; return 0; }
    if [ "$on_gpu" = 1 ] && [ "$torch_cuda" = 1 ]; then
        c=$(cap $cap_peer_e2e) e=$epochs w=$augs dev=$peer_dev
        args=(--precision fp32 --time-limit "$((c * 4 / 5))" --device "$peer_dev")
    elif [ $torch_ok -eq 1 ]; then
        say "no GPU: the PyTorch peer runs one epoch on the CPU, to exercise it"
        c=$(cap 90) e=1 w=2
        args=(--device cpu --threads 2)
    else
        say "the PyTorch peer is skipped: $torch_desc" | tee -a "$log"
        step_status=skipped step_note="$torch_desc"
        return 0
    fi
    limited "$c" "$log" python3 bench/gpu_e2e_peer.py --data "$data" --epochs "$e" --workers "$w" "${args[@]}" || rc=$?
    [ $rc -eq 77 ] && { step_status=skipped step_note="$(tail_of "$log")"; return 0; }
    local done_ wall spe ips acc
    done_=$(sed -n 's/^epochs: \([0-9]*\) of.*/\1/p' "$log" | tail -n 1)
    wall=$(num_after '^wall s:' "$log") spe=$(num_after '^s/epoch:' "$log") ips=$(num_after '^images/s:' "$log")
    acc=$(num_after '^val_accuracy:' "$log")
    if [ -z "$done_" ]; then   # stopped from outside: the epoch lines still tell
        done_=$(grep -c '^epoch [0-9]*/' "$log" || true)
        wall=$(grep '^epoch [0-9]*/' "$log" | tail -n 1 | sed -n 's/.*at \([0-9.]*\) s.*/\1/p')
        spe=$(div "$wall" "$done_" 3) ips=$(div $((done_ * 2 * n_train)) "$wall" 0)
        acc=$(grep '^epoch [0-9]*/' "$log" | tail -n 1 | sed -n 's/.*val_accuracy: \([0-9.]*\).*/\1/p')
    fi
    peer_spe=$spe
    e2e_rows+=("| PyTorch ($dev, DataLoader with $w workers) | ${done_:-0} of $e | $(fmt "$wall") | $(fmt "$spe" 2) | $(fmt "$ips" 0) | n/a | ${acc:-n/a} |")
    step_note="${done_:-0} epochs, $(fmt "$ips" 0) images/s ($(why $rc))"
    [ "${done_:-0}" -gt 0 ] || { step_status="FAILED ($(why $rc))"; step_note="$step_note: $(tail_of "$log")"; return 1; }
    [ "${done_:-0}" -ge "$e" ] || step_status="partial (time limit)"
}

# --- the summary ------------------------------------------------------------------------------------
rows() { [ $# -eq 0 ] || printf '%s\n' "$@"; }
write_summary() {
    local s=$out/summary.md r
    {
        echo "# pawpipe GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "- host: $(uname -srm), $(nproc) cores; $(ldd --version 2>/dev/null | head -n 1)"
        echo "- GPU: $gpu_desc; $torch_desc"
        echo "- pack: $(head -n 2 "$pack_dir/MANIFEST.txt" 2>/dev/null | tail -n 1 || echo none)"
        echo "- mode: $mode$([ $quick -eq 1 ] && echo ', --quick'); $SECONDS s of the $budget s budget used"
        for r in "${notes[@]}"; do echo "- note: $r"; done
        echo
        echo "## Steps"
        echo
        echo "| step | result | seconds | note |"
        echo "|---|---|---:|---|"
        rows "${steps_rows[@]}"
        echo
        echo "## GPU tests (02-gpu-tests.log)"
        echo
        if [ ${#test_rows[@]} -gt 0 ]; then
            echo "| test | result | note |"
            echo "|---|---|---|"
            rows "${test_rows[@]}"
        else echo "none run"; fi
        echo
        echo "## Training-step time, median ms/step (03-step-time.log, 03-step-peer.log)"
        echo
        if [ "$on_gpu" = 1 ]; then
            echo "Ours: bench_step --backend $backend, $bench_steps steps. PyTorch: bench/gpu_step_peer.py, $peer_steps steps timed"
            echo "with CUDA events; eager, one CUDA graph per step, and torch.compile (model2, batch ${batches%% *}, fp32 only)."
        else
            echo "No GPU: bench_step --backend cpu for 3 steps and the peer on the CPU, only to exercise the script."
        fi
        echo "A ratio below 1 means ours is faster. TFLOP/s marked * use the peer's count of the step's FLOP."
        echo
        echo "| model | batch | precision | ours ms | ours TFLOP/s | peer eager ms | peer graphs ms | peer compile ms | ours/eager | ours/graphs | note |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
        local row m b p ms tf note pe pg pc gfl
        for row in "${time_rows[@]}"; do
            IFS='|' read -r m b p ms tf note <<<"$row"
            pe=${peer["$m|$b|$p|eager"]:-n/a} pg=${peer["$m|$b|$p|graphs"]:-n/a} pc=${peer["$m|$b|$p|compile"]:-n/a}
            if [ -z "$tf" ] && [ "$ms" != failed ]; then
                gfl=$(grep "^result model=$m batch=$b " "$out/03-step-peer.log" 2>/dev/null | grep -o 'gflop_per_step=[0-9.]*' | head -n 1 | cut -d= -f2)
                [ -n "$gfl" ] && tf="$(div "$gfl" "$ms")*"
            fi
            echo "| $m | $b | $p | $ms | ${tf:-n/a} | $pe | $pg | $pc | $(div "$ms" "$pe") | $(div "$ms" "$pg") | ${note//|//} |"
        done
        [ ${#time_rows[@]} -gt 0 ] || echo "| (not run) | | | | | | | | | | |"
        echo
        echo "## End to end: the tutorial's model2 run (05-e2e-ours.log, 05-e2e-peer.log)"
        echo
        echo "$((2 * n_train)) training images per epoch (batches of 20), validation of $((2 * n_val)) images each epoch;"
        echo "each side stops at its time cap: then s/epoch and images/s are over the epochs done (start-up included)."
        echo
        echo "| run | epochs | wall s | s/epoch | images/s | waited for data | val_accuracy |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        rows "${e2e_rows[@]}"
        [ ${#e2e_rows[@]} -gt 0 ] || echo "| (not run) | | | | | | |"
        echo
        echo "ratio ours/PyTorch, s/epoch: $(div "${ours_spe:-}" "${peer_spe:-}") (below 1: ours is faster)"
        echo
        echo "## Data plane scaling: loader + K augmenters + trainer --dry-run (05-scaling.log)"
        echo
        echo "| augmenters | epoch 1 (decode) images/s | later epochs (cache) images/s | speed-up over 1 (decode / cache) | note |"
        echo "|---:|---:|---:|---|---|"
        rows "${scale_rows[@]}"
        [ ${#scale_rows[@]} -gt 0 ] || echo "| (not run) | | | | |"
    } >"$s"
}

finish() {
    local rc=$?
    set +e   # the summary is written whatever fails on the way
    trap '' PIPE
    stop_running
    write_summary
    [ $keep -eq 1 ] || rm -rf "$work"
    echo
    cat "$out/summary.md"
    [ $keep -eq 0 ] || echo "kept: $work"
    exit $rc
}
stop_running() {   # the commands still running, with everything they started
    local p
    for p in $current "${bg_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in $current "${bg_pids[@]}"; do wait "$p" 2>/dev/null; done
    current="" bg_pids=()
}
interrupted() {
    notes+=("interrupted by a signal after $SECONDS s")
    [ -n "$step_now" ] && steps_rows+=("| $step_now | interrupted | $((SECONDS - step_t0)) | |")
    say "gpu_check.sh: interrupted; stopping the running step and writing the summary"
    exit 130
}
trap finish EXIT
trap interrupted INT TERM

say "pawpipe GPU check: output in $out, budget $budget s$([ $quick -eq 1 ] && echo ', --quick')"
ours_spe="" peer_spe=""
run_step 1 "set-up: GPU, libraries, the pack" setup
if [ "$mode" = fallback ]; then
    run_step 1b "fallback: build the CUDA parts here" fallback_build
    notes+=("fallback build: steps 4-5 (data, end to end, scaling) are skipped")
fi
run_step 2 "gpu tests" gpu_tests
on_gpu=$gpu
if [ "$gpu" = 1 ] && [ $probe_no_device -eq 1 ] && [ "$pretend" != cpu ]; then
    on_gpu=0
    notes+=("our CUDA probe found no device: the GPU parts are skipped as on a machine without a GPU")
fi
run_step 3 "training-step time" step_times
run_step 4 "data set (gen_dataset --size 500x375)" make_data
run_step 5a "end to end: ours" e2e_ours
run_step 5b "data plane scaling" scaling
run_step 5c "end to end: PyTorch" e2e_peer
