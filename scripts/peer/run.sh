#!/usr/bin/env bash
# Loopgate side by side with a peer, Label Studio (issue 7): installs Label Studio from PyPI into
# a throwaway virtualenv, starts it (SQLite, its own data directory, a free loopback port) and a
# fresh Loopgate server, runs the same workload against both with scripts/peer/compare.py, prints
# the table and stops both.
#
#   scripts/peer/run.sh [N] [K]     N tasks (default 2000), K concurrent workers (default 4)
#
# Environment:
#   LOOPGATE_BIN     use this binary instead of `cargo build --release --locked -p loopgate`
#   PEER_VENV        reuse (or create) the virtualenv here instead of a throwaway one
#   PEER_LS_SERVER   how Label Studio is served:
#                      runserver (default) `label-studio start`, i.e. Django's development
#                                server (`runserver --noreload`): one process, a thread per
#                                request, one Python interpreter (GIL)
#                      gunicorn   the same WSGI application under gunicorn, PEER_LS_PROCS
#                                pre-forked worker processes (default 2, one per core), installed
#                                into the virtualenv; closer to a production deployment
#   PEER_LS_DEBUG    Label Studio's DEBUG setting (default false, as label-studio's own default)
#   PEER_OUT         where report.md and report.json go (default target/peer)
#   PEER_PORT        first port to try (default: any free loopback port)
#   PEER_KEEP=1      keep the temporary directory (data of both servers, logs)
#   PEER_ARGS        more arguments for compare.py, e.g. "--import-batch 500 --seed 3"
set -euo pipefail

cd "$(dirname "$0")/../.."
n=${1:-2000}
k=${2:-4}
out=${PEER_OUT:-target/peer}
ls_server=${PEER_LS_SERVER:-runserver}
ls_procs=${PEER_LS_PROCS:-2}
data=../shared/data/banking77
case $ls_server in
runserver | gunicorn) ;;
*)
    echo "PEER_LS_SERVER must be runserver or gunicorn" >&2
    exit 2
    ;;
esac
if [[ ! -f $data/train.csv ]]; then
    echo "BANKING77 not found at $data (the shared data beside the repository)" >&2
    exit 2
fi
mkdir -p "$out"
run_started=$(date +%s)

if [[ -n ${LOOPGATE_BIN:-} ]]; then
    bin=$LOOPGATE_BIN
else
    cargo build --release --locked -p loopgate >&2
    bin=target/release/loopgate
fi

work=$(mktemp -d -t loopgate-peer.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${PEER_KEEP:-0} == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 - "${PEER_PORT:-0}" <<'EOF'
import socket, sys
port = int(sys.argv[1])
while True:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        port += 1
    finally:
        s.close()
EOF
}

# Waits until $1 answers 200 on $2, while process $3 lives; $4 is its log.
wait_ready() {
    for _ in $(seq 1 1200); do
        if curl -sf -o /dev/null "$1$2"; then
            return 0
        fi
        if ! kill -0 "$3" 2>/dev/null; then
            tail -40 "$4" >&2
            echo "the server at $1 exited" >&2
            return 1
        fi
        sleep 0.1
    done
    tail -40 "$4" >&2
    echo "the server at $1 did not become ready" >&2
    return 1
}

secret() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# --- Label Studio -----------------------------------------------------------------------------
venv=${PEER_VENV:-$work/venv}
if [[ ! -x $venv/bin/label-studio ]]; then
    echo "installing label-studio from PyPI into $venv ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q label-studio >&2
fi
if [[ $ls_server == gunicorn && ! -x $venv/bin/gunicorn ]]; then
    "$venv/bin/pip" install -q gunicorn >&2
fi
ls_version=$("$venv/bin/python" -c 'import label_studio; print(label_studio.__version__)')
ls_path=$("$venv/bin/python" -c 'import label_studio, os; print(os.path.dirname(label_studio.__file__))')

export LABEL_STUDIO_BASE_DATA_DIR=$work/label-studio
export DEBUG=${PEER_LS_DEBUG:-false} # false is label-studio's own default
export LOG_LEVEL=WARNING
export LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true
# Nothing leaves the machine: no telemetry, no error reports to Sentry, no version check.
export COLLECT_ANALYTICS=false SENTRY_DSN= FRONTEND_SENTRY_DSN= LATEST_VERSION_CHECK=false
mkdir -p "$LABEL_STUDIO_BASE_DATA_DIR"
ls_log=$work/label-studio.log
ls_password=$(secret 12)
ls_admin_token=$(secret 20)
ls_worker_tokens=()
# Accounts: an admin (creates the project, imports) and one account per worker, each with a
# legacy API token (`Authorization: Token ...`), made with `label-studio init` before the clock.
echo "Label Studio $ls_version: creating the database and $((k + 1)) accounts ..." >&2
"$venv/bin/label-studio" init --no-browser --enable-legacy-api-token \
    --username admin@peer.invalid --password "$ls_password" --user-token "$ls_admin_token" >>"$ls_log" 2>&1
