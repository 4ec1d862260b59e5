#!/bin/bash
# backup-syncd: (a) latency from a snapshot file appearing to the sync command starting, over
# many trials (median, worst); (b) CPU time and resident memory of one idle daemon over a
# minute; (c) the same for 200 daemons watching 200 directories.
# (a2) a burst: the runs that a `restic forget` of many snapshots gives. (a3) a small restic
# backup's snapshot file written -> the snapshot in a local replica (backup-syncd running
# restic-replicate), over REPLICA_TRIALS backups.
#   BUILD_DIR=build TRIALS=50 IDLE_SECONDS=60 DAEMONS=200 BURST=50 REPLICA_TRIALS=20 bench/syncd.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
syncd=${BUILD_DIR:-$here/build}/bin/backup-syncd
replicate=${BUILD_DIR:-$here/build}/bin/restic-replicate
replica_trials=${REPLICA_TRIALS:-20}
trials=${TRIALS:-50}
idle=${IDLE_SECONDS:-60}
daemons=${DAEMONS:-200}
burst=${BURST:-50}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-syncd-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
clk_tck=$(getconf CLK_TCK)

# The sync command records when it started.
cat > "$work/record" <<'SH'
#!/bin/sh
date +%s.%N >> "$RECORD"
SH
chmod +x "$work/record"

