# Shared by scripts/demo.sh and scripts/test.sh: a virtualenv with the project, and the local
# Redis and PostgreSQL services (and RabbitMQ, for the tests) up. Source it; do not run it.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FLEET_VENV:-$ROOT/.venv}"

ensure_venv() {
  local extra="${1:-}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  local base="$VENV/.installed-$(sha1sum < "$ROOT/pyproject.toml" | cut -c1-12)"
  local stamp="$base$extra"
  if [ -z "$extra" ] && compgen -G "$base*" >/dev/null; then
    stamp="$(compgen -G "$base*" | head -n1)"  # an install with extras ([dev]) will do
  fi
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT$extra"
    touch "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_services() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting redis-server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  for _ in $(seq 1 60); do
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 \
        && pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "Redis or PostgreSQL did not come up" >&2
  return 1
}

ensure_rabbitmq() {
  # Only the tests need it: they run the fleet on RabbitMQ as well (tests/faults/test_rabbitmq.py).
  if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    return 0
  fi
  echo "starting RabbitMQ"
  rabbitmq-server -detached
  for _ in $(seq 1 120); do
    if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
      rabbitmqctl -q await_startup >/dev/null 2>&1 || true
      return 0
    fi
    sleep 0.5
  done
  echo "RabbitMQ did not come up" >&2
  return 1
}

ensure_debian_package() {
  # $1: the command the tests need, $2: Debian's package that has it.
  command -v "$1" >/dev/null && return 0
  echo "installing $2"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; then
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
  command -v "$1" >/dev/null
}

# Only the tests need these: a page served by the gateway followed in a real browser
# (tests/http/test_browser.py), and `fleet watch` in a real terminal (tests/cli/test_terminal.py).
ensure_chromium() { ensure_debian_package chromium chromium; }
ensure_tmux() { ensure_debian_package tmux tmux; }
