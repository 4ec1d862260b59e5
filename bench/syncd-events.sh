#!/bin/bash
# backup-syncd in listing mode with its bucket-event listener: one daemon listing store:bkt/c1
# every hour, versitygw POSTing its events to backup-syncd's --event-listen. RUNS times: a new
# snapshot object written with `rclone rcat`, and the time from the start of that write until
# the sync command started (its first line records `date +%s.%N`). Prints the median and worst,
# the write's own time, and the listing-only figure for comparison (half the interval on
# average, the whole interval at worst). Runs are 1.2 s apart, past the one-listing-a-second
# limit, so each measures an event on its own.
#   BUILD_DIR=build RUNS=20 bench/syncd-events.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
syncd=${BUILD_DIR:-$here/build}/bin/backup-syncd
runs=${RUNS:-20}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-syncd-events-XXXXXX")
syncd_pid=
store_pid=
cleanup() {
    [ -n "$store_pid" ] && kill -TERM "$store_pid" 2>/dev/null || true
    [ -n "$syncd_pid" ] && kill -TERM "$syncd_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 1 400); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
synced() { jq -r 'if .running then -1 else .snapshots_synced end' \
    "$work/state/backup-syncd-status.json" 2>/dev/null || echo -1; }

port=$(free_port)
event_port=$(free_port)
key=BENCH$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$work/data" "$work/state"
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
printf '#!/bin/sh\ndate +%%s.%%N >> %s/started\nexit 0\n' "$work" > "$work/sync"
chmod +x "$work/sync"

# backup-syncd first: versitygw does not start unless its webhook answers.
"$syncd" --client c1 --remote store:bkt/c1 --rclone-config "$work/rclone.conf" \
    --state-dir "$work/state" --script "$work/sync" --poll-interval 3600 \
    --event-listen "127.0.0.1:$event_port" > "$work/syncd.log" 2>&1 &
syncd_pid=$!
wait_port "$event_port"
ROOT_ACCESS_KEY_ID=$key ROOT_SECRET_ACCESS_KEY=$secret \
    versitygw --port "127.0.0.1:$port" --event-webhook-url "http://127.0.0.1:$event_port/" \
    posix "$work/data" > "$work/versitygw.log" 2>&1 &
store_pid=$!
wait_port "$port"
export RCLONE_CONFIG=$work/rclone.conf
rclone mkdir store:bkt # through the gateway: a directory made beside it lacks its metadata
mkdir -p "$work/data/bkt/c1"
echo config > "$work/data/bkt/c1/config"
touch "$work/started"

echo "== backup-syncd --poll-interval 3600 --event-listen, versitygw --event-webhook-url: $runs snapshots"
: > "$work/latencies"
for i in $(seq 1 "$runs"); do
    id=$(printf '%064x' "$i")
    t0=$(date +%s.%N)
    echo snapshot | rclone rcat --s3-no-check-bucket "store:bkt/c1/snapshots/$id"
    t1=$(date +%s.%N)
    for _ in $(seq 1 1200); do
        [ "$(wc -l < "$work/started")" -ge "$i" ] && break
        sleep 0.01
    done
    [ "$(wc -l < "$work/started")" -ge "$i" ] || { echo "run $i: no sync in 12 s" >&2; cat "$work/syncd.log" >&2; exit 1; }
    started=$(sed -n "${i}p" "$work/started")
    echo "$t0 $t1 $started" >> "$work/latencies"
    for _ in $(seq 1 1200); do
        [ "$(synced)" = "$i" ] && break
        sleep 0.01
    done
    sleep 1.2
done
events=$(jq .events_received "$work/state/backup-syncd-status.json")
listings=$(grep -c 'prefix=c1%2Fsnapshots%2F' "$work/versitygw.log" || true)
event_listings=$(grep -c 'bucket event: listing' "$work/syncd.log" || true)
stats() { # the column's values, sorted: median, worst, best
    sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "median %.3f s, worst %.3f s, best %.3f s", m, v[NR], v[1] }'
}
echo "write start -> sync command started: $(awk '{ print $3 - $1 }' "$work/latencies" | stats) ($runs snapshots)"
echo "the write itself (rclone rcat, process start to exit): $(awk '{ print $2 - $1 }' "$work/latencies" | stats)"
echo "events received $events; listings of snapshots/ $listings, of which $event_listings brought by events"
echo "listing only, for comparison: half the interval on average, the interval at worst (30 s and 60 s at the default 60 s)"
