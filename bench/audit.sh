#!/usr/bin/env bash
# Benchmark of restic-audit: hashing a restic repository should go at the speed of OpenSSL's
# SHA-256 on one core, close to twice that on two.
#
# Makes a repository of AUDIT_BENCH_MB megabytes (default 2048) in a temp dir: random data from
# /dev/urandom, backed up by the real restic (uncompressed: random data does not compress). Then,
# in the same run, times over the same files (every repository file but config):
#   restic-audit --all --jobs 1 / --jobs 2     the tool
#   sha256sum (one process)                    the baseline on one core
#   xargs -P2 sha256sum                        the baseline on two cores
#   openssl dgst -sha256, and with xargs -P2   OpenSSL's speed through a command, one and two
#                                              cores (coreutils' sha256sum may not use SHA-NI)
#   restic check --read-data                   restic's own check, which also decrypts (all cores)
# warm (files in the page cache; restic-audit with --keep-cache, since by default it drops
# what it read) and cold (`echo 3 > /proc/sys/vm/drop_caches` before each run when permitted,
# else each file's pages dropped with `dd iflag=nocache count=0`; restic-audit in its default
# mode). Prints hyperfine's times, MB/s and the ratios to sha256sum and openssl (one core each).
# The load average is printed before and after: other work on the machine skews the figures.
#
# Usage: bench/audit.sh        (uses $BUILD_DIR/bin/restic-audit, BUILD_DIR=build)
# Environment: AUDIT_BENCH_MB (repository size in MB, e.g. 200 for a quick run),
#              AUDIT_BENCH_RUNS (timed runs per command, default 3), TMPDIR (where the data goes).
# Needs: hyperfine, restic (make deps), sha256sum, xargs.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case $build_dir in
/*) ;;
*) build_dir=$here/$build_dir ;;
esac
audit=$build_dir/bin/restic-audit
size_mb=${AUDIT_BENCH_MB:-2048}
runs=${AUDIT_BENCH_RUNS:-3}
export PATH=${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH

die() {
    echo "bench: error: $*" >&2
    exit 100
}
[ -x "$audit" ] || die "$audit not built (make, or set BUILD_DIR)"
for tool in hyperfine restic sha256sum openssl xargs; do
    command -v "$tool" >/dev/null || die "$tool missing (make deps)"
done
[[ $size_mb =~ ^[0-9]+$ ]] && [ "$size_mb" -ge 16 ] || die "AUDIT_BENCH_MB must be >= 16"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-audit-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
repo=$work/repo
export RESTIC_REPOSITORY=$repo
export RESTIC_PASSWORD_FILE=$work/password
export RESTIC_CACHE_DIR=$work/cache
head -c 32 /dev/urandom | base64 >"$RESTIC_PASSWORD_FILE"

echo "bench: $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "bench: load average: $(cut -d' ' -f1-3 /proc/loadavg)"
speed() {
    openssl speed "$@" -evp sha256 -bytes 1048576 -seconds 2 2>/dev/null | awk '/^sha256/ {print $2}'
}
echo "bench: openssl speed, SHA-256 in 1 MiB blocks: one core $(speed), two processes $(speed -multi 2)"

echo "bench: writing $size_mb MB of random data and backing it up with restic in $work ..."
start=$(date +%s)
mkdir -p "$work/data"
left=$size_mb
i=0
while [ "$left" -gt 0 ]; do
    chunk=$((left < 64 ? left : 64))
    head -c "$((chunk * 1024 * 1024))" /dev/urandom >"$work/data/file-$i"
    left=$((left - chunk))
    i=$((i + 1))
done
restic init --quiet
restic backup --quiet --compression off "$work/data"
rm -rf "$work/data"
find "$repo" -type f ! -name config -print0 | sort -z >"$work/files"
files=$(tr -cd '\0' <"$work/files" | wc -c)
bytes=$(xargs -0 -a "$work/files" stat -c %s | awk '{s += $1} END {printf "%.0f", s}')
echo "bench: repository of $files files, $bytes bytes, made in $(($(date +%s) - start)) s"

# Every command must succeed on the repository before it is timed.
"$audit" --all --quiet --jobs 1 "$repo"

# Cold cache: the whole page cache dropped when permitted, else the repository's files only.
dropper=$work/drop-cache
if (sync && echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
    cold_how="echo 3 > /proc/sys/vm/drop_caches before each run"
    printf '#!/bin/sh\nsync && echo 3 > /proc/sys/vm/drop_caches\n' >"$dropper"
else
    cold_how="no permission for /proc/sys/vm/drop_caches: each repository file's pages dropped"
    cold_how+=" with dd iflag=nocache before each run (restic's own cache dir stays warm)"
    printf '#!/bin/sh\nxargs -0 -a "%s" -I{} dd if={} iflag=nocache count=0 status=none\n' \
        "$work/files" >"$dropper"
fi
chmod +x "$dropper"

half=$(((files + 1) / 2))
per_batch=$((half < 8 ? 1 : half / 4))
sha1="xargs -0 -a $work/files sha256sum >/dev/null"
sha2="xargs -0 -a $work/files -P2 -n $per_batch sha256sum >/dev/null"
ossl1="xargs -0 -a $work/files openssl dgst -sha256 >/dev/null"
ossl2="xargs -0 -a $work/files -P2 -n $per_batch openssl dgst -sha256 >/dev/null"
check="restic check --quiet --read-data >/dev/null"

# Runs hyperfine over name/command pairs, then prints mean time, MB/s and the ratios to the
# commands named "sha256sum (1 core)" and "openssl dgst (1 core)".
compare() {
    local title=$1 csv=$work/$2.csv
    shift 2
    local args=()
    while [ $# -gt 0 ]; do
        args+=(-n "$1" "$2")
        shift 2
    done
    echo
    echo "bench: $title"
    hyperfine --style basic --runs "$runs" "${hyperfine_extra[@]}" --export-csv "$csv" \
        "${args[@]}" >/dev/null
    awk -F, -v bytes="$bytes" '
        NR == 1 { next }
        { name[NR] = $1; mean[NR] = $2; sd[NR] = $3; n = NR
          if ($1 == "sha256sum (1 core)") sha = $2
          if ($1 == "openssl dgst (1 core)") ossl = $2 }
        END {
            printf "  %-32s %8s %7s %7s %13s %11s\n", "command", "mean s", "+- s", "MB/s",
                "vs sha256sum", "vs openssl"
            for (i = 2; i <= n; i++)
                printf "  %-32s %8.3f %7.3f %7.0f %12.2fx %10.2fx\n", name[i], mean[i], sd[i],
                    bytes / 1e6 / mean[i], sha / mean[i], ossl / mean[i]
        }' "$csv"
}

hyperfine_extra=(--warmup 1)
compare "warm cache ($runs runs after 1 warm-up; restic-audit with --keep-cache)" warm \
    "sha256sum (1 core)" "$sha1" \
    "xargs -P2 sha256sum (2 cores)" "$sha2" \
    "openssl dgst (1 core)" "$ossl1" \
    "xargs -P2 openssl dgst (2 cores)" "$ossl2" \
    "restic-audit --jobs 1" "$audit --all --quiet --keep-cache --jobs 1 $repo" \
    "restic-audit --jobs 2" "$audit --all --quiet --keep-cache --jobs 2 $repo" \
    "restic check --read-data" "$check"

hyperfine_extra=(--prepare "$dropper")
compare "cold cache ($cold_how)" cold \
    "sha256sum (1 core)" "$sha1" \
    "xargs -P2 sha256sum (2 cores)" "$sha2" \
    "openssl dgst (1 core)" "$ossl1" \
    "xargs -P2 openssl dgst (2 cores)" "$ossl2" \
    "restic-audit --jobs 1" "$audit --all --quiet --jobs 1 $repo" \
    "restic-audit --jobs 2" "$audit --all --quiet --jobs 2 $repo" \
    "restic check --read-data" "$check"

echo
echo "bench: MB/s is the repository's $bytes bytes over the mean time; 'vs X' is X's (one core)"
echo "bench: mean time over the command's: above 1 is faster."
echo "bench: load average: $(cut -d' ' -f1-3 /proc/loadavg)"
