#!/bin/bash
# backup-status over 200 provisioned clients (generated state, no servers running): wall time
# and memory of one full status run, table and JSON.
#   BUILD_DIR=build CLIENTS=200 bench/status.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$here/build}/bin
clients=${CLIENTS:-200}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-status-XXXXXX")
trap 'rm -rf "$work"' EXIT
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
now=$(date +%s)
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
    cat > "$c/state/backup-syncd-status.json" <<JSON
{"schema": 1, "last_success": $now, "consecutive_failures": 0, "last_result": "ok", "watch_error": null}
JSON
    cat > "$c/state/replicate-status.json" <<JSON
{"schema": 1, "destinations": [{"name": "disk2", "state": "ok", "missing_snapshots": 0, "last_success": "2026-11-28T00:00:00Z", "error": null}]}
JSON
    cat > "$c/state/audit-repository.json" <<JSON
{"schema": 1, "finished": "2026-11-28T00:00:00Z", "result": "clean", "findings": []}
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
