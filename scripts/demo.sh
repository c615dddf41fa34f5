#!/usr/bin/env bash
# The fleet's main job, end to end, on this machine: install, `fleet up` (migrate, the
# dispatcher, one worker per model queue, beat, the exporter, Flower and the gateway), submit the
# sample QE tasks in examples/, stream one live, generate and run tests for examples/project,
# analyse its coverage report, gate it, print the costs, `fleet down`. With no API key set, every
# model runs on the simulated provider. KEEP=1 leaves the fleet running (scripts/demo.sh stop).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
RUN="$ROOT/.run"
mkdir -p "$RUN"

ensure_venv
if [ "${1:-}" = "stop" ]; then FLEET_RUN_DIR="$RUN" fleet down; exit 0; fi
ensure_services
if [ -z "${ANTHROPIC_API_KEY:-}${OPENAI_API_KEY:-}${GOOGLE_API_KEY:-}" ]; then
  export FLEET_SIMULATE=true
  echo "no API keys set: every model runs on the simulated provider"
fi

export FLEET_RUN_DIR="$RUN"
fleet down >/dev/null 2>&1 || true  # a fleet an earlier run left behind
# Migrates, switches the router and streaming on fleet-wide (what every command then reports),
# starts every process and waits until each answers.
fleet up --detach
if [ "${KEEP:-0}" = "1" ]; then
  echo "the fleet keeps running (KEEP=1); stop it with: scripts/demo.sh stop"
else
  trap 'fleet down' EXIT
fi
fleet flags list

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
