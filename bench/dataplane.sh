#!/usr/bin/env bash
# bench/dataplane.sh: throughput of the data plane on the real photos: loader + 1 and then 2
# augmenters + a dry-run trainer over tcp://127.0.0.1, model2's batches (20 images, 150x150,
# augmented). Per epoch: images/s (the first epoch decodes every JPEG, later ones read the decoded
# images from the augmenters' caches), the speed-up of 2 augmenters over 1, and the share of each
# batch's time spent in ZeroMQ + msgpack transport. Results and their reading: bench/dataplane.md.
# usage: bench/dataplane.sh [--bin DIR] [--data DIR] [--model M] [--epochs N] [--cache-mb MB]
#                           [--transport tcp|ipc] [--augmenters "1 2"] [--private-caches] [--logs DIR]
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin data=$here/../shared/data/catsdogs model=$here/models/model2.ini epochs=4 cache_mb="" logs="" transport=tcp counts="1 2" shared=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --data) data=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --cache-mb) cache_mb=$2; shift 2 ;;
        --logs) logs=$2; shift 2 ;;
        --transport) transport=$2; shift 2 ;;
        --augmenters) counts=$2; shift 2 ;;
        --private-caches) shared=off; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "dataplane.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [ ! -d "$data/train" ]; then
    echo "dataplane.sh: SKIP: no data set at $data (expected DIR/train/<class>/*.jpg)"
    exit 0
fi
for exe in loader augmenter; do
    [ -x "$bin/$exe" ] || { echo "dataplane.sh: $bin/$exe is missing: build first" >&2; exit 2; }
done
if [ -x "$bin/trainer" ]; then dry=("$bin/trainer" --dry-run)
elif [ -x "$bin/dataplane_dryrun" ]; then dry=("$bin/dataplane_dryrun")
else echo "dataplane.sh: no trainer (or dataplane_dryrun) in $bin" >&2; exit 2; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-bench.XXXXXX")
pids=()
finish() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "$logs" ] && mkdir -p "$logs" && cp "$work"/*.log "$work"/*.err "$logs"/ 2>/dev/null
    rm -rf "$work"
}
trap finish EXIT

ports() { python3 "$here/scripts/free_ports" 4; }

# CPU seconds (user + system) of a live process, from /proc
cpu_of() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
timer=()
command -v /usr/bin/time >/dev/null && timer=(/usr/bin/time -f "%U %S")

# run K: one run with K augmenters; the dry run's stderr in $work/dry-K.err, augmenter logs in aug-K-i.log,
# CPU seconds of each process in $work/cpu-K
run() {
    local k=$1 i
    local jobs credits batches control
    if [ "$transport" = ipc ]; then
        jobs=ipc://$work/jobs-$k credits=ipc://$work/credits-$k batches=ipc://$work/batches-$k
        control=ipc://$work/control-$k
    else
        read -r pj pc pb pk < <(ports)
        jobs=tcp://127.0.0.1:$pj credits=tcp://127.0.0.1:$pc batches=tcp://127.0.0.1:$pb control=tcp://127.0.0.1:$pk
    fi
    local aug_args=(--jobs "$jobs" --batches "$batches" --control "$control" --cache-shared "$shared")
    [ -n "$cache_mb" ] && aug_args+=(--cache-mb "$cache_mb")
    "${timer[@]}" ${timer:+-o "$work/cpu-loader-$k"} "$bin/loader" --data "$data" --model "$model" \
        --jobs-bind "$jobs" --credits-bind "$credits" --control-bind "$control" >"$work/loader-$k.log" 2>&1 &
    local loader=$!
    pids+=($loader)
    local augs=()
    for ((i = 1; i <= k; i++)); do
        "$bin/augmenter" "${aug_args[@]}" >"$work/aug-$k-$i.log" 2>&1 &
        augs+=($!)
        pids+=($!)
    done
    "${timer[@]}" ${timer:+-o "$work/cpu-dry-$k"} "${dry[@]}" --model "$model" --epochs "$epochs" \
        --batches-bind "$batches" --credits "$credits" >"$work/dry-$k.out" 2>"$work/dry-$k.err" ||
        { echo "dry run failed:"; tail "$work/dry-$k.err"; exit 1; }
    wait "$loader"
    local aug_cpu=0
    for p in "${augs[@]}"; do
        aug_cpu=$(awk -v a="$aug_cpu" -v b="$(cpu_of "$p")" 'BEGIN { print a + b }')
        kill -TERM "$p"
        wait "$p"
    done
    echo "$aug_cpu" >"$work/cpu-augs-$k"
}

# per-epoch images/s of run K, one number per line
rates() { sed -n 's/^dry-run: epoch [0-9]*: .*, \([0-9.]*\) images\/s,.*/\1/p' "$work/dry-$1.err"; }
field() { sed -n "s/.*$2 \([0-9.]*\).*/\1/p" "$1" | tail -n 1; }

echo "data plane benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before it," \
     "$model, $epochs epochs, $transport, cache $([ "$shared" = auto ] && echo "shared by the augmenters" || echo "private per augmenter"), data $data"
for k in $counts; do
    run "$k"
    mapfile -t r < <(rates "$k")
    echo
    echo "== $k augmenter(s)"
    for ((e = 0; e < ${#r[@]}; e++)); do
        printf '  epoch %d: %8.1f images/s   %s\n' $((e + 1)) "${r[$e]}" \
            "$(sed -n "s/^dry-run: epoch $((e + 1)): \(.*\)/\1/p" "$work/dry-$k.err" | cut -d, -f5-)"
    done
    for ((i = 1; i <= k; i++)); do
        log=$work/aug-$k-$i.log
        line=$(grep "summary:" "$log" | tail -n 1)
        echo "  augmenter $i: $(echo "$line" | grep -o 'CPU per batch: work [0-9.]* ms, transport [0-9.]* ms ([0-9.]*%')) of its CPU;" \
             "wall per batch: $(echo "$line" | grep -o 'work [0-9.]* ms, transport [0-9.]* ms' | head -n 1);" \
             "$(echo "$line" | grep -o 'cache [0-9]* images, [0-9.]* MiB of [0-9]*, hits [0-9]*, misses [0-9]*')"
    done
    echo "  trainer (dry run): $(grep -o 'per batch: receive+decode.*' "$work/dry-$k.err" | tail -n 1)"
    if [ -n "${timer[*]}" ]; then
        nb=$(wc -l <"$work/dry-$k.out")
        cl=$(awk '{ print $1 + $2 }' "$work/cpu-loader-$k") cd=$(awk '{ print $1 + $2 }' "$work/cpu-dry-$k")
        ca=$(cat "$work/cpu-augs-$k")
        awk -v n="$nb" -v l="$cl" -v a="$ca" -v d="$cd" 'BEGIN {
            printf "  CPU per batch over the run: loader %.2f ms, augmenters %.2f ms, trainer (dry run) %.2f ms;" \
                   " total %.2f ms\n", 1000 * l / n, 1000 * a / n, 1000 * d / n, 1000 * (l + a + d) / n }'
    fi
    eval "rates_$k=(\"\${r[@]}\")"
done
[ -n "${rates_1+x}" ] && [ -n "${rates_2+x}" ] || exit 0
echo
echo "== speed-up of 2 augmenters over 1"
for ((e = 0; e < ${#rates_1[@]}; e++)); do
    awk -v a="${rates_1[$e]}" -v b="${rates_2[$e]}" -v e=$((e + 1)) \
        'BEGIN { printf "  epoch %d: %.2fx (%.1f -> %.1f images/s)\n", e, b / a, a, b }'
done