for i in $(seq 1 "$k"); do
    token=$(secret 20)
    "$venv/bin/label-studio" init --no-browser \
        --username "worker$i@peer.invalid" --password "$ls_password" --user-token "$token" >>"$ls_log" 2>&1
    ls_worker_tokens+=("$token")
done

ls_port=$(free_port)
if [[ $ls_server == runserver ]]; then
    ls_mode="\`label-studio start\`: Django's development server (runserver --noreload), one process, a thread per request, DEBUG=$DEBUG"
    "$venv/bin/label-studio" start --no-browser --internal-host 127.0.0.1 --port "$ls_port" >>"$ls_log" 2>&1 &
else
    ls_mode="gunicorn $("$venv/bin/gunicorn" --version | awk '{print $NF}' | tr -d ')'), $ls_procs pre-forked sync worker processes, Label Studio's WSGI application, DEBUG=$DEBUG"
    DJANGO_SETTINGS_MODULE=label_studio.core.settings.label_studio \
        "$venv/bin/gunicorn" --pythonpath "$ls_path" --workers "$ls_procs" --timeout 600 \
        --bind "127.0.0.1:$ls_port" label_studio.core.wsgi:application >>"$ls_log" 2>&1 &
fi
ls_pid=$!
pids+=("$ls_pid")
wait_ready "http://127.0.0.1:$ls_port" /health "$ls_pid" "$ls_log"
echo "Label Studio $ls_version on 127.0.0.1:$ls_port ($ls_server)" >&2

# --- Loopgate ---------------------------------------------------------------------------------
lg_port=$(free_port)
while [[ $lg_port == "$ls_port" ]]; do lg_port=$(free_port); done
lg_key="lg_peer_$(secret 20)"
lg_log=$work/loopgate.log
LOOPGATE_BOOTSTRAP_ADMIN_KEY=$lg_key RUST_LOG=${RUST_LOG:-warn} \
    "$bin" serve --listen "127.0.0.1:$lg_port" --data "$work/loopgate" >>"$lg_log" 2>&1 &
lg_pid=$!
pids+=("$lg_pid")
wait_ready "http://127.0.0.1:$lg_port" /readyz "$lg_pid" "$lg_log"
lg_version=$("$bin" --version 2>/dev/null | awk '{print $NF}' || echo '?')
echo "Loopgate $lg_version on 127.0.0.1:$lg_port" >&2

# --- the workload -----------------------------------------------------------------------------
tokens=$(
    IFS=,
    echo "${ls_worker_tokens[*]}"
)
status=0
# shellcheck disable=SC2086 # PEER_ARGS is split on purpose
python3 scripts/peer/compare.py --tasks "$n" --workers "$k" \
    --data "$data/train.csv" --categories "$data/categories.json" \
    --ls-url "http://127.0.0.1:$ls_port" --ls-admin-token "$ls_admin_token" \
    --ls-worker-tokens "$tokens" --ls-pid "$ls_pid" --ls-version "$ls_version" --ls-mode "$ls_mode" \
    --lg-url "http://127.0.0.1:$lg_port" --lg-admin-key "$lg_key" --lg-pid "$lg_pid" \
    --lg-version "$lg_version" --out "$out" ${PEER_ARGS:-} || status=$?

# The servers' errors, counted by message, beside the report.
summarise_errors() {
    grep -E "$2" "$1" | sed -E 's/^\[[^]]*\] //; s/[0-9a-f]{8}-[0-9a-f-]{27} //; s/([=: ])[0-9]+/\1N/g' | cut -c1-200 | sort | uniq -c | sort -rn
}
summarise_errors "$ls_log" '\[ERROR\]|Error: ' >"$out/label-studio-errors.txt" || true
summarise_errors "$lg_log" 'ERROR|panick' >"$out/loopgate-errors.txt" || true
if [[ -s $out/label-studio-errors.txt ]]; then
    echo "Label Studio logged errors (counted in $out/label-studio-errors.txt):" >&2
    head -5 "$out/label-studio-errors.txt" >&2
fi
if [[ -s $out/loopgate-errors.txt ]]; then
    echo "Loopgate logged errors (counted in $out/loopgate-errors.txt):" >&2
    head -20 "$out/loopgate-errors.txt" >&2
fi
echo "whole run: $(($(date +%s) - run_started)) s; reports: $out/report.md, $out/report.json" >&2
exit $status
