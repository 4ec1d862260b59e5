#!/bin/bash
# The build: a cold `make` (configure and build everything, tests included) in a temporary clone
# of HEAD, then a rebuild after touching one lib/ .cpp, against the goals (cold <= 150 s, one-file
# rebuild <= 20 s on 2 cores). The machine's load before and after is printed: the figures mean
# little on a busy machine. ccache is disabled (BENCH_CCACHE=1 keeps it). RUNS repeats both;
# CMAKE_ARGS go to the configure step (e.g. -DBACKUP_UNITY=OFF to compare).
#   RUNS=2 CMAKE_ARGS= bench/build.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-1}
touched=${TOUCHED:-lib/provision/ports.cpp}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-build-XXXXXX")
trap 'rm -rf "$work"' EXIT
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
# Cold means cold: ccache (which make deps installs) would serve every object of an earlier build
# of the same sources. BENCH_CCACHE=1 keeps it, to see what a developer's warm cache gives.
[ "${BENCH_CCACHE:-0}" = 1 ] || export CCACHE_DISABLE=1

seconds() { # command...: runs it quietly, prints its wall time
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > "$work/log" 2>&1 || { tail -20 "$work/log"; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

for r in $(seq 1 "$runs"); do
    rm -rf "$work/clone"
    git clone --quiet --no-hardlinks "$here" "$work/clone"
    echo "run $r: load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    # shellcheck disable=SC2086 # CMAKE_ARGS is words
    cold=$(seconds make -C "$work/clone" BUILD_DIR="$work/clone/build" JOBS=2 \
        BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:+CMAKE_ARGS="$CMAKE_ARGS"})
    touch "$work/clone/$touched"
    one=$(seconds cmake --build "$work/clone/build" -j2)
    echo "run $r: load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'run %d: cold make %.1f s = %.2f x the 150 s goal; rebuild after touching %s %.1f s = %.2f x the 20 s goal (a ratio <= 1 meets it)\n' \
        "$r" "$cold" "$(echo "$cold / 150" | bc -l)" "$touched" "$one" "$(echo "$one / 20" | bc -l)"
done
