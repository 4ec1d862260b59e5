#!/usr/bin/env bash
# Incremental replication from a remote primary: restic-replicate --client for a client whose
# repository lives on S3 (remote_repository; a versitygw this script starts on a free loopback
# port), to a local directory, against `rclone copy --immutable --checksum` of the whole remote
# repository to another local directory, in the same run.
#
#   bench/replicate-remote.sh [PATH_TO_RESTIC_REPLICATE]
#
# The repository: a real restic repository (init + one backup) plus BENCH_FILES (default 5000)
# content-addressed files of 4 KiB under data/XX/ (random bytes named by their SHA-256, which is
# all restic-replicate looks at), written straight into versitygw's directory. Both copies are
# brought up to date once; then one more backup and 3 more files, and the incremental step is
# timed both ways, with the requests versitygw logged for each.
#
# Environment: BENCH_FILES, BENCH_DIR (default $TMPDIR or /tmp), KEEP=1 (keep the work
# directory), DEPS_PREFIX (default ~/.cache/restic-backup-toolkit).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
files=${BENCH_FILES:-5000}
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
replicate=${1:-$here/build/bin/restic-replicate}
if [[ ! -x "$replicate" ]]; then
    echo "replicate-remote.sh: error: no restic-replicate at $replicate; build it ('make')" >&2
    exit 100
fi
for program in restic rclone versitygw python3; do
    command -v "$program" > /dev/null || { echo "replicate-remote.sh: error: no $program" >&2; exit 100; }
done

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/replicate-remote-XXXXXX")
vgw_pid=
cleanup() {
    [[ -n "$vgw_pid" ]] && kill "$vgw_pid" 2> /dev/null && wait "$vgw_pid" 2> /dev/null || true
    [[ "${KEEP:-0}" == 1 ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/s3" "$work/disk" "$work/rclone-copy" "$work/tree"
export ROOT_ACCESS_KEY_ID=bench$RANDOM ROOT_SECRET_ACCESS_KEY=$(head -c 18 /dev/urandom | base64)
versitygw --port "127.0.0.1:$port" posix "$work/s3" > "$work/versitygw.log" 2>&1 &
vgw_pid=$!
for _ in $(seq 200); do
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break
    sleep 0.05
done
requests() { grep -c '| vgw |' "$work/versitygw.log" || true; }

export RESTIC_REPOSITORY="s3:http://127.0.0.1:$port/web1" RESTIC_PASSWORD=bench
export AWS_ACCESS_KEY_ID=$ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$ROOT_SECRET_ACCESS_KEY
export RESTIC_CACHE_DIR=$work/cache
head -c 1000000 /dev/urandom > "$work/tree/one"
restic init -q && restic backup -q "$work/tree"
add_files() { # COUNT: content-addressed files straight into the bucket's directory
    python3 - "$work/s3/web1" "$1" << 'PY'
import hashlib, os, sys
root, count = sys.argv[1], int(sys.argv[2])
for _ in range(count):
    data = os.urandom(4096)
    name = hashlib.sha256(data).hexdigest()
    os.makedirs(f"{root}/data/{name[:2]}", exist_ok=True)
    with open(f"{root}/data/{name[:2]}/{name}", "wb") as f:
        f.write(data)
PY
}
add_files "$files"

root=$work/backups
mkdir -p "$root/systems/web1/conf" "$root/systems/web1/secrets"
chmod 700 "$root/systems/web1/secrets"
(umask 077; printf '[primary]\ntype = s3\nprovider = Other\nendpoint = http://127.0.0.1:%s\naccess_key_id = %s\nsecret_access_key = %s\n' \
    "$port" "$ROOT_ACCESS_KEY_ID" "$ROOT_SECRET_ACCESS_KEY" > "$root/systems/web1/secrets/rclone.conf")
printf 'schema: 1\nhost: web1\nremote_repository: primary:web1\ndestinations:\n  - name: disk\n    path: %s\n' \
    "$work/disk" > "$root/systems/web1/conf/client.yaml"
export RCLONE_CONFIG=$root/systems/web1/secrets/rclone.conf
unset AWS_CA_BUNDLE

timed() { # LABEL COMMAND...: seconds and requests
    local before start end
    before=$(requests)
    start=$(date +%s.%N)
    "${@:2}" > "$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 111; }
    end=$(date +%s.%N)
    printf '%-48s %6.2f s  %5d requests\n' "$1" "$(echo "$end - $start" | bc)" $(($(requests) - before))
}
total=$(find "$work/s3/web1" -type f | wc -l)
echo "repository: $total files on versitygw (remote primary)"
timed "restic-replicate, first run (full copy)" "$replicate" --root "$root" --client web1
timed "rclone copy --immutable --checksum, first" rclone copy --immutable --checksum primary:web1 "$work/rclone-copy"
head -c 1000000 /dev/urandom > "$work/tree/two"
restic backup -q "$work/tree"
add_files 3
echo "then one backup and 3 files more: $(( $(find "$work/s3/web1" -type f | wc -l) - total )) new files"
timed "restic-replicate, incremental" "$replicate" --root "$root" --client web1
timed "rclone copy --immutable --checksum, incremental" rclone copy --immutable --checksum primary:web1 "$work/rclone-copy"
timed "restic-replicate, up to date" "$replicate" --root "$root" --client web1
