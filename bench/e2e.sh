#!/usr/bin/env bash
# e2e.sh: end-to-end speed of model2 epochs (2000 augmented images trained, then the evaluator's pass
# over the 1000 validation images) through scripts/pipeline, against the PyTorch peer
# (bench/e2e_peer.py: torchvision RandomAffine + flip + resize, DataLoader with 1 worker, same
# network, 2 threads, channels-last) doing the same work, in one run.
#   bench/e2e.sh [DATA] [EPOCHS]      (default ../shared/data/catsdogs, 3 epochs)
# The peer runs with its best allocator (bench/peer_malloc.sh: tcmalloc where installed; PEER_MALLOC
# chooses another).
# Prints for each side the wall time of the whole run divided by the epochs (start-up included) and
# the steady period between epoch ends, then the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/data/catsdogs}
epochs=${2:-3}
[ -d "$data/train" ] || { echo "e2e.sh: skipped: no data set at $data (needs train/ and validation/)"; exit 0; }
[ -x "$root/build/bin/trainer" ] || { echo "e2e.sh: build first (make build)" >&2; exit 2; }
python3 -c "import torch, torchvision" 2>/dev/null || { echo "e2e.sh: skipped: the peer needs python3 with torch and torchvision"; exit 0; }
threads=$(nproc)
peer_env=$("$root/bench/peer_malloc.sh")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "data $data, $epochs epochs of model2, $threads cores; load $(cut -d' ' -f1-3 /proc/loadavg)"

# Ours. Epoch ends are the trainer's checkpoint lines; the run ends when the evaluator has scored the
# last epoch (scripts/pipeline waits for that row of history.csv).
t0=$(date +%s.%N)
"$root/scripts/pipeline" --data "$data" --model "$root/models/model2.ini" --epochs "$epochs" \
    --augmenters "$threads" --backend cpu --run-dir "$out/run" >"$out/ours.log" 2>&1
t1=$(date +%s.%N)
ours_total=$(awk -v a="$t0" -v b="$t1" -v e="$epochs" 'BEGIN {print (b - a) / e}')
ends=$(grep -o '^[0-9:.]* trainer info: epoch [0-9]*/[0-9]*: checkpoint' "$out/run/logs/trainer.log" |
       awk '{split($1, t, ":"); print t[1] * 3600 + t[2] * 60 + t[3]}')
ours_steady=$(echo "$ends" | awk 'NR == 1 {f = $1} {l = $1} END {if (NR > 1) print (l - f) / (NR - 1); else print "nan"}')
tail -n +2 "$out/run/history.csv" | cut -d, -f1,3-6 | sed 's/^/  ours epoch,loss,acc,val_loss,val_acc: /'

# The peer.
t0=$(date +%s.%N)
echo "peer allocator: ${peer_env:-glibc defaults}"
# shellcheck disable=SC2086 # peer_env is VAR=value words
env $peer_env python3 "$root/bench/e2e_peer.py" --data "$data" --epochs "$epochs" --threads "$threads" >"$out/peer.log" 2>&1
t1=$(date +%s.%N)
peer_total=$(awk -v a="$t0" -v b="$t1" -v e="$epochs" 'BEGIN {print (b - a) / e}')
peer_steady=$(sed -n 's/^seconds\/epoch: //p' "$out/peer.log")
sed 's/^/  peer /' "$out/peer.log"

printf 'ours: %.1f s/epoch (whole run / epochs), %.1f s between epoch ends\n' "$ours_total" "$ours_steady"
printf 'peer: %.1f s/epoch (whole run / epochs), %.1f s per epoch after the first\n' "$peer_total" "$peer_steady"
awk -v pt="$peer_total" -v ot="$ours_total" -v ps="$peer_steady" -v os="$ours_steady" \
    'BEGIN {printf "speed-up: %.2fx (whole run), %.2fx (steady)\n", pt / ot, ps / os}'
