#!/bin/bash
# backup-status over many clients (generated state, no servers running): wall time and memory
# of one full status run as a table, as JSON and with the HTML page, against the goal (each run
# within 0.3 s, at most 16 MiB resident) for 1,000 clients.
#   BUILD_DIR=build CLIENTS=1000 [RUNS=20] bench/status.sh
# PROVISION=tool provisions every client with new-restic-server (bench/provision.sh times that);
# PROVISION=copy (the default above 200 clients) provisions one and copies
# its tree under each name, which is what backup-status reads just the same.
# REMOTE=1: every client a remote primary (new-restic-server --remote-repository), its 30
# snapshots in the listing record backup-syncd writes (state/remote-listing.json).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$here/build}/bin
clients=${CLIENTS:-1000}
provision=${PROVISION:-$([ "$clients" -gt 200 ] && echo copy || echo tool)}
remote=${REMOTE:-}
if [ -n "$remote" ]; then provision=copy; fi
goal_seconds=0.3
goal_kib=$((16 * 1024))
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-status-XXXXXX")
# KEEP_WORK=1 keeps the generated root and names it, to look at it afterwards.
if [ -n "${KEEP_WORK:-}" ]; then echo "root kept in $work/root"; else trap 'rm -rf "$work"' EXIT; fi
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"

mkdir -p "$work/root" "$work/replica" "$work/bin"
# Copies the service user can reach wherever the pinned programs are installed (a 0700 home).
chmod 755 "$work"
deps_bin=${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin
for p in rest-server versitygw rclone; do cp "$deps_bin/$p" "$work/bin/$p"; done
export PATH="$work/bin:$PATH" # rclone where the service user reaches it
cat > "$work/server.yaml" <<YAML
root: $work/root
listen_address: 127.0.0.1
public_address: 127.0.0.1
ports: {min: 30000, max: 39999}
owner: {user: nobody, group: nogroup}
# The clients copied from one template share its user: no system user per client here.
client_users: off
binaries: {backup-syncd: $bin/backup-syncd, restic-replicate: /bin/true,
           rest-server: $work/bin/rest-server, versitygw: $work/bin/versitygw}
destinations:
  - {name: disk2, path: '$work/replica/{host}'}
YAML

echo "provisioning $clients clients ($provision)..."
start=$(date +%s.%N)
if [ "$provision" = tool ]; then
    for i in $(seq 1 "$clients"); do
        "$bin/new-restic-server" -c "$work/server.yaml" -H "host$i" >/dev/null
    done
else
    "$bin/new-restic-server" -c "$work/server.yaml" -H template \
        ${remote:+--remote-repository store:backups/template} >/dev/null
    t=$work/root/systems/template
    for i in $(seq 1 "$clients"); do
        c=$work/root/systems/host$i
        cp -a "$t" "$c"
        mv "$c/data/template" "$c/data/host$i" 2>/dev/null || true
        sed -i "s/template/host$i/g" "$c/conf/client.yaml"
    done
    rm -rf "$t"
fi
end=$(date +%s.%N)
printf 'provisioned %d clients in %.1f s\n' "$clients" "$(echo "$end - $start" | bc)"

now=$(date +%s)
if [ -n "$remote" ]; then
    stamp=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
    for i in $(seq 1 "$clients"); do
        snaps=""
        for s in $(seq 1 30); do
            printf -v id "%064x" $((i * 1000 + s))
            t=$(date -u -d "@$((now - (s - 1) * 86400 - 3600))" +%Y-%m-%dT%H:%M:%S.000Z)
            snaps+="${snaps:+,}{\"id\": \"$id\", \"time\": \"$t\", \"size\": 300}"
        done
        echo "{\"schema\": 1, \"remote\": \"store:backups/host$i\", \"listed\": \"$stamp\"," \
            "\"error\": null, \"snapshots\": [$snaps]}" > "$work/root/systems/host$i/state/remote-listing.json"
    done
fi

# Snapshot i of every client arrived i days ago (one touch per day for all clients); every tenth
# client has none for the last two days, so it is stale.
for s in $(seq 1 30); do
    [ -n "$remote" ] && break
    files=()
    for i in $(seq 1 "$clients"); do
        if [ $((i % 10)) -eq 0 ] && [ "$s" -le 2 ]; then continue; fi
        printf -v id "%064x" $((i * 1000 + s))
        files+=("$work/root/systems/host$i/data/host$i/snapshots/$id")
    done
    mkdir -p "${files[@]%/*}"
    for f in "${files[@]}"; do echo snapshot > "$f"; done
    touch -d "@$((now - (s - 1) * 86400 - 3600))" "${files[@]}"
done

# Each client: a repository with 30 snapshots, some packs, and the state files the daemons write.
stamp=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
for i in $(seq 1 "$clients"); do
    c=$work/root/systems/host$i
    repo=$c/data/host$i
    [ -n "$remote" ] && repo=store:backups/host$i && continue
    mkdir -p "$repo/snapshots" "$repo/index" "$repo/keys" "$repo/data/00"
    echo config > "$repo/config"
    for s in $(seq 1 30); do
        printf -v id "%064x" $((i * 1000 + s))
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
 "cycle": {"length": 30, "position": $((i % 30)), "slot_finished": true,
           "next_position": $(((i + 1) % 30))},
 "files_listed": 61, "files_selected": 2, "files_checked": 2, "bytes_checked": 14,
 "files_vanished": 0, "files_unreadable": 0, "files_left": 0, "bytes_left": 0,
 "temporary_files": 0, "findings": [], "errors": [], "notes": [], "last_full_coverage": null}
JSON
done

mkdir -p "$work/www"
table="$bin/backup-status --root $work/root"
json="$bin/backup-status --root $work/root --json"
html="$bin/backup-status --root $work/root --html $work/www/status.html"
echo
echo "== hyperfine: backup-status over $clients clients (exit 1 is expected: services are down)"
hyperfine -N --warmup 2 --runs "${RUNS:-20}" -i --export-json "$work/hyperfine.json" "$table" "$json" "$html"
printf 'page: %s bytes\n' "$(stat -c %s "$work/www/status.html")"

echo
echo "== against the goal (<= $goal_seconds s, <= 16 MiB resident; a ratio <= 1 meets it)"
names=(table json html)
commands=("$table" "$json" "$html")
for k in 0 1 2; do
    mean=$(grep -o '"mean": *[0-9.e-]*' "$work/hyperfine.json" | sed -n "$((k + 1))p" | sed 's/.*: *//')
    # shellcheck disable=SC2086 # the command is words
    /usr/bin/time -v ${commands[$k]} > /dev/null 2> "$work/time.txt" || true
    kib=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
    printf '%-5s  time %.3f s = %.2f x goal   max RSS %.1f MiB = %.2f x goal\n' "${names[$k]}" \
        "$mean" "$(echo "$mean / $goal_seconds" | bc -l)" "$(echo "$kib / 1024" | bc -l)" \
        "$(echo "$kib / $goal_kib" | bc -l)"
done
