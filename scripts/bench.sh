#!/usr/bin/env bash
# Benchmarks Loopgate over HTTP against fresh servers started here, and stops them afterwards.
#
#   scripts/bench.sh [suite] [-- ARGS]   the whole `loopgate bench` suite against one fresh
#                                        embedded (SQLite) server
#   scripts/bench.sh scale [-- ARGS]     submits and claim -> decide round trips against one
#                                        SQLite server, then 1, 2 and 3 servers sharing one
#                                        PostgreSQL database (when `loopgate serve` has
#                                        --database), and a table comparing them
#
# ARGS go to `loopgate bench` (e.g. `-- --seconds 5 --scenario submit`).
# Environment:
#   BENCH_OUT                where reports go (default target/bench)
#   BENCH_PORT               first port to listen on (default 18080)
#   LOOPGATE_BIN             use this binary instead of building one
#   LOOPGATE_SERVE_BIN       serve with this binary (default: the same one), e.g. to compare
#                            two builds of the server under the same load generator
#   LOOPGATE_BENCH_POSTGRES  PostgreSQL server URL without a database name
#                            (default postgres://postgres@127.0.0.1:5432); each run creates and
#                            drops its own database there
set -euo pipefail

cd "$(dirname "$0")/.."
mode=suite
if [[ $# -gt 0 && $1 != -- ]]; then
    mode=$1
    shift
fi
[[ ${1:-} == -- ]] && shift
case $mode in
suite | scale) ;;
*)
    echo "usage: $0 [suite|scale] [-- loopgate bench arguments]" >&2
    exit 2
    ;;
esac

out=${BENCH_OUT:-target/bench}
port=${BENCH_PORT:-18080}
pg_server=${LOOPGATE_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$out"

if [[ -n ${LOOPGATE_BIN:-} ]]; then
    bin=$LOOPGATE_BIN
else
    cargo build --release --locked -p loopgate >&2
    bin=target/release/loopgate
fi

serve_bin=${LOOPGATE_SERVE_BIN:-$bin}

# Ten thousand long-polls hold ten thousand sockets in the server and in the bench.
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
key="lg_bench_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
pids=()
databases=()

stop_servers() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

cleanup() {
    stop_servers
    for db in "${databases[@]}"; do
        psql "$pg_server/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a server on port $1 with the remaining arguments, and waits until it is ready.
start_server() {
    local listen=127.0.0.1:$1
    shift
    LOOPGATE_BOOTSTRAP_ADMIN_KEY=$key RUST_LOG=${RUST_LOG:-warn} \
        "$serve_bin" serve --listen "$listen" "$@" >>"$work/server.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do
        if curl -sf "http://$listen/readyz" >/dev/null; then
            return 0
        fi
        if ! kill -0 "${pids[-1]}" 2>/dev/null; then
            cat "$work/server.log" >&2
            echo "the server on $listen exited" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the server on $listen did not become ready" >&2
    return 1
}

# Runs `loopgate bench` against every started server; $1 names the report files.
run_bench() {
    local name=$1
    shift
    local args=()
    local i=0
    for pid in "${pids[@]}"; do
        args+=(--url "http://127.0.0.1:$((port + i))" --server-pid "$pid")
        i=$((i + 1))
    done
    "$bin" bench "${args[@]}" --admin-key "$key" --label "$name" --out "$out/$name.json" "$@" |
        tee "$out/$name.md"
}

if [[ $mode == suite ]]; then
    start_server "$port" --data "$work/sqlite"
    run_bench sqlite "$@"
    stop_servers
    echo "reports: $out/sqlite.md, $out/sqlite.json" >&2
    exit 0
fi

# The scale table (issue 6): the same submit and claim traffic against each setup.
scale_args=(--scenario submit --scenario claim --reviewers 10 "$@")
runs=()

start_server "$port" --data "$work/sqlite"
run_bench scale-sqlite "${scale_args[@]}"
stop_servers
runs+=("scale-sqlite|1 server, SQLite")

if "$serve_bin" serve --help | grep -q -- '--database'; then
    for n in 1 2 3; do
        db="loopgate_bench_$$_$n"
        psql "$pg_server/postgres" -qc "CREATE DATABASE $db" >/dev/null
        databases+=("$db")
        for ((i = 0; i < n; i++)); do
            # One at a time: the first applies the migrations and registers the admin key.
            start_server $((port + i)) --data "$work/pg-$n-$i" --database "$pg_server/$db"
        done
        run_bench "scale-postgres-$n" "${scale_args[@]}"
        stop_servers
        runs+=("scale-postgres-$n|$n server(s), one PostgreSQL")
    done
else
    echo "skipping PostgreSQL: this loopgate serve has no --database flag" >&2
fi

{
    echo "| setup | items/s submitted | submit p50 / p99 ms | claim → decide round trips/s | round trip p50 / p99 ms |"
    echo "|---|---:|---:|---:|---:|"
    for run in "${runs[@]}"; do
        name=${run%%|*}
        jq -r --arg setup "${run#*|}" '
            (.rows[] | select(.scenario == "single submits")) as $s
            | (.rows[] | select(.scenario == "claim → decide")) as $c
            | "| \($setup) | \($s.rate | floor) | \($s.p50_ms * 100 | round / 100) / \($s.p99_ms * 100 | round / 100) | \($c.rate | floor) | \($c.p50_ms * 100 | round / 100) / \($c.p99_ms * 100 | round / 100) |"
        ' "$out/$name.json"
    done
} | tee "$out/scale.md"
echo "reports: $out/scale*.md, $out/scale*.json" >&2
