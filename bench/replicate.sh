#!/usr/bin/env bash
# Incremental replication of a large repository: restic-replicate against
# `rclone copy --immutable --checksum` of the whole repository, in the same run.
#
#   bench/replicate.sh [PATH_TO_RESTIC_REPLICATE]
#
# Builds a real restic repository of at least BENCH_FILES files (default 20000), replicates it
# once to a local directory and to an S3 server (a versitygw this script starts on a free
# loopback port), and brings an rclone copy of it up to date on the same server. Then, after one
# more small backup, it times the incremental step four ways and counts the requests each S3 run
# made (versitygw logs one line per request); ROUNDS times (default 5), with the medians:
#   restic-replicate  -> local directory      rclone copy --immutable --checksum -> local directory
#   restic-replicate  -> S3 (rclone remote)   rclone copy --immutable --checksum -> S3
# Then a deletion run (keep_deleted): BENCH_DELETIONS (default 100) snapshots forgotten on the
# primary, seen gone by one run (--keep-deleted 1d) and deleted by the next (--now 2 days on),
# against `rclone delete --files-from-raw` of the same files from the rclone copies:
#   restic-replicate (deletion run) -> local  rclone delete --files-from-raw -> local directory
#   restic-replicate (deletion run) -> S3     rclone delete --files-from-raw -> S3
#
# The repository: BENCH_BACKUPS (default 8) real backups of 400 small random files each, then
# `restic rewrite --exclude pad-K` over existing snapshots until the repository holds BENCH_FILES
# files. Every rewritten snapshot is a real new snapshot, and restic writes a tree pack, an index
# file and the snapshot file for each (3 files), so the repository has as many small packs,
# index files and snapshots as years of daily backups would. (20,000 packs of restic's minimum
# pack size of 4 MiB would be 80 GB; 5,000 separate small backups would take most of an hour,
# each paying restic's key derivation.)
#
# Environment: BENCH_REUSE (a work directory a KEEP=1 run left: no building, no initial copies),
# BENCH_FILES, BENCH_BACKUPS, BENCH_DELETIONS, ROUNDS, BENCH_DIR (where the work directory goes, default
# $TMPDIR or /tmp), KEEP=1 (keep the work directory), DEPS_PREFIX (the pinned Go programs,
# default ~/.cache/restic-backup-toolkit).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
files_target=${BENCH_FILES:-20000}
backups=${BENCH_BACKUPS:-8}
deletions=${BENCH_DELETIONS:-100}
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"

replicate=${1:-${RESTIC_REPLICATE:-}}
if [[ -z "$replicate" ]]; then
    for candidate in "$here/build/bin/restic-replicate" "$here/build-replicate/bin/restic-replicate"; do
        if [[ -x "$candidate" ]]; then
            replicate=$candidate
            break
        fi
    done
fi
if [[ -z "$replicate" || ! -x "$replicate" ]]; then
    echo "replicate.sh: error: no restic-replicate binary; build it ('make') or pass its path" >&2
    exit 100
fi
for program in restic rclone versitygw; do
    if ! command -v "$program" > /dev/null; then
        echo "replicate.sh: error: $program is not on PATH; run 'make deps'" >&2
        exit 100
    fi
done
# rclone 1.60's S3 client refuses to start when AWS_CA_BUNDLE is set ("LoadCustomCABundleError").
unset AWS_CA_BUNDLE

reuse=${BENCH_REUSE:-}
if [[ -n "$reuse" ]]; then
    # A work directory a run with KEEP=1 left: its repository, copies and ledgers are reused
    # (building a 20,000-file repository takes 10 minutes or more), and it is kept again.
    [[ -f "$reuse/repo/config" && -f "$reuse/password" ]] || {
        echo "replicate.sh: error: $reuse is not a work directory of this script" >&2
        exit 100
    }
    work=$(cd "$reuse" && pwd)
    KEEP=1
else
    work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-replicate-XXXXXX")
fi
vgw_pid=
cleanup() {
    if [[ -n "$vgw_pid" ]]; then
        kill "$vgw_pid" 2> /dev/null || true
        wait "$vgw_pid" 2> /dev/null || true
    fi
    if [[ "${KEEP:-0}" != 1 ]]; then
        chmod -R u+w "$work" 2> /dev/null || true
        rm -rf "$work"
    else
        echo "work directory kept: $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
seconds() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }
repo_files() { find "$1" -type f -not -path '*/locks/*' | wc -l; }
requests() { grep -c '| vgw |' "$work/versitygw.log" || true; }

# --- an S3 server on a free loopback port ------------------------------------------------------
port=
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 20000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null; then
        port=$candidate
        break
    fi
done
[[ -n "$port" ]] || { echo "replicate.sh: error: no free port" >&2; exit 111; }
access_key=BENCH$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret_key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$work/s3"
# Credentials by environment, never on a command line.
ROOT_ACCESS_KEY_ID=$access_key ROOT_SECRET_ACCESS_KEY=$secret_key \
    versitygw --port "127.0.0.1:$port" posix "$work/s3" > "$work/versitygw.log" 2>&1 &
