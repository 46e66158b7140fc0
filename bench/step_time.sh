#!/bin/sh
# step_time.sh: training-step time of a model (default models/model1.ini, batch 20) on our oneDNN
# backend and on the PyTorch peer (bench/step_time.py), run back to back in alternating rounds, and
# the ratio of the two medians (and the median of the per-round ratios, which pairs runs made a
# few seconds apart and so suffers less from other load on the machine), and the fastest single
# step of each side (the least disturbed). Usage:
#   bench/step_time.sh [BUILD_DIR] [ROUNDS] [STEPS] [BATCH]
# BUILD_DIR holds bin/bench_step (default: build); both sides use the same number of threads,
# OMP_NUM_THREADS if set, else the number of cores. The peer runs with its best allocator
# (bench/peer_malloc.sh; PEER_MALLOC=glibc for none). Needs python3 with torch.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
rounds=${2:-3}
steps=${3:-20}
batch=${4:-20}
model=${MODEL:-$root/models/model1.ini}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
bench="$build/bin/bench_step"
peer_env=$("$root/bench/peer_malloc.sh")
[ -x "$bench" ] || { echo "step_time.sh: $bench not found (cmake --build $build --target bench_step)" >&2; exit 2; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
field() { sed -n "s/^$1 ms\/step: //p"; }

echo "model $model, batch $batch, $steps steps per run, $rounds rounds, $threads threads; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peer allocator: ${peer_env:-glibc defaults}"
ours="" peer="" ratios="" mins_o="" mins_p=""
r=1
while [ "$r" -le "$rounds" ]; do
    out_o=$("$bench" --steps "$steps" --batch "$batch" "$model")
    # shellcheck disable=SC2086 # peer_env is VAR=value words
    out_p=$(env $peer_env python3 "$root/bench/step_time.py" --steps "$steps" --batch "$batch" --threads "$threads")
    [ "$r" -gt 1 ] || { echo "$out_o" | head -1; echo "$out_p" | head -1; }
    o=$(echo "$out_o" | field median)
    p=$(echo "$out_p" | field median)
    mins_o="$mins_o $(echo "$out_o" | field min)" mins_p="$mins_p $(echo "$out_p" | field min)"
    q=$(awk -v a="$o" -v b="$p" 'BEGIN {printf "%.3f", a / b}')
    echo "round $r: ours $o ms/step, pytorch $p ms/step, ratio $q"
    ours="$ours $o" peer="$peer $p" ratios="$ratios $q"
    r=$((r + 1))
done
mo=$(echo "$ours" | tr ' ' '\n' | grep . | median)
mp=$(echo "$peer" | tr ' ' '\n' | grep . | median)
echo "ours    median ms/step: $mo"
echo "pytorch median ms/step: $mp"
echo "ratio ours/pytorch: $(awk -v a="$mo" -v b="$mp" 'BEGIN {printf "%.3f", a / b}') (of the medians); median of the round ratios: $(echo "$ratios" | tr ' ' '\n' | grep . | median)"
bo=$(echo "$mins_o" | tr ' ' '\n' | grep . | sort -g | head -1)
bp=$(echo "$mins_p" | tr ' ' '\n' | grep . | sort -g | head -1)
echo "fastest single step: ours $bo ms, pytorch $bp ms, ratio $(awk -v a="$bo" -v b="$bp" 'BEGIN {printf "%.3f", a / b}')"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
