#!/bin/bash
# backup-syncd in listing mode: N daemons (one per client) each listing its own repository's
# snapshots/ on one versitygw (as somebody else's S3) every INTERVAL seconds, measured for SECONDS
# once all of them have synced their first snapshot. Prints the store's requests per minute (from
# versitygw's request log), the CPU seconds per minute of the daemons with their rclone children
# (utime+stime+cutime+cstime of /proc/PID/stat) and of versitygw, per listing, and what that
# makes at the default 60 s interval.
#   BUILD_DIR=build DAEMONS=20 INTERVAL=1 SECONDS_MEASURED=60 bench/syncd-remote.sh
#   DAEMONS=200 INTERVAL=60 SECONDS_MEASURED=180 bench/syncd-remote.sh    # the issue's 200
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
syncd=${BUILD_DIR:-$here/build}/bin/backup-syncd
daemons=${DAEMONS:-20}
interval=${INTERVAL:-1}
measured=${SECONDS_MEASURED:-60}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-syncd-remote-XXXXXX")
pids=()
store_pid=
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ -n "$store_pid" ] && kill -TERM "$store_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
clk_tck=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
own_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # without the reaped rclone children
requests() { grep -c ' | vgw | ' "$work/versitygw.log" || true; }

# The store: versitygw over a directory, root keys by environment only, on a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=BENCH$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$work/data/bkt"
ROOT_ACCESS_KEY_ID=$key ROOT_SECRET_ACCESS_KEY=$secret \
    versitygw --port "127.0.0.1:$port" posix "$work/data" > "$work/versitygw.log" 2>&1 &
store_pid=$!
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
umask 077
cat > "$work/rclone.conf" <<CONF
[store]
type = s3
provider = Other
endpoint = http://127.0.0.1:$port
access_key_id = $key
secret_access_key = $secret
region = us-east-1
CONF
umask 022
printf '#!/bin/sh\nexit 0\n' > "$work/sync" && chmod +x "$work/sync"

# Each client's repository: a config and one snapshot, written as the gateway's files (versitygw
# serves object bkt/KEY as the file data/bkt/KEY).
for i in $(seq 1 "$daemons"); do
    mkdir -p "$work/data/bkt/c$i/snapshots" "$work/state/c$i"
    echo config > "$work/data/bkt/c$i/config"
    echo snapshot > "$work/data/bkt/c$i/snapshots/$(printf '%064x' "$i")"
done
for i in $(seq 1 "$daemons"); do
    "$syncd" --client "c$i" --remote "store:bkt/c$i" --rclone-config "$work/rclone.conf" \
        --state-dir "$work/state/c$i" --script "$work/sync" --poll-interval "$interval" \
        > "$work/state/c$i/log" 2>&1 &
    pids+=($!)
done
echo "== $daemons backup-syncd --remote, one versitygw, a listing every $interval s each"
for i in $(seq 1 "$daemons"); do
    for _ in $(seq 1 3000); do
        jq -e '.snapshots_synced == 1 and .running == false' \
            "$work/state/c$i/backup-syncd-status.json" > /dev/null 2>&1 && break
        sleep 0.02
    done
done
echo "all $daemons synced their first snapshot; measuring ${measured} s"

sum_ticks() { local t=0; for p in "${pids[@]}"; do t=$((t + $($1 "$p"))); done; echo "$t"; }
r0=$(requests); c0=$(sum_ticks ticks); d0=$(sum_ticks own_ticks); s0=$(ticks "$store_pid")
t0=$(date +%s.%N)
sleep "$measured"
r1=$(requests); c1=$(sum_ticks ticks); d1=$(sum_ticks own_ticks); s1=$(ticks "$store_pid")
t1=$(date +%s.%N)
other=$(grep ' | vgw | ' "$work/versitygw.log" | grep -vc 'prefix=c[0-9]*%2Fsnapshots%2F' || true)

awk -v r="$((r1 - r0))" -v c="$((c1 - c0))" -v d="$((d1 - d0))" -v s="$((s1 - s0))" -v t0="$t0" -v t1="$t1" \
    -v hz="$clk_tck" -v n="$daemons" -v iv="$interval" -v other="$other" 'BEGIN {
    min = (t1 - t0) / 60
    printf "store requests: %.1f per minute in total (%.2f per daemon per listing; %d requests other than snapshot listings since the start)\n", r / min, r / (n * (t1 - t0) / iv), other
    printf "CPU, backup-syncd + rclone: %.2f s per minute in total, %.3f s per listing\n", c / hz / min, (r > 0 ? c / hz / r : 0)
    printf "CPU, backup-syncd alone (without rclone): %.3f s per minute in total\n", d / hz / min
    printf "CPU, versitygw: %.2f s per minute, %.4f s per request\n", s / hz / min, (r > 0 ? s / hz / r : 0)
    per_listing = (r > 0 ? c / hz / r : 0)
    printf "at a 60 s interval: 1440 requests per client per day; idle CPU %.1f s per client per hour (%.1f min per hour for 1,000 clients)\n", per_listing * 60, per_listing * 60 * 1000 / 60
}'