start_daemon() { # dir state record-file
    mkdir -p "$1" "$2"
    RECORD=$3 "$syncd" --client bench --watchdir "$1" --state-dir "$2" --script "$work/record" \
        --loopdelay 60 > "$2/log" 2>&1 &
    pids+=($!)
}
# Until the daemon's status says no sync runs (it is written after each run ends).
wait_idle() {
    for _ in $(seq 1 1000); do
        jq -e '.running == false' "$1/backup-syncd-status.json" > /dev/null 2>&1 && return
        sleep 0.01
    done
}
# Until the record file has a line: the daemon's first run (of what was there at its start).
wait_first_run() {
    for _ in $(seq 1 1000); do [ -s "$1" ] && return; sleep 0.01; done
}
# The median and the worst of the numbers in a file, one per line: sets median and worst.
median_worst() {
    sort -n "$1" > "$1.sorted"
    median=$(sed -n "$(( ($(wc -l < "$1.sorted") + 1) / 2 ))p" "$1.sorted")
    worst=$(tail -n 1 "$1.sorted")
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# Proportional set size: shared library pages divided among the processes that map them.
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

echo "== (a) latency: snapshot file renamed into snapshots/ -> sync command started ($trials trials)"
start_daemon "$work/one/snapshots" "$work/one/state" "$work/one/record.txt"
sleep 1
: > "$work/one/record.txt"
latencies=()
for i in $(seq 1 "$trials"); do
    before=$(wc -l < "$work/one/record.txt")
    id=$(printf '%064x' "$i")
    echo snapshot > "$work/one/snapshots/.tmp-$i"
    t0=$(date +%s.%N)
    mv "$work/one/snapshots/.tmp-$i" "$work/one/snapshots/$id"
    for _ in $(seq 1 500); do
        [ "$(wc -l < "$work/one/record.txt")" -gt "$before" ] && break
        sleep 0.01
    done
    t1=$(tail -n 1 "$work/one/record.txt")
    latencies+=("$(echo "$t1 - $t0" | bc)")
    sleep 0.2
done
printf '%s\n' "${latencies[@]}" > "$work/lat.txt"
median_worst "$work/lat.txt"
printf 'latency: median %.3f s, worst %.3f s; goal median <= 0.050 s, worst <= 0.150 s: %.2f x and %.2f x the goal (a ratio <= 1 meets it; the original polled every 60 s)\n' \
    "$median" "$worst" "$(echo "$median / 0.050" | bc -l)" "$(echo "$worst / 0.150" | bc -l)"

echo "== (a2) burst: restic forget of $burst snapshots (real restic, local repository) -> runs"
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$work/burst/repo
restic init --quiet > /dev/null
mkdir -p "$work/burst/source" "$work/burst/state"
for i in $(seq 1 "$burst"); do
    echo "$i" > "$work/burst/source/file"
    restic backup --quiet --no-scan "$work/burst/source" > /dev/null
done
start_daemon "$work/burst/repo/snapshots" "$work/burst/state" "$work/burst/record.txt"
# The first run hands over the snapshots made before the daemon started; wait for it.
wait_first_run "$work/burst/record.txt"
wait_idle "$work/burst/state"
before=$(wc -l < "$work/burst/record.txt")
t0=$(date +%s.%N)
restic forget --quiet $(restic snapshots --json | jq -r '.[].id') > /dev/null
t1=$(date +%s.%N)
sleep 2 # longer than the settle time after the last deletion: any second run has started
wait_idle "$work/burst/state"
runs=$(( $(wc -l < "$work/burst/record.txt") - before ))
printf 'burst: forget of %d snapshots took %.2f s and gave %d run(s); goal 1 run\n' "$burst" \
    "$(echo "$t1 - $t0" | bc)" "$runs"

echo "== (a3) snapshot written -> in a local replica (backup-syncd + restic-replicate, $replica_trials small backups)"
e2r=$work/e2r
mkdir -p "$e2r/source" "$e2r/state" "$e2r/replicate-state" "$e2r/replica"
export RESTIC_REPOSITORY=$e2r/repo
restic init --quiet > /dev/null
# The sync command: restic-replicate with a ledger, as the client's service runs it, then the
# moment it finished.
cat > "$e2r/sync" <<SH
#!/bin/sh
"$replicate" --state-dir "$e2r/replicate-state" "$e2r/repo" "$e2r/replica" > /dev/null 2>&1
date +%s.%N >> "\$RECORD"
SH
chmod +x "$e2r/sync"
RECORD=$e2r/record.txt "$syncd" --client bench --watchdir "$e2r/repo/snapshots" \
    --state-dir "$e2r/state" --script "$e2r/sync" --loopdelay 60 > "$e2r/state/log" 2>&1 &
pids+=($!)
# The first run replicates the repository as it is (keys, config).
wait_first_run "$e2r/record.txt"
wait_idle "$e2r/state"
e2r_latencies=()
for i in $(seq 1 "$replica_trials"); do
    echo "$i" > "$e2r/source/file"
    before=$(ls "$e2r/repo/snapshots" | sort)
    restic backup --quiet --no-scan "$e2r/source" > /dev/null
    id=$(comm -13 <(echo "$before") <(ls "$e2r/repo/snapshots" | sort) | head -n 1)
    # restic renames the finished snapshot file into place: its time is when it appeared.
    t0=$(stat -c %.9Y "$e2r/repo/snapshots/$id")
    for _ in $(seq 1 1000); do
        [ -e "$e2r/replica/snapshots/$id" ] && jq -e '.running == false' \
            "$e2r/state/backup-syncd-status.json" > /dev/null 2>&1 && break
        sleep 0.01
    done
    [ -e "$e2r/replica/snapshots/$id" ] || { echo "snapshot $id never reached the replica" >&2; exit 1; }
    t1=$(tail -n 1 "$e2r/record.txt")
    e2r_latencies+=("$(echo "$t1 - $t0" | bc)")
done
printf '%s\n' "${e2r_latencies[@]}" > "$work/e2r.txt"
median_worst "$work/e2r.txt"
printf 'snapshot -> local replica: median %.3f s, worst %.3f s; goal median <= 0.300 s: %.2f x the goal (a ratio <= 1 meets it)\n' \
    "$median" "$worst" "$(echo "$median / 0.300" | bc -l)"
restic -r "$e2r/replica" check --quiet > /dev/null && echo "replica: restic check passes"

echo "== (b) one idle daemon over ${idle}s"
pid=${pids[0]}
c0=$(cpu_ticks "$pid")
sleep "$idle"
c1=$(cpu_ticks "$pid")
printf 'idle daemon: CPU %.3f s over %d s, RSS %d KiB, PSS %d KiB\n' \
    "$(echo "($c1 - $c0) / $clk_tck" | bc -l)" "$idle" "$(rss_kb "$pid")" "$(pss_kb "$pid")"

echo "== (c) $daemons idle daemons watching $daemons directories over ${idle}s"
first=${#pids[@]}
for i in $(seq 1 "$daemons"); do
    start_daemon "$work/many/$i/snapshots" "$work/many/$i/state" "$work/many/$i/record.txt"
done
sleep 3
total0=0
for p in "${pids[@]:$first}"; do total0=$(( total0 + $(cpu_ticks "$p") )); done
sleep "$idle"
total1=0
rss=0
pss=0
for p in "${pids[@]:$first}"; do
    total1=$(( total1 + $(cpu_ticks "$p") ))
    rss=$(( rss + $(rss_kb "$p") ))
    pss=$(( pss + $(pss_kb "$p") ))
done
printf '%d daemons: CPU %.3f s in total over %d s; PSS %d MiB in total (%d KiB each); RSS %d KiB each (counts shared library pages in every process)\n' \
    "$daemons" "$(echo "($total1 - $total0) / $clk_tck" | bc -l)" "$idle" $(( pss / 1024 )) \
    $(( pss / daemons )) $(( rss / daemons ))
