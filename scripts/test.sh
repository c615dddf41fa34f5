#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests) against real local Redis and PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
ensure_venv "[dev]"
ensure_services
ruff check .
mypy
pytest "$@"
