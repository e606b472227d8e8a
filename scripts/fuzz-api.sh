#!/usr/bin/env bash
# Fuzzes Loopgate's HTTP API from its own OpenAPI document with schemathesis (from PyPI): a
# fresh server with an empty data directory, a few policies and keys so that requests reach
# real items, then schemathesis with an admin key, failing on any 5xx, any answer that breaks
# the document, any invalid input accepted, and any 4xx without an error code
# (scripts/fuzz/hooks.py).
#
#   scripts/fuzz-api.sh [SECONDS]     time budget for schemathesis (default 120)
#
# Environment:
#   LOOPGATE_BIN   use this binary instead of building one (debug builds are fine)
#   FUZZ_VENV      where the virtualenv lives (default target/fuzz-venv; reused when present)
#   FUZZ_SEED      schemathesis seed (default: random, printed)
#   FUZZ_CHECKS    schemathesis checks (default: see below)
set -euo pipefail

cd "$(dirname "$0")/.."
budget=${1:-120}
venv=${FUZZ_VENV:-target/fuzz-venv}
seed=${FUZZ_SEED:-$RANDOM$RANDOM}
# No 5xx; answers, status codes, content types and headers as the document says; invalid input
# refused. (Not `positive_data_acceptance`: Loopgate checks more than a schema can say, e.g.
# decision codes in UPPER_SNAKE_CASE, so some schema-valid bodies are rightly refused.)
checks=${FUZZ_CHECKS:-client_errors_carry_an_error_code,not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection}

if [[ -n ${LOOPGATE_BIN:-} ]]; then
    bin=$LOOPGATE_BIN
else
    cargo build --locked -p loopgate >&2
    bin=target/debug/loopgate
fi

if [[ ! -x $venv/bin/schemathesis ]]; then
    echo "== installing schemathesis into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin="lg_fuzz_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
base=http://127.0.0.1:$port
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; then
        # A graceful shutdown waits for requests in flight; a stuck one must not hang the run.
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

LOOPGATE_BOOTSTRAP_ADMIN_KEY=$admin RUST_LOG=warn \
    "$bin" serve --listen "127.0.0.1:$port" --data "$work/data" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.1
done

# Something to find: policies of each kind, keys, and items in every state schemathesis can reach.
api() { curl -fsS -X "$1" "$base$2" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' ${3:+-d "$3"} >/dev/null; }
api POST /v1/policies '{"name": "reply.draft", "kind": "reply", "audit_rate": 0.5, "thresholds": {"approve_at": 0.9, "reject_below": 0.2}}'
api POST /v1/policies '{"name": "intent", "kind": "label", "mode": "shadow", "thresholds": {"target_escape": 0.05, "confidence": 0.9}}'
api POST /v1/keys '{"name": "fuzz-agent", "role": "agent"}'
for confidence in 0.1 0.5 0.5 0.95 0.97; do
    api POST /v1/items "{\"policy\": \"reply.draft\", \"input\": {\"text\": \"Where is my invoice?\"}, \"customer\": {\"id\": \"acme\"}, \"proposal\": {\"kind\": \"reply\", \"payload\": {\"text\": \"Here it is.\"}, \"confidence\": $confidence}}"
done

echo "== schemathesis against $base for ${budget}s, seed $seed" >&2
status=0
SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/fuzz \
    "$venv/bin/schemathesis" run "$base/v1/openapi.json" \
    --header "Authorization: Bearer $admin" \
    --checks "$checks" \
    --phases examples,coverage,fuzzing \
    --max-time "$budget" \
    --seed "$seed" \
    --workers 2 \
    --request-timeout 70 \
    --suppress-health-check all \
    --report junit --report-dir "$work/report" \
    --no-color || status=$?

# Findings fail the run, and so do requests that timed out or lost their connection; errors
# inside schemathesis itself (an exception in its generators, Hypothesis calling one of them
# inconsistent) are shown without failing the run, as long as the server is alive.
if [[ $status -ne 0 ]]; then
    if python3 - "$work/report" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
failures = own = other = 0
for path in glob.glob(sys.argv[1] + "/*.xml"):
    for case in ET.parse(path).getroot().iter("testcase"):
        failures += len(case.findall("failure"))
        for error in case.findall("error"):
            title = (error.text or "").strip().split("\n", 1)[0]
            if title == "Network Error":  # a timeout or a lost connection: the server's doing
                other += 1
            else:  # "Runtime Error" and the like: schemathesis' own
                own += 1
print(f"fuzz: {failures} findings, {other} network errors, {own} errors inside schemathesis", file=sys.stderr)
sys.exit(0 if failures == 0 and other == 0 and own > 0 else 1)
PY
    then
        echo "fuzz: no findings; the errors above are schemathesis' own" >&2
        status=0
    fi
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz: the server died:" >&2
    tail -20 "$work/serve.log" >&2
    status=1
fi

if grep -q "panicked" "$work/serve.log"; then
    echo "fuzz: the server panicked:" >&2
    grep -A5 "panicked" "$work/serve.log" >&2
    status=1
fi
exit $status
