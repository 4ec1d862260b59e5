#!/usr/bin/env bash
# Benchmark of restic-unroll: its cost must grow with the spine directories (the directories on
# the way to an include), not with the size of the tree.
#
# Builds a tree of about 200,000 entries with 53 includes (one through a symlinked ancestor,
# one nested in another) in a temp dir, then prints
#   - the wall time (hyperfine, and /usr/bin/time -v for one run with its peak memory),
#   - the directories restic-unroll opened, counted independently with strace (successful
#     open/openat calls with O_DIRECTORY), beside the spine directories it reports (--stats).
# They must be equal: every spine directory read once, nothing below an include opened.
#
# Usage: bench/unroll.sh            (uses $BUILD_DIR/bin/restic-unroll, BUILD_DIR=build)
# Needs: hyperfine, time (/usr/bin/time), strace (deps/debian-packages.txt).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case $build_dir in
/*) ;;
*) build_dir=$here/$build_dir ;;
esac
unroll=$build_dir/bin/restic-unroll
die() {
    echo "bench: error: $*" >&2
    exit 100
}
[ -x "$unroll" ] || die "$unroll not built (make, or set BUILD_DIR)"
for tool in hyperfine strace /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool missing (make deps)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-unroll-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
root=$work/root

echo "bench: building the tree in $work ..."
start=$(date +%s%N)
mkdir -p "$root"
# 20 x 20 x 25 directories, 19 files in each leaf: 20 + 400 + 10,000 + 190,000 entries.
(cd "$root" && mkdir -p d{00..19}/s{00..19}/t{00..24})
for d in "$root"/d*/s*; do
    (cd "$d" && touch t{00..24}/f{00..18})
done
# A merged-/usr style link on the way to one include.
ln -s d00 "$root/link00"
entries=$(find "$root" -mindepth 1 | wc -l)
echo "bench: $entries entries in $((($(date +%s%N) - start) / 1000000)) ms"

includes=$work/includes
{
    echo "# 50 leaf directories in 10 top-level directories"
    for d in 00 01 02 03 04 05 06 07 08 09; do
        for t in 03 07 11 15 19; do
            echo "/d$d/s05/t$t"
        done
    done
    echo "# through a symbolic link, and an include nested in another"
    echo "/link00/s06/t01"
    echo "/d15/s10"
    echo "/d15/s10/t01"
} >"$includes"
echo "bench: $(grep -vc '^#' "$includes") includes"

out=$work/excludes
"$unroll" --root "$root" --stats "$includes" >"$out" 2>"$work/stats"
cat "$work/stats"
spine=$(sed -n 's/.*spine directories \([0-9]*\),.*/\1/p' "$work/stats")
excludes=$(wc -l <"$out")

# Standard output, not an output file: atomic_write's fsync of the output directory would be
# one more O_DIRECTORY open that has nothing to do with the tree.
strace -f -qq -e trace=openat,open -o "$work/trace" \
    "$unroll" --root "$root" "$includes" >/dev/null
opened=$(grep 'O_DIRECTORY' "$work/trace" | grep -vc '= -1' || true)
opened_below_root=$(grep 'O_DIRECTORY' "$work/trace" | grep -v '= -1' | grep -c "\"$root" || true)

/usr/bin/time -v "$unroll" --root "$root" "$includes" >/dev/null 2>"$work/time"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")

# For scale: the same tree walked whole by find(1), as a tool that reads everything would.
hyperfine -N --warmup 3 --runs 20 --style basic --export-json "$work/hyperfine.json" \
    "$unroll --root $root $includes" "find $root -mindepth 1" 2>&1 | sed 's/^/  /'
mapfile -t means < <(sed -n 's/.*"mean": *\([0-9.e+-]*\).*/\1/p' "$work/hyperfine.json")

echo
echo "restic-unroll over $entries entries, $(grep -vc '^#' "$includes") includes:"
awk -v a="${means[0]}" -v b="${means[1]}" 'BEGIN {
    printf "  wall time (hyperfine mean)     %.2f ms (find over the whole tree: %.1f ms)\n",
        a * 1000, b * 1000
}'
echo "  wall time (/usr/bin/time)      $wall (max RSS $rss KiB)"
echo "  excludes written               $excludes"
echo "  spine directories (--stats)    $spine"
echo "  directories opened (strace)    $opened ($opened_below_root of them in the tree)"
if [ "$opened" = "$spine" ]; then
    echo "  => each spine directory opened once, nothing below an include"
else
    echo "bench: error: $opened directories opened, $spine spine directories" >&2
    exit 1
fi
