#!/usr/bin/env bash
# What TLS costs a backup: restic against rest-server and versitygw with TLS (a certificate from
# a CA of the script's own, as new-restic-server makes them: EC P-256) and without, in the same
# run, on loopback.
#
#   bench/tls.sh
#
# Two workloads per server, each timed with hyperfine for TLS and plain HTTP:
#   - a daily backup where nothing changed (BENCH_SMALL_FILES small files, default 2000): a few
#     dozen requests, so the handshakes and per-request cost dominate;
#   - a first backup of BENCH_MB MiB (default 256) of random data into a fresh repository:
#     throughput, where the encryption of the stream dominates.
# Prints each mean and the ratio TLS / plain.
#
# Environment: BENCH_MB, BENCH_SMALL_FILES, BENCH_RUNS (default 5), BENCH_DIR (where the work
# directory goes, default $TMPDIR or /tmp), KEEP=1 (keep it), DEPS_PREFIX (the pinned Go
# programs, default ~/.cache/restic-backup-toolkit).
set -euo pipefail

mb=${BENCH_MB:-256}
small=${BENCH_SMALL_FILES:-2000}
runs=${BENCH_RUNS:-5}
export PATH="${DEPS_PREFIX:-$HOME/.cache/restic-backup-toolkit}/bin:$PATH"
for program in restic rest-server versitygw hyperfine openssl; do
    if ! command -v "$program" > /dev/null; then
        echo "tls.sh: error: $program is not on PATH; run 'make deps'" >&2
        exit 100
    fi
done

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-tls-XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
    done
    if [[ "${KEEP:-0}" != 1 ]]; then
        rm -rf "$work"
    else
        echo "work directory kept: $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    local candidate
    for _ in $(seq 1 100); do
        candidate=$((20000 + RANDOM % 20000))
        if ! (exec 3<> "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "tls.sh: error: no free port" >&2
    exit 111
}
wait_port() {
    for _ in $(seq 1 400); do
        if (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; then
            return
        fi
        sleep 0.05
    done
    echo "tls.sh: error: nothing listens on port $1; see $work/*.log" >&2
    exit 111
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

# --- a CA and a server certificate for 127.0.0.1 -------------------------------------------------
(
    umask 077
    cd "$work"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2> /dev/null
    openssl req -x509 -new -key ca.key -subj "/CN=bench CA" -days 2 -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign
    openssl ecparam -name prime256v1 -genkey -noout -out server.key 2> /dev/null
    openssl req -new -key server.key -subj "/CN=127.0.0.1" -out server.csr
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
        -extfile ext.cnf -out server.pem 2> /dev/null
)
chmod 644 "$work/ca.pem" "$work/server.pem"

# --- the four servers --------------------------------------------------------------------------
access_key=BENCH$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret_key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
declare -A endpoint
start_rest() { # name tls-flags...
    local name=$1 port
    shift
    port=$(free_port)
    mkdir -p "$work/$name"
    rest-server --listen "127.0.0.1:$port" --path "$work/$name" --no-auth "$@" \
        > "$work/$name.log" 2>&1 &
    pids+=($!)
    wait_port "$port"
    endpoint[$name]=127.0.0.1:$port
}
start_vgw() { # name tls-flags...
    local name=$1 port
    shift
    port=$(free_port)
    mkdir -p "$work/$name"
    # Credentials by environment, never on a command line.
    ROOT_ACCESS_KEY_ID=$access_key ROOT_SECRET_ACCESS_KEY=$secret_key \
        versitygw --port "127.0.0.1:$port" "$@" posix "$work/$name" > "$work/$name.log" 2>&1 &
    pids+=($!)
    wait_port "$port"
    endpoint[$name]=127.0.0.1:$port
}
start_rest rest-plain
start_rest rest-tls --tls --tls-cert "$work/server.pem" --tls-key "$work/server.key"
start_vgw vgw-plain
start_vgw vgw-tls --cert "$work/server.pem" --key "$work/server.key"

export RESTIC_PASSWORD_FILE=$work/password RESTIC_CACERT=$work/ca.pem
export AWS_ACCESS_KEY_ID=$access_key AWS_SECRET_ACCESS_KEY=$secret_key
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RESTIC_PASSWORD_FILE"
chmod 600 "$RESTIC_PASSWORD_FILE"
url() { # name repo
    local scheme=http
    [[ $1 == *-tls ]] && scheme=https
    case $1 in
        rest-*) echo "rest:$scheme://${endpoint[$1]}/$2" ;;
        vgw-*) echo "s3:$scheme://${endpoint[$1]}/$2" ;;
    esac
}

# --- the data ------------------------------------------------------------------------------------
mkdir -p "$work/small" "$work/big"
for i in $(seq 1 "$small"); do head -c 2048 /dev/urandom > "$work/small/f$i"; done
head -c $((mb * 1024 * 1024)) /dev/urandom > "$work/big/data"
for name in rest-plain rest-tls vgw-plain vgw-tls; do
    RESTIC_CACHE_DIR=$work/cache-$name restic -q -r "$(url "$name" small)" init > /dev/null
    RESTIC_CACHE_DIR=$work/cache-$name restic -q -r "$(url "$name" small)" backup "$work/small" \
        > /dev/null
done

# --- measurements --------------------------------------------------------------------------------
mean_of() { awk -F, 'NR == 2 { print $2 }' "$1"; }
measure() { # label name command...
    local label=$1 name=$2
    shift 2
    hyperfine --style none --warmup 1 --runs "$runs" --export-csv "$work/$label-$name.csv" \
        "$@" > "$work/$label-$name.txt" 2>&1 || {
        cat "$work/$label-$name.txt" >&2
        exit 1
    }
    mean_of "$work/$label-$name.csv"
}
echo "restic backup over loopback, $runs runs each (mean seconds; TLS / plain)"
printf '%-12s %-34s %10s %10s %7s\n' server workload plain tls ratio
for kind in rest vgw; do
    declare -A result=()
    for mode in plain tls; do
        name=$kind-$mode
        cache=$work/cache-$name
        result[small-$mode]=$(measure small "$name" \
            "RESTIC_CACHE_DIR=$cache restic -q -r $(url "$name" small) backup $work/small")
        # A fresh repository for every run: the first backup of the data, every time.
        result[big-$mode]=$(measure big "$name" \
            --prepare "rm -rf $work/$name/big $cache-big; RESTIC_CACHE_DIR=$cache-big restic -q -r $(url "$name" big) init > /dev/null" \
            "RESTIC_CACHE_DIR=$cache-big restic -q -r $(url "$name" big) backup $work/big")
    done
    label=$([[ $kind == rest ]] && echo rest-server || echo versitygw)
    printf '%-12s %-34s %10.3f %10.3f %7s\n' "$label" "unchanged $small files" \
        "${result[small-plain]}" "${result[small-tls]}" \
        "$(ratio "${result[small-tls]}" "${result[small-plain]}")"
    printf '%-12s %-34s %10.3f %10.3f %7s\n' "$label" "first backup of $mb MiB" \
        "${result[big-plain]}" "${result[big-tls]}" \
        "$(ratio "${result[big-tls]}" "${result[big-plain]}")"
done
