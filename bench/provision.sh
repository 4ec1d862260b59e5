#!/bin/bash
# new-restic-server at scale: the wall time of provisioning COUNTS dedicated clients one after
# another into one root (the server config of bench/status.sh), as an administrator's loop would,
# against the goal (200 in 5 s, 1,000 in 25 s), and the time of the last provisioning, which shows
# whether one costs more the more clients there are. The load average before and after each run
# is printed too: on a shared machine the figures follow it (one fsync per file and process
# starts are what a busy disk and CPU slow down).
#   BUILD_DIR=build COUNTS="200 1000" bench/provision.sh
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BUILD_DIR:-$here/build}/bin
counts=${COUNTS:-200 1000}
deps_bin=${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-provision-XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

goal_for() { echo "$1 * 0.025" | bc -l; } # 200 in 5 s, 1,000 in 25 s: 25 ms a client

for n in $counts; do
    root=$work/$n
    mkdir -p "$root/root" "$root/replica" "$root/bin"
    # Copies the service user can reach wherever the pinned programs are installed (a 0700 home).
    for p in rest-server versitygw; do cp "$deps_bin/$p" "$root/bin/$p"; done
    cat > "$root/server.yaml" <<YAML
root: $root/root
listen_address: 127.0.0.1
public_address: 127.0.0.1
ports: {min: 30000, max: 39999}
owner: {user: nobody, group: nogroup}
# No system user per client: a benchmark must leave the machine's accounts as they were.
client_users: off
binaries: {backup-syncd: $bin/backup-syncd, restic-replicate: /bin/true,
           rest-server: $root/bin/rest-server, versitygw: $root/bin/versitygw}
destinations:
  - {name: disk2, path: '$root/replica/{host}'}
YAML
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
        [ "$i" -eq "$n" ] && last=$(date +%s.%N)
        "$bin/new-restic-server" -c "$root/server.yaml" -H "host$i" > /dev/null
    done
    end=$(date +%s.%N)
    ports=$(cat "$root"/root/systems/host*/conf/client.yaml | grep -c '^  port:' || true)
    distinct=$(cat "$root"/root/systems/host*/conf/client.yaml | sed -n 's/^  port: *//p' | sort -u | wc -l)
    total=$(echo "$end - $start" | bc -l)
    goal=$(goal_for "$n")
    printf '%5d clients: %.1f s (the last one %.3f s); goal <= %.0f s: %.2f x the goal (a ratio <= 1 meets it); %d ports, %d distinct; load %s before, %s after\n' \
        "$n" "$total" "$(echo "$end - $last" | bc -l)" "$goal" "$(echo "$total / $goal" | bc -l)" \
        "$ports" "$distinct" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)"
    rm -rf "$root"
done
