#!/usr/bin/env bash
# bench/gpu_pack.sh: packs a Release build for the GPU benchmark machine (see bench/gpu_check.md).
# Run on the development machine (Debian 12). The GPU machine has none of our Debian libraries and
# may have an older C library, so the pack holds every executable of BUILD/bin together with every
# shared library it needs, the dynamic loader and the C library included, and a wrapper per
# executable that starts it through the packed loader. Left out: the NVIDIA driver (libcuda,
# libnvidia-*) and cuDNN/cuBLAS, which the GPU machine has (cuDNN and cuBLAS in Python packages;
# bench/gpu_check.sh finds them). Also packed: inih's and jansson's headers and libraries, for a
# fallback build of the CUDA parts there, and gpu_tests.txt, the commands of the ctest tests labelled gpu.
# Output: gpu-pack/ at the repo root (ignored by git): pawpipe-gpu.tar.xz, gpu_tests.txt, MANIFEST.txt.
#
# usage: bench/gpu_pack.sh [--build-dir DIR] [--no-build]
#          --build-dir DIR  the build to pack (default: $BUILD_DIR, else build-gpu-pack, configured
#                           here as Release with Ninja when it does not exist yet)
#          --no-build       pack DIR as it is, without building it first
#        bench/gpu_pack.sh --list-tests DIR
#          prints the gpu tests of the build DIR as gpu_tests.txt lines (bench/gpu_check.sh uses
#          this for its fallback build)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
limit_mib=60          # the whole gpu-pack/ folder must stay under this
travel_limit_mib=64   # tracked files + gpu-pack/ together

die() { echo "gpu_pack.sh: $*" >&2; exit 1; }

# gpu_tests.txt lines for the gpu tests of build DIR: one test a line, tab-separated fields:
#   name, working directory, skip exit code, timeout (s) ("-" where the test has none), then the
#   command's words
# with the build folder written @BUILD@ and the source folder @SRC@.
list_tests() {
    local build=$1 cache src bdir
    cache=$build/CMakeCache.txt
    [ -f "$cache" ] || die "$build is not a CMake build folder (no CMakeCache.txt)"
    src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$cache")
    bdir=$(sed -n 's/^CMAKE_CACHEFILE_DIR:INTERNAL=//p' "$cache")
    [ -n "$src" ] && [ -n "$bdir" ] || die "$cache names no source or build folder"
    ctest --test-dir "$build" -L gpu --show-only=json-v1 | python3 -c '
import json, sys
build, src = sys.argv[1], sys.argv[2]
# the longer folder first, so that a build folder inside the source folder becomes @BUILD@
pairs = sorted([(build, "@BUILD@"), (src, "@SRC@")], key=lambda p: -len(p[0]))
def sub(s):
    for old, new in pairs:
        s = s.replace(old, new)
    return s
tests = json.load(sys.stdin).get("tests", [])
print("# gpu tests: name, working directory, skip exit code, timeout (s), command words; tab-separated;")
print("# @BUILD@ and @SRC@ stand for the build and source folders (bench/gpu_check.sh fills them in)")
for t in tests:
    if not t.get("command"):
        print("# %s: not built" % t.get("name"))
        continue
    props = {p["name"]: p["value"] for p in t.get("properties", [])}
    env = props.get("ENVIRONMENT", [])
    words = (["env"] + list(env) if env else []) + list(t["command"])
    fields = [t["name"], props.get("WORKING_DIRECTORY", build), props.get("SKIP_RETURN_CODE", ""),
              props.get("TIMEOUT", "")] + words
    fields = [sub(str(f)) for f in fields]
    if any("\t" in f or "\n" in f or f in ("", "-") for f in fields[4:]):
        sys.exit("gpu_pack.sh: test %s has an empty word, a tab or a newline in its command" % t["name"])
    fields[:4] = [f if f else "-" for f in fields[:4]]   # "-": empty (tabs in a row would merge)
    print("\t".join(fields))
' "$bdir" "$src"
}

build_dir=${BUILD_DIR:-build-gpu-pack}
do_build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --build-dir) build_dir=$2; shift 2 ;;
        --no-build) do_build=0; shift ;;
        --list-tests) [ $# -eq 2 ] || die "--list-tests takes one build folder"; list_tests "$2"; exit ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
cd "$root"
for tool in cmake ctest ldd strip tar xz python3 readelf; do
    command -v "$tool" >/dev/null || die "$tool is missing here (apt-get install binutils xz-utils cmake python3)"
done

# --- build -------------------------------------------------------------------------------------
if [ $do_build -eq 1 ]; then
    if [ ! -f "$build_dir/CMakeCache.txt" ]; then
        echo "== configuring $build_dir (Release, Ninja)"
        cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
    fi
    echo "== building $build_dir"
    cmake --build "$build_dir" -j "$(nproc)"
fi
[ -d "$build_dir/bin" ] || die "$build_dir/bin does not exist: build first, or leave out --no-build"
build_dir=$(cd "$build_dir" && pwd)
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
[ "$build_type" = Release ] || echo "gpu_pack.sh: WARNING: $build_dir is a '$build_type' build, not Release" >&2

# --- stage -------------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pawpipe-gpu-pack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/pawpipe-gpu
mkdir -p "$stage/bin/.real" "$stage/lib" "$stage/inih/include" "$stage/inih/lib/pkgconfig"

# Left out: the driver (the GPU machine's own, matching its kernel module) and cuDNN/cuBLAS (there
# in Python packages); the vDSO is the kernel's.
skip_lib() {
    case "$1" in
        linux-vdso.so*|libcuda.so*|libnvidia*|libcudnn*|libcublas*) return 0 ;;
        *) return 1 ;;
    esac
}

