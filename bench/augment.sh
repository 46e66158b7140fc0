#!/usr/bin/env bash
# augment.sh: bench_augment and its torchvision peer on the same images, one after the other, both
# pinned to one core; prints both and the ratios (ours / peer, images per CPU-second).
# Usage: bench/augment.sh [BUILD_DIR] (default build); IMAGES=600 EPOCHS=2 DATA=... to change.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
data=${DATA:-../shared/data/catsdogs/train}
images=${IMAGES:-600}
epochs=${EPOCHS:-2}
if [ ! -d "$data" ]; then
  echo "augment.sh: skipped: no data set at $data"
  exit 0
fi
pin=""
command -v taskset >/dev/null && pin="taskset -c 0"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$($pin "$build/bin/bench_augment" --data "$data" --images "$images" --epochs "$epochs")
peer=$($pin python3 bench/augment_peer.py --data "$data" --images "$images" --epochs "$epochs")
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$ours"
echo "$peer"
rate() { awk -v who="$1" -v phase="$2" '$1 == who && $2 == phase { for (i = 1; i < NF; i++) if ($(i + 1) == "images/s") print $i }'; }
for phase in first-epoch later-epochs; do
  o=$(echo "$ours" | rate ours "$phase")
  p=$(echo "$peer" | rate peer "$phase")
  awk -v ph="$phase" -v o="$o" -v p="$p" 'BEGIN { printf "ratio %-13s ours %8.1f / peer %7.1f images/s per core = %.1fx\n", ph, o, p, o / p }'
done
