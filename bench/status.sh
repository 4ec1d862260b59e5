#!/bin/bash
# backup-status over 200 provisioned clients (generated state, no servers running): wall time
# and memory of one full status run, table and JSON.
#   BUILD_DIR=build CLIENTS=200 bench/status.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$here/build}/bin
clients=${CLIENTS:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-status-XXXXXX")
# KEEP_WORK=1 keeps the generated root and names it, to look at it afterwards.
if [ -n "${KEEP_WORK:-}" ]; then echo "root kept in $work/root"; else trap 'rm -rf "$work"' EXIT; fi
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"

mkdir -p "$work/root"
cat > "$work/server.yaml" <<YAML
root: $work/root
listen_address: 127.0.0.1
public_address: 127.0.0.1
ports: {min: 30000, max: 39999}
owner: {user: nobody, group: nogroup}
binaries: {backup-syncd: $bin/backup-syncd, restic-replicate: /bin/true}
destinations:
  - {name: disk2, path: '/srv/replica/{host}'}
YAML

echo "provisioning $clients clients with new-restic-server..."
start=$(date +%s.%N)
for i in $(seq 1 "$clients"); do
    "$bin/new-restic-server" -c "$work/server.yaml" -H "host$i" >/dev/null
done
end=$(date +%s.%N)
printf 'provisioned %d clients in %.1f s\n' "$clients" "$(echo "$end - $start" | bc)"

# Each client: a repository with 30 snapshots, some packs, and the state files the daemons write.
stamp=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
for i in $(seq 1 "$clients"); do
    c=$work/root/systems/host$i
    repo=$c/data/host$i
    mkdir -p "$repo/snapshots" "$repo/index" "$repo/keys" "$repo/data/00"
    echo config > "$repo/config"
    for s in $(seq 1 30); do
        id=$(printf '%064x' $((i * 1000 + s)))
        echo snapshot > "$repo/snapshots/$id"
        echo pack > "$repo/data/00/00${id:2}"
    done
    # Whole records, as the tools write them (backup-status reads them strictly).
    cat > "$c/state/backup-syncd-status.json" <<JSON
{"schema": 2, "client": "host$i", "watchdir": "$repo/snapshots", "pid": 1, "updated": "$stamp",
 "last_change_seen": "$stamp", "last_attempt": "$stamp", "last_success": "$stamp",
 "last_result": "ok", "consecutive_failures": 0, "running": false, "snapshots_synced": 30,
 "pending_appeared": 0, "pending_gone": 0, "watch_error": null, "state_error": null,
 "next_retry": null}
JSON
    cat > "$c/state/replicate-status.json" <<JSON
{"schema": 1, "client": "host$i", "source": "$repo", "started": "$stamp", "finished": "$stamp",
 "duration_seconds": 0.1, "exit_code": 0, "source_files": 61, "source_snapshots": 30,
 "corrupt_files": [], "unreadable_files": [],
 "destinations": [{"name": "disk2", "kind": "local", "target": "/srv/disk2/host$i", "state": "ok",
  "error": null, "error_code": null, "listed": null,
  "copied": {"keys": {"files": 0, "bytes": 0}, "config": {"files": 0, "bytes": 0},
             "data": {"files": 1, "bytes": 5}, "index": {"files": 0, "bytes": 0},
             "snapshots": {"files": 1, "bytes": 9}},
  "files_copied": 2, "bytes_copied": 14, "already_there": 0, "vanished": 0, "not_sent": 0,
  "differing": 0, "missing_files": 0, "missing_snapshots": 0, "newest_missing_snapshot": null,
  "last_attempt": "$stamp", "last_success": "$stamp"}]}
JSON
    cat > "$c/state/audit-repository.json" <<JSON
{"schema": 1, "repository": "$repo", "client": "host$i", "label": "repository",
 "started": "$stamp", "finished": "$stamp", "duration_seconds": 0.1, "result": "clean",
 "exit_code": 0, "mode": "rotation",
 "cycle": {"length": 30, "position": 1, "slot_finished": true, "next_position": 2},
 "files_listed": 61, "files_selected": 2, "files_checked": 2, "bytes_checked": 14,
 "files_vanished": 0, "files_unreadable": 0, "files_left": 0, "bytes_left": 0,
 "temporary_files": 0, "findings": [], "errors": [], "notes": [], "last_full_coverage": null}
JSON
done

echo
echo "== hyperfine: backup-status over $clients clients (exit 1 is expected: services are down)"
hyperfine -N --warmup 2 --runs 20 -i \
    "$bin/backup-status --root $work/root" \
    "$bin/backup-status --root $work/root --json"
echo
echo "== /usr/bin/time -v (one run, table)"
/usr/bin/time -v "$bin/backup-status" --root "$work/root" > /dev/null 2> "$work/time.txt" || true
grep -E 'Elapsed|Maximum resident' "$work/time.txt"