declare -A libs=()   # soname -> path here
loader=""
# add_deps FILE: every library that ldd resolves for FILE (the whole closure), into libs[]
add_deps() {
    local line name path
    while IFS= read -r line; do
        line=${line#"${line%%[![:space:]]*}"}
        case "$line" in
            *"=> not found"*) die "$1 needs ${line%% *}, which is not found here" ;;
            *" => "*)
                name=${line%% => *}
                path=${line#* => }
                path=${path%% (*}
                skip_lib "$name" && continue
                [ -n "$path" ] && libs[$name]=$path ;;
            /*ld-linux*) loader=${line%% (*} ;;
        esac
    done < <(ldd "$1" 2>/dev/null || true)
}

exes=()
for f in "$build_dir"/bin/*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
    exes+=("$(basename "$f")")
done
[ ${#exes[@]} -gt 0 ] || die "no executables in $build_dir/bin"
echo "== packing ${#exes[@]} executables: ${exes[*]}"
for e in "${exes[@]}"; do
    add_deps "$build_dir/bin/$e"
    strip --strip-debug -o "$stage/bin/.real/$e" "$build_dir/bin/$e"
    cat >"$stage/bin/$e" <<EOF
#!/bin/sh
# $e of pawpipe, started through the packed dynamic loader and libraries (bench/gpu_pack.sh).
# Library path: the pack's lib/, then PAWPIPE_PACK_LIB_PATH, then the folders listed in the pack's
# extra-lib-path file (bench/gpu_check.sh writes it: cuDNN, cuBLAS, the driver), then LD_LIBRARY_PATH.
# VIPSHOME points libvips at the pack, where it finds no optional loader modules: the same
# behaviour wherever the pack runs (JPEG decoding is built in).
self=\$(readlink -f "\$0") || exit 127
pack=\${self%/bin/*}
VIPSHOME=\${VIPSHOME:-\$pack}
export VIPSHOME
extra=\${PAWPIPE_PACK_LIB_PATH:-}
[ -r "\$pack/extra-lib-path" ] && extra=\$extra:\$(cat "\$pack/extra-lib-path")
extra=\$extra:\${LD_LIBRARY_PATH:-}
lp=\$pack/lib
set -f
IFS=:
for d in \$extra; do [ -n "\$d" ] && lp=\$lp:\$d; done   # an empty entry would mean the current folder
unset IFS
exec "\$pack/lib/ld-linux-x86-64.so.2" --argv0 "\$0" --library-path "\$lp" "\$pack/bin/.real/$e" "\$@"
EOF
    chmod 755 "$stage/bin/$e"
done
[ -n "$loader" ] || die "ldd named no dynamic loader for the executables"

# cuDNN loads its sub-libraries (libcudnn_graph, libcudnn_engines_*, ...) at run time: pack what
# they need beyond cuDNN, cuBLAS and the driver too, from the copies found here.
cudnn_dirs=$(ldd "$build_dir"/bin/* 2>/dev/null | awk '$1 ~ /^libcudnn\.so/ && $3 ~ /^\// {print $3}' |
             xargs -r -n1 dirname | sort -u)
for d in $cudnn_dirs; do
    for f in "$d"/libcudnn*.so.*; do
        [ -f "$f" ] && add_deps "$f"
    done
done

for name in "${!libs[@]}"; do
    cp -L "${libs[$name]}" "$stage/lib/$name"
done
cp -L "$loader" "$stage/lib/ld-linux-x86-64.so.2"
chmod 755 "$stage/lib/ld-linux-x86-64.so.2"
echo "== ${#libs[@]} libraries and the loader ($loader)"

# inih, for the fallback build on the GPU machine (Debian libinih-dev: ini.h, libinih.so*)
inc=$(pkg-config --variable=includedir inih 2>/dev/null || echo /usr/include)
libdir=$(pkg-config --variable=libdir inih 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
[ -f "$inc/ini.h" ] || die "$inc/ini.h not found (apt-get install libinih-dev)"
inih_so=$(readlink -f "$libdir/libinih.so") || die "$libdir/libinih.so not found (apt-get install libinih-dev)"
inih_soname=$(readelf -d "$inih_so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
cp "$inc/ini.h" "$stage/inih/include/"
cp -L "$inih_so" "$stage/inih/lib/$inih_soname"
ln -s "$inih_soname" "$stage/inih/lib/libinih.so"
cat >"$stage/inih/lib/pkgconfig/inih.pc" <<EOF
prefix=\${pcfiledir}/../..
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: inih
Description: inih, packed from Debian's libinih-dev by bench/gpu_pack.sh
Version: $(pkg-config --modversion inih 2>/dev/null || echo unknown)
Cflags: -I\${includedir} $(pkg-config --cflags-only-other inih 2>/dev/null || true)
Libs: -L\${libdir} -linih
EOF

# jansson too (Debian libjansson-dev: jansson.h, jansson_config.h, libjansson.so*), which the nn core
# links for checkpoint headers
inc=$(pkg-config --variable=includedir jansson 2>/dev/null || echo /usr/include)
libdir=$(pkg-config --variable=libdir jansson 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)
[ -f "$inc/jansson.h" ] && [ -f "$inc/jansson_config.h" ] || die "$inc/jansson.h not found (apt-get install libjansson-dev)"
jansson_so=$(readlink -f "$libdir/libjansson.so") || die "$libdir/libjansson.so not found (apt-get install libjansson-dev)"
jansson_soname=$(readelf -d "$jansson_so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
mkdir -p "$stage/jansson/include" "$stage/jansson/lib"
cp "$inc/jansson.h" "$inc/jansson_config.h" "$stage/jansson/include/"
cp -L "$jansson_so" "$stage/jansson/lib/$jansson_soname"
ln -s "$jansson_soname" "$stage/jansson/lib/libjansson.so"

# the gpu tests, and what was packed
list_tests "$build_dir" >"$stage/gpu_tests.txt"
n_tests=$(grep -vc '^#' "$stage/gpu_tests.txt" || true)
[ "$n_tests" -gt 0 ] || echo "gpu_pack.sh: WARNING: the build has no gpu tests (no CUDA backend built?)" >&2
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit + uncommitted changes"
{
    echo "pawpipe GPU pack, made $(date -u '+%Y-%m-%d %H:%M UTC') by bench/gpu_pack.sh"
    echo "source: commit $commit; build: $build_type, $(basename "$build_dir")"
    echo "C library: $(ldd --version | head -n 1)"
    echo "CUDA backend built: $(ldd "$build_dir/bin/bench_step" 2>/dev/null | grep -q 'libcudnn' && echo yes || echo no);" \
         "gpu tests: $n_tests"
    echo
    echo "executables (bin/; the real ones in bin/.real/):"
    (cd "$stage/bin/.real" && ls -l | awk 'NR > 1 {printf "  %-28s %10d\n", $9, $5}')
    echo "libraries (lib/):"
    (cd "$stage/lib" && ls -l | awk 'NR > 1 {printf "  %-28s %10d\n", $9, $5}')
    echo "left to the GPU machine: the driver (libcuda, libnvidia-*), cuDNN and cuBLAS:"
    ldd "$build_dir"/bin/* 2>/dev/null | awk '$1 ~ /^(libcuda\.so|libnvidia|libcudnn|libcublas)/ {print "  " $1}' | sort -u
} >"$stage/MANIFEST.txt"

# --- pack and check ----------------------------------------------------------------------------
out=$root/gpu-pack
rm -rf "$out"
mkdir -p "$out"
echo "== compressing (xz)"
XZ_OPT=${XZ_OPT:--9 -T0} tar -C "$tmp" -cJf "$out/pawpipe-gpu.tar.xz" pawpipe-gpu
cp "$stage/gpu_tests.txt" "$stage/MANIFEST.txt" "$out/"

# The pack must start from anywhere with a bare environment.
check=$tmp/check
mkdir -p "$check"
tar -C "$check" -xJf "$out/pawpipe-gpu.tar.xz"
for e in trainer bench_step; do
    [ -x "$check/pawpipe-gpu/bin/$e" ] || continue
    (cd / && env -i PATH=/usr/bin:/bin "$check/pawpipe-gpu/bin/$e" --help >/dev/null 2>"$tmp/err") ||
        die "the packed $e does not start: $(head -n 3 "$tmp/err")"
done
echo "== the packed executables start (checked: trainer and bench_step --help, bare environment)"

size=$(du -sb "$out" | cut -f1)
# what travels with the pack: the files git tracks or would track (not ignored), as they are now
tracked=$(cd "$root" && git ls-files -z --cached --others --exclude-standard | python3 -c '
import os, sys
print(sum(os.path.getsize(f) for f in set(sys.stdin.read().split("\0")) if f and os.path.isfile(f)))')
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
echo "gpu-pack/: $(mib "$size") MiB (limit $limit_mib MiB); with the repo's other files ($(mib "$tracked") MiB):" \
     "$(mib $((size + tracked))) MiB (limit $travel_limit_mib MiB)"
ls -l "$out"
if [ "$size" -gt $((limit_mib * 1048576)) ]; then
    die "the pack is $(mib "$size") MiB, over the $limit_mib MiB limit"
fi
if [ $((size + tracked)) -gt $((travel_limit_mib * 1048576)) ]; then
    die "the pack and the repo's other files together are $(mib $((size + tracked))) MiB, over $travel_limit_mib MiB"
fi
echo "done: gpu-pack/ is ready; on the GPU machine run bench/gpu_check.sh OUTDIR from this repo"
