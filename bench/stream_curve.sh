#!/usr/bin/env bash
# bench/stream_curve.sh: the batch stream over tcp://127.0.0.1, plain and with ZeroMQ CURVE
# (build/bin/stream_curve --both), for batches of 20 and 256 images, 1 and 2 I/O threads per
# context, 1 and 4 senders; prints a markdown table. About 75 s with the default 3 s per
# configuration (16 configurations). Results and their reading: bench/stream_curve.md.
# usage: bench/stream_curve.sh [--bin DIR] [--seconds S] [--batches "20 256"] [--io-threads "1 2"]
#                              [--senders "1 4"]
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin seconds=3 batches="20 256" ios="1 2" senders="1 4"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        --batches) batches=$2; shift 2 ;;
        --io-threads) ios=$2; shift 2 ;;
        --senders) senders=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "stream_curve.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
exe=$bin/stream_curve
[ -x "$exe" ] || { echo "stream_curve.sh: $exe is missing: build first (cmake --build build --target stream_curve)" >&2; exit 2; }

echo "stream_curve: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '?')," \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) before, $seconds s per configuration"
echo
echo "| batch | bytes | senders | I/O threads | CURVE | batches/s | GB/s | rx I/O ms/batch | tx I/O ms/batch | process CPU ms/batch | rx I/O GB per CPU-s | CURVE / plain |"
echo "| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
start=$(date +%s)
for b in $batches; do
    for k in $senders; do
        for io in $ios; do
            out=$("$exe" --both --batch "$b" --senders "$k" --io-threads "$io" --seconds "$seconds" --header 0) ||
                { echo "stream_curve.sh: stream_curve --batch $b --senders $k --io-threads $io failed" >&2; exit 1; }
            # rows: curve batch bytes senders io n batches/s GB/s rx-io-ms tx-io-ms proc-ms
            echo "$out" | awk '
                $1 == "off" || $1 == "on" {
                    ratio = ""
                    if ($1 == "off") plain = $7; else ratio = sprintf("%.2f", $7 / plain)
                    printf "| %d | %d | %d | %d | %s | %.1f | %.3f | %.2f | %.2f | %.2f | %.2f | %s |\n",
                           $2, $3, $4, $5, $1, $7, $8, $9, $10, $11, ($9 > 0 ? $3 / $9 / 1e6 : 0), ratio }'
        done
    done
done
echo
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) after; $(($(date +%s) - start)) s." \
     "rx/tx I/O: the CPU of the receiver's / all senders' ZeroMQ I/O threads; process: getrusage, all threads;" \
     "rx I/O GB per CPU-s: bytes / rx I/O CPU, the most one busy receiving I/O thread carries."
