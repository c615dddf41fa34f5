#!/usr/bin/env bash
# The fleet's main job, end to end, on this machine: install, migrate, start the dispatcher, one
# worker per model queue, beat and Flower, submit the sample QE tasks in examples/, stream one
# live, generate and run tests for examples/project, analyse its coverage report, gate it, and
# print the cost summary. With no API key set, every model runs on the simulated
# provider. KEEP=1 leaves the fleet running afterwards (stop it with: scripts/demo.sh stop).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
RUN="$ROOT/.run"
mkdir -p "$RUN"

stop_fleet() {  # and wait until it has stopped: nothing of it may still write afterwards
  local pids=() pid
  for pidfile in "$RUN"/*.pid; do
    [ -f "$pidfile" ] || continue
    pids+=("$(cat "$pidfile")")
    rm -f "$pidfile"
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true  # our own children (the EXIT trap): reap them
  for pid in "${pids[@]}"; do  # started by an earlier run (`demo.sh stop`): poll, up to 30 s
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

if [ "${1:-}" = "stop" ]; then stop_fleet; exit 0; fi

ensure_venv
ensure_services
if [ -z "${ANTHROPIC_API_KEY:-}${OPENAI_API_KEY:-}${GOOGLE_API_KEY:-}" ]; then
  export FLEET_SIMULATE=true
  echo "no API keys set: every model runs on the simulated provider"
fi
export FEATURE_MULTI_MODEL_ROUTER="${FEATURE_MULTI_MODEL_ROUTER:-true}"
export FEATURE_STREAMING="${FEATURE_STREAMING:-true}"

fleet migrate
stop_fleet
[ "${KEEP:-0}" = "1" ] || trap stop_fleet EXIT

start() {  # name, command...
  local name="$1"; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}
start dispatcher celery -A fleet.app worker -Q fleet.dispatch,fleet.beat -P threads -c 4 \
  -n dispatcher@%h --loglevel=INFO
for queue in $(python -c "import celeryconfig as c; print(' '.join(q.name for q in c.task_queues if q.name.startswith('model.')))"); do
  start "$queue" celery -A fleet.app worker -Q "$queue" -P threads -c 32 -n "$queue@%h" \
    --loglevel=INFO
done
start beat celery -A fleet.app beat --schedule "$RUN/celerybeat-schedule" --loglevel=INFO
start flower celery -A fleet.app flower --address=127.0.0.1 --port=5555

for _ in $(seq 1 60); do
  ready=$(grep -l " ready." "$RUN"/*.log 2>/dev/null | wc -l || true)  # none ready yet: grep fails
  [ "$ready" -ge 4 ] && break
  sleep 0.5
done
echo "fleet up: $(ls "$RUN"/*.pid | wc -l) processes; Flower on http://127.0.0.1:5555"

ids=()
for example in examples/*.json; do
  line=$(fleet submit --via-dispatch "$example")
  echo "submitted $example -> $line"
  ids+=("$(cut -f1 <<<"$line")")
done
echo
echo "=== streaming ${ids[2]} live ==="
fleet watch "${ids[2]}" --timeout 60
for id in "${ids[@]}"; do fleet watch "$id" --timeout 60 >/dev/null 2>&1; done

echo
echo "=== the example project (examples/project): tests generated and run, coverage gaps, a gate ==="
P=examples/project
SOURCES=(--root "$P" --file "$P/src/shop/cart.py" --file "$P/src/shop/pricing.py")
gen=$(fleet submit --via-dispatch --type test-generation --verify "${SOURCES[@]}" \
  --description "pytest tests for the cart and its pricing: coupons, tax exemption, removal, bad input." | cut -f1)
gaps=$(fleet submit --via-dispatch --type coverage-analysis --coverage "$P/coverage.json" "${SOURCES[@]}" \
  --description "Which gaps in this report matter most, and which tests would close them?" | cut -f1)
echo "--- generated tests ($gen)"
fleet result "$gen"
echo "--- coverage gaps ($gaps)"
fleet result "$gaps"
# The gate: the project's coverage (its report) and how the generated tests ran.
metrics=$(fleet result "$gen" --json | python -c '
import json, sys
run = json.load(sys.stdin).get("verification") or {}
cover = json.load(open(sys.argv[1]))["totals"]["percent_covered"]
print(json.dumps({"coverage": round(cover, 1), "failed_tests": run.get("failed", 0),
                  "test_errors": run.get("errors", 0)}))' "$P/coverage.json")
gate=$(fleet submit --via-dispatch --type quality-gate --description "Gate the example project." \
  --context metrics="$metrics" \
  --context policy='{"coverage": {"min": 80}, "failed_tests": {"max": 0}, "test_errors": {"max": 0}}' | cut -f1)
echo "--- quality gate on $metrics ($gate)"
fleet result "$gate"

echo
echo "=== cost summary ==="
fleet costs
echo
echo "=== savings vs running everything on the default model ==="
fleet costs report --by model