vgw_pid=$!
for _ in $(seq 1 200); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
        break
    fi
    sleep 0.05
done
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other
export RCLONE_CONFIG_BENCH_ENDPOINT="http://127.0.0.1:$port"
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$access_key RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$secret_key
rclone mkdir -q bench:bench

# --- the repository -----------------------------------------------------------------------------
repo="$work/repo"
src="$work/src"
export RESTIC_REPOSITORY=$repo RESTIC_CACHE_DIR="$work/cache" RESTIC_PASSWORD_FILE="$work/password"
build_repository() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RESTIC_PASSWORD_FILE"
    mkdir -p "$src"
    for k in $(seq 0 19); do echo "pad $k" > "$src/pad-$k"; done
    echo "building a repository of at least $files_target files in $work ..."
    start=$(now_ns)
    restic init -q
    for b in $(seq 1 "$backups"); do
        mkdir -p "$src/backup-$b"
        for i in $(seq 1 400); do head -c 4096 /dev/urandom > "$src/backup-$b/file-$i"; done
        restic backup -q "$src" > /dev/null
    done
    round=0
    while :; do
        have=$(repo_files "$repo")
        if ((have >= files_target)); then
            break
        fi
        if ((round >= 20)); then
            echo "replicate.sh: error: ran out of pad files" >&2
            exit 111
        fi
        need=$(((files_target - have + 2) / 3))
        # Two restic processes at a time, each rewriting up to 500 snapshots.
        ls "$repo/snapshots" | sed -n "1,${need}p" |
            xargs -P 2 -n 500 restic rewrite -q --exclude "pad-$round" > /dev/null
        round=$((round + 1))
    done
}
if [[ -z "$reuse" ]]; then
    build_repository
fi
total=$(repo_files "$repo")
built=reused
[[ -n "$reuse" ]] || built="built in $(seconds $(($(now_ns) - start))) s"
echo "repository: $total files ($(du -sh "$repo" | cut -f1)): data $(find "$repo/data" -type f | wc -l), index $(ls "$repo/index" | wc -l), snapshots $(ls "$repo/snapshots" | wc -l); $built"

# --- every destination up to date ---------------------------------------------------------------
local_dest="$work/replica-local"
rclone_local="$work/rclone-local"
mkdir -p "$local_dest" "$rclone_local"
s3_dest=bench:bench/replica
s3_rclone=bench:bench/rclone
run_quiet() { "$@" > "$work/last.log" 2>&1 || { cat "$work/last.log" >&2; exit 111; }; }
initial_copies() {
    start=$(now_ns)
    run_quiet "$replicate" --state-dir "$work/state-local" "$repo" "$local_dest"
    echo "initial restic-replicate to a local directory: $(seconds $(($(now_ns) - start))) s"
    start=$(now_ns)
    run_quiet "$replicate" --state-dir "$work/state-s3" "$repo" "$s3_dest"
    echo "initial restic-replicate to S3: $(seconds $(($(now_ns) - start))) s"
    start=$(now_ns)
    run_quiet rclone copy -q --immutable --checksum "$repo" "$rclone_local"
    run_quiet rclone copy -q --immutable --checksum "$repo" "$s3_rclone"
    echo "initial rclone copies (local and S3): $(seconds $(($(now_ns) - start))) s"
}
if [[ -z "$reuse" ]]; then
    initial_copies
fi

