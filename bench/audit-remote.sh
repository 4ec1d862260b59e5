#!/usr/bin/env bash
# Benchmark of restic-audit over a remote primary: how fast it streams a repository on S3
# through SHA-256, against the obvious script, `rclone cat REMOTE/file | sha256sum` per object.
#
# Starts versitygw on loopback (keys generated here, passed by environment and an rclone config
# file of mode 0600, never on a command line), lets restic back up AUDIT_REMOTE_BENCH_MB
# megabytes (default 512) of random data straight to its bucket (uncompressed: random data does
# not compress), and makes a server root with one client whose client.yaml names the remote and
# whose secrets/rclone.conf holds the keys. Then, in the same run, times over the same objects
# (every object of the repository but config):
#   restic-audit --fraction 1/1 --jobs 1 / --jobs 2   the tool: one rclone rcd, every object
#                                                     streamed through SHA-256 (fraction 1:
#                                                     every object, every run)
#   rclone cat REMOTE/file | sha256sum, per object    the script; one rclone per object
#   the same with xargs -P2                           on two cores
#   rclone cat REMOTE | sha256sum, | openssl dgst     every object in one stream: rclone's own
#                                                     ceiling, no per-object start (coreutils'
#                                                     sha256sum may not use SHA-NI; OpenSSL does)
# Prints hyperfine's times, MB/s and the ratio to the per-object script. versitygw serves from
# the page cache (the data were just written), so the figures are the cost of the path through
# S3, rclone and the hash, not of a disk or a network. The load average is printed before and
# after: other work on the machine skews the figures.
#
# Usage: bench/audit-remote.sh    (uses $BUILD_DIR/bin/restic-audit, BUILD_DIR=build)
# Environment: AUDIT_REMOTE_BENCH_MB (repository size, >= 16), AUDIT_REMOTE_BENCH_RUNS (timed
#              runs per command, default 3), TMPDIR (where the data goes).
# Needs: hyperfine, restic, rclone, versitygw (make deps), sha256sum, openssl, xargs, python3.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-build}
case $build_dir in
/*) ;;
*) build_dir=$here/$build_dir ;;
esac
audit=$build_dir/bin/restic-audit
size_mb=${AUDIT_REMOTE_BENCH_MB:-512}
runs=${AUDIT_REMOTE_BENCH_RUNS:-3}
export PATH=${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH

die() {
    echo "bench: error: $*" >&2
    exit 100
}
[ -x "$audit" ] || die "$audit not built (make, or set BUILD_DIR)"
for tool in hyperfine restic rclone versitygw sha256sum openssl xargs python3; do
    command -v "$tool" >/dev/null || die "$tool missing (make deps)"
done
[[ $size_mb =~ ^[0-9]+$ ]] && [ "$size_mb" -ge 16 ] || die "AUDIT_REMOTE_BENCH_MB must be >= 16"

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-audit-remote-XXXXXX")
gateway=
cleanup() {
    [ -z "$gateway" ] || { kill "$gateway" 2>/dev/null && wait "$gateway" 2>/dev/null; } || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
umask 077

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
access=bench$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
secret=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
mkdir -p "$work/vgw"
ROOT_ACCESS_KEY_ID=$access ROOT_SECRET_ACCESS_KEY=$secret \
    versitygw --port "127.0.0.1:$port" posix "$work/vgw" >"$work/versitygw.log" 2>&1 &
gateway=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

client_dir=$work/backups/systems/web1
mkdir -p "$client_dir/conf" "$client_dir/secrets" "$client_dir/state"
export RCLONE_CONFIG=$client_dir/secrets/rclone.conf
printf '[store]\ntype = s3\nprovider = Other\nendpoint = http://127.0.0.1:%s\naccess_key_id = %s\nsecret_access_key = %s\nregion = us-east-1\n' \
    "$port" "$access" "$secret" >"$RCLONE_CONFIG"
printf 'schema: 1\nhost: web1\nremote_repository: store:bkt/web1\n' >"$client_dir/conf/client.yaml"
rclone mkdir store:bkt

export RESTIC_REPOSITORY=s3:http://127.0.0.1:$port/bkt/web1
export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACHE_DIR=$work/cache
export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
head -c 32 /dev/urandom | base64 >"$RESTIC_PASSWORD_FILE"

echo "bench: $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "bench: load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench: writing $size_mb MB of random data and backing it up with restic to versitygw ..."
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
rclone lsf -R --files-only --format sp --separator ' ' store:bkt/web1 | grep -v ' config$' |
    sort -k2 >"$work/listing"
cut -d' ' -f2 "$work/listing" | sed 's|^|store:bkt/web1/|' >"$work/objects"
files=$(wc -l <"$work/objects")
bytes=$(awk '{s += $1} END {printf "%.0f", s}' "$work/listing")
echo "bench: repository of $files objects, $bytes bytes, made in $(($(date +%s) - start)) s"

# Every command must succeed on the repository before it is timed.
"$audit" --root "$work/backups" --client web1 --fraction 1/1 --quiet --jobs 1

script1="xargs -a $work/objects -I{} sh -c 'rclone cat {} | sha256sum' >/dev/null"
script2="xargs -a $work/objects -P2 -I{} sh -c 'rclone cat {} | sha256sum' >/dev/null"
stream="rclone cat store:bkt/web1 --exclude /config | sha256sum >/dev/null"
stream_ossl="rclone cat store:bkt/web1 --exclude /config | openssl dgst -sha256 >/dev/null"
audit_cmd="$audit --root $work/backups --client web1 --fraction 1/1 --quiet"

csv=$work/remote.csv
echo
echo "bench: $runs runs after 1 warm-up"
hyperfine --style basic --runs "$runs" --warmup 1 --export-csv "$csv" \
    -n "rclone cat | sha256sum (1 core)" "$script1" \
    -n "xargs -P2 rclone cat | sha256sum" "$script2" \
    -n "rclone cat all | sha256sum" "$stream" \
    -n "rclone cat all | openssl dgst" "$stream_ossl" \
    -n "restic-audit --jobs 1" "$audit_cmd --jobs 1" \
    -n "restic-audit --jobs 2" "$audit_cmd --jobs 2" >/dev/null
awk -F, -v bytes="$bytes" '
    NR == 1 { next }
    { name[NR] = $1; mean[NR] = $2; sd[NR] = $3; n = NR
      if ($1 == "rclone cat | sha256sum (1 core)") base = $2 }
    END {
        printf "  %-34s %8s %7s %7s %16s\n", "command", "mean s", "+- s", "MB/s", "vs rclone cat|sha"
        for (i = 2; i <= n; i++)
            printf "  %-34s %8.3f %7.3f %7.0f %15.2fx\n", name[i], mean[i], sd[i],
                bytes / 1e6 / mean[i], base / mean[i]
    }' "$csv"
echo
echo "bench: MB/s is the repository's $bytes bytes (config left out) over the mean time;"
echo "bench: 'vs' is the per-object script's mean time over the command's: above 1 is faster."
echo "bench: load average: $(cut -d' ' -f1-3 /proc/loadavg)"
