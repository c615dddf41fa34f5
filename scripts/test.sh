#!/usr/bin/env bash
# Run the whole test suite (lint, types, tests) against real local Redis, PostgreSQL and
# RabbitMQ.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
ensure_venv "[dev]"
ensure_services
ensure_rabbitmq
ensure_chromium
ensure_tmux
ruff check .
mypy
pytest "$@"