# --- the measured step, ROUNDS times: one more small backup, then each copy brought up to date -
measure() { # label command...: sets elapsed_ns and made_requests
    local before
    before=$(requests)
    local t0
    t0=$(now_ns)
    run_quiet "${@:2}"
    elapsed_ns=$(($(now_ns) - t0))
    made_requests=$(($(requests) - before))
    printf '  %-58s %8s s  %6d S3 requests\n' "$1" "$(seconds "$elapsed_ns")" "$made_requests"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rounds=${ROUNDS:-5}
rr_locals=() rc_locals=() rr_s3s=() rc_s3s=() rr_s3_reqs=() rc_s3_reqs=()
for round in $(seq 1 "$rounds"); do
    mkdir -p "$src/new-$round"
    for i in $(seq 1 20); do head -c 4096 /dev/urandom > "$src/new-$round/file-$i"; done
    before_files=$(repo_files "$repo")
    restic backup -q "$src" > /dev/null
    new_files=$(($(repo_files "$repo") - before_files))
    echo "round $round: one more backup, +$new_files files, $(repo_files "$repo") in all; incremental step:"
    measure "restic-replicate -> local directory" \
        "$replicate" --state-dir "$work/state-local" "$repo" "$local_dest"
    rr_locals+=("$elapsed_ns")
    measure "rclone copy --immutable --checksum -> local directory" \
        rclone copy -q --immutable --checksum "$repo" "$rclone_local"
    rc_locals+=("$elapsed_ns")
    measure "restic-replicate -> S3" \
        "$replicate" --state-dir "$work/state-s3" "$repo" "$s3_dest"
    rr_s3s+=("$elapsed_ns")
    rr_s3_reqs+=("$made_requests")
    measure "rclone copy --immutable --checksum -> S3" \
        rclone copy -q --immutable --checksum "$repo" "$s3_rclone"
    rc_s3s+=("$elapsed_ns")
    rc_s3_reqs+=("$made_requests")
done
# The medians of the rounds (each pair ran back to back, so a loaded moment hits both).
rr_local=$(median "${rr_locals[@]}")
rc_local=$(median "${rc_locals[@]}")
rr_s3=$(median "${rr_s3s[@]}")
rr_s3_requests=$(median "${rr_s3_reqs[@]}")
rc_s3=$(median "${rc_s3s[@]}")
rc_s3_requests=$(median "${rc_s3_reqs[@]}")

# Every copy must be complete, or the figures mean nothing.
expected=$(cd "$repo" && find . -type f -not -path './locks/*' | sort)
for dir in "$local_dest" "$rclone_local" "$work/s3/bench/replica" "$work/s3/bench/rclone"; do
    got=$(cd "$dir" && find . -type f -not -path './locks/*' | sort)
    if [[ "$got" != "$expected" ]]; then
        echo "replicate.sh: error: $dir does not hold the repository's files" >&2
        exit 1
    fi
done

# --- a deletion run: the primary forgets some snapshots (no prune: exactly those files go) -----
# The first run with --keep-deleted sees them gone (nothing due yet); the one two days later
# deletes them. rclone deletes the same files from its copies.
gone_list="$work/gone.list"
ls "$repo/snapshots" | sed -n "1,${deletions}p" | sed 's|^|snapshots/|' > "$gone_list"
sed 's|^snapshots/||' "$gone_list" | xargs restic forget -q > /dev/null
seen_at=$(date +%s)
due_at=$((seen_at + 2 * 86400))
for state in state-local state-s3; do
    dest=$local_dest
    [[ "$state" == state-s3 ]] && dest=$s3_dest
    run_quiet "$replicate" --state-dir "$work/$state" --keep-deleted 1d --now "$seen_at" "$repo" "$dest"
done
echo "deletion run ($(wc -l < "$gone_list") snapshots forgotten, due; $(repo_files "$repo") files in all):"
measure "restic-replicate (deletion run) -> local directory" \
    "$replicate" --state-dir "$work/state-local" --keep-deleted 1d --now "$due_at" "$repo" "$local_dest"
rd_local=$elapsed_ns
measure "rclone delete --files-from-raw -> local directory" \
    rclone delete -q --files-from-raw "$gone_list" "$rclone_local"
cd_local=$elapsed_ns
measure "restic-replicate (deletion run) -> S3" \
    "$replicate" --state-dir "$work/state-s3" --keep-deleted 1d --now "$due_at" "$repo" "$s3_dest"
rd_s3=$elapsed_ns
rd_s3_requests=$made_requests
measure "rclone delete --files-from-raw -> S3" \
    rclone delete -q --files-from-raw "$gone_list" "$s3_rclone"
cd_s3=$elapsed_ns
cd_s3_requests=$made_requests
expected=$(cd "$repo" && find . -type f -not -path './locks/*' | sort)
for dir in "$local_dest" "$rclone_local" "$work/s3/bench/replica" "$work/s3/bench/rclone"; do
    got=$(cd "$dir" && find . -type f -not -path './locks/*' | sort)
    if [[ "$got" != "$expected" ]]; then
        echo "replicate.sh: error: $dir does not hold the repository's files after the deletions" >&2
        exit 1
    fi
done

echo "summary ($total files, then $rounds rounds of a small backup; medians of the rounds):"
echo "  local: restic-replicate $(seconds "$rr_local") s, rclone $(seconds "$rc_local") s: rclone takes $(ratio "$rc_local" "$rr_local")x as long"
echo "  S3:    restic-replicate $(seconds "$rr_s3") s, $rr_s3_requests requests; rclone $(seconds "$rc_s3") s, $rc_s3_requests requests: $(ratio "$rc_s3" "$rr_s3")x the time, $(ratio "$rc_s3_requests" "$rr_s3_requests")x the requests"
echo "  deletion of $deletions files:"
echo "    local: restic-replicate $(seconds "$rd_local") s, rclone delete $(seconds "$cd_local") s: rclone takes $(ratio "$cd_local" "$rd_local")x as long"
echo "    S3:    restic-replicate $(seconds "$rd_s3") s, $rd_s3_requests requests; rclone delete $(seconds "$cd_s3") s, $cd_s3_requests requests: $(ratio "$cd_s3" "$rd_s3")x the time, $(ratio "$cd_s3_requests" "$rd_s3_requests")x the requests"
