#!/bin/sh
# peer_malloc.sh: prints the environment (VAR=value words, for `env`) that gives the PyTorch peers
# their best allocator here: tcmalloc when Debian's libtcmalloc-minimal4 is installed, else glibc
# with its mmap and trim thresholds raised, so that the big per-step tensors stay in the heap rather
# than being unmapped after each step and faulted in again (page faults are slow on these
# machines). Measured in bench/step_time.md ("The peer's allocator"). PEER_MALLOC overrides:
# PEER_MALLOC=glibc (no settings), PEER_MALLOC=/path/lib.so (preloaded).
#   env $(bench/peer_malloc.sh) python3 bench/step_time.py
set -eu
choice=${PEER_MALLOC:-best}
case "$choice" in
    glibc) ;;
    best)
        lib=$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -n 1 || true)
        if [ -n "$lib" ]; then
            echo "LD_PRELOAD=$lib"
        else
            echo "MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824"
        fi ;;
    *) echo "LD_PRELOAD=$choice" ;;
esac
