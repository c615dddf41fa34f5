"""``fleet up``, ``fleet down`` and ``fleet status``: a whole fleet on one machine, from the
config — the dispatcher, one worker per model queue, beat, the metrics exporter, Flower and the
gateway — started, checked ready (Celery's own ping, HTTP health), logged with a prefix per
process and stopped warm, in order.

The router and streaming are switched on through the fleet-wide runtime flags, so every command
and every process, started here or not, sees the state the fleet runs with.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import click

from fleet.backends.redis import redacted
from fleet.cli.tables import dump, progress, table
from fleet.contracts import queue_for
from fleet.services import get_config, get_services

COLOURS = ("cyan", "green", "yellow", "magenta", "blue", "bright_cyan", "bright_green",
           "bright_magenta")
STOP_SECONDS = 30.0


def run_dir() -> Path:
    return Path(os.environ.get("FLEET_RUN_DIR", ".run"))


@dataclass
class Process:
    name: str
    argv: list[str]
    where: str  # what to show: a queue or a URL
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    reported: bool = False


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "fleet.app", *args]


def _pinged(node: str) -> Callable[[], bool]:
    def ready() -> bool:
        from fleet.app import app

        return bool(app.control.ping(destination=[node], timeout=0.5))
    return ready


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        import httpx

        try:
            return httpx.get(url, timeout=1).status_code < 500
        except httpx.TransportError:
            return False
    return ready


def plan(models: list[str], flower: bool, gateway: bool, concurrency: int,
         ports: dict[str, int]) -> list[Process]:
    host = os.uname().nodename
    procs = [Process("dispatcher", _celery("worker", "-Q", "fleet.dispatch,fleet.beat", "-P",
                                           "threads", "-c", "8", "-n", "dispatcher@%h"),
                     "queues fleet.dispatch, fleet.beat", _pinged(f"dispatcher@{host}"))]
    for model in models:
        queue = queue_for(model)
        procs.append(Process(model, _celery("worker", "-Q", queue, "-P", "threads", "-c",
                                            str(concurrency), "-n", f"{queue}@%h"),
                             f"queue {queue}", _pinged(f"{queue}@{host}")))
    beat_file = run_dir() / "celerybeat-schedule"
    procs.append(Process("beat", _celery("beat", "--schedule", str(beat_file)), "schedule",
                         lambda: True))
    exporter = f"http://127.0.0.1:{ports['exporter']}/metrics"
    procs.append(Process("exporter", [sys.executable, "-m", "fleet.cli", "exporter", "--port",
                                      str(ports["exporter"])], exporter, _answers(exporter)))
    if flower:
        url = f"http://127.0.0.1:{ports['flower']}"
        procs.append(Process("flower", _celery("flower", "--address=127.0.0.1",
                                               f"--port={ports['flower']}"), url,
                             _answers(f"{url}/healthcheck"),
                             # on this machine only: its API stays usable (curl, scripts)
                             {"FLOWER_UNAUTHENTICATED_API": "true"}))
    if gateway:
        url = f"http://127.0.0.1:{ports['gateway']}"
        procs.append(Process("gateway", [sys.executable, "-m", "fleet.cli", "gateway",
                                         "--port", str(ports["gateway"])], url,
                             _answers(f"{url}/healthz")))
    return procs


def reachable_and_migrated() -> None:
    """Redis answers and the database is migrated (created if missing); else one clear line
    saying which service is unreachable and how to start it."""
    from fleet.backends.migrate import migrate
    from fleet.backends.migrate_keys import migrate_keys

    services = get_services()
    try:
        services.redis.ping()
    except Exception:
        raise click.ClickException(
            f"Redis at {redacted(services.settings.fleet_redis_url)} is unreachable: start it, "
            "e.g. redis-server --daemonize yes") from None
    migrate_keys(services.redis)
    try:
        migrate(services.settings.fleet_database_url.get_secret_value())
    except Exception as exc:
        raise click.ClickException(
            f"PostgreSQL (FLEET_DATABASE_URL) is unreachable ({type(exc).__name__}): start "
            "it, e.g. pg_ctlcluster <version> main start") from None


def _pump(stream: IO[bytes], prefix: str) -> None:
    for raw in iter(stream.readline, b""):
        click.echo(f"{prefix} {raw.decode(errors='replace').rstrip()}")


def start(procs: list[Process], detach: bool) -> None:
    run_dir().mkdir(parents=True, exist_ok=True)
    width = max(len(p.name) for p in procs)
    for n, proc in enumerate(procs):
        env = {**os.environ, **proc.env}
        if detach:
            log = (run_dir() / f"{proc.name}.log").open("ab")
            proc.popen = subprocess.Popen(proc.argv, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            continue
        proc.popen = subprocess.Popen(proc.argv, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
        prefix = click.style(f"{proc.name:<{width}} |", fg=COLOURS[n % len(COLOURS)])
        assert proc.popen.stdout is not None
        threading.Thread(target=_pump, args=(proc.popen.stdout, prefix), daemon=True).start()


def wait_ready(procs: list[Process], timeout: float = 90, spinner: bool = False) -> bool:
    """Wait until every process answers its readiness check, saying which are ready (and, with
    ``spinner`` on a terminal, which are still awaited)."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    with progress(f"starting {len(procs)} processes", enabled=spinner) as shown:
        while pending and time.monotonic() < deadline:
            shown.update("waiting for " + ", ".join(p.name for p in pending))
            for proc in list(pending):
                assert proc.popen is not None
                if proc.popen.poll() is not None:
                    shown.say(f"✗ {proc.name} exited with {proc.popen.returncode}", "red")
                    return False
                if proc.ready():
                    shown.say(f"✓ {proc.name:<22} {proc.where}", "green")
                    pending.remove(proc)
            time.sleep(0.3)
        for proc in pending:
            shown.say(f"✗ {proc.name} not ready after {timeout:g} s", "red")
    return not pending


def stop(pids: list[tuple[str, int]]) -> list[str]:
    """Warm shutdown, last started first; names of the processes that had to be killed."""
    for _, pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    killed = []
    for name, pid in reversed(pids):
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            killed.append(name)
    return killed


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:  # not our child (started by an earlier `fleet up --detach`)
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@click.command()
@click.option("--models", help="comma-separated model names (default: every enabled model)")
@click.option("--no-flower", is_flag=True)
@click.option("--no-gateway", is_flag=True)
@click.option("--detach", is_flag=True, help="run in the background; stop with fleet down")
@click.option("--concurrency", default=32, show_default=True, help="threads per model worker")
@click.option("--gateway-port", default=8080, show_default=True)
@click.option("--flower-port", default=5555, show_default=True)
@click.option("--exporter-port", default=9464, show_default=True)
def up(models: str | None, no_flower: bool, no_gateway: bool, detach: bool, concurrency: int,
       gateway_port: int, flower_port: int, exporter_port: int) -> None:
    """Start a whole fleet on this machine and stream its logs (Ctrl-C stops it, warm)."""
    config = get_config()
    names = ([m.strip() for m in models.split(",") if m.strip()] if models
             else [m.name for m in config.enabled_models()])
    unknown = sorted(set(names) - {m.name for m in config.routing.models})
    if unknown:
        raise click.BadParameter(f"no model named {', '.join(unknown)}", param_hint="--models")
    if (run_dir() / "fleet.json").exists():
        raise click.ClickException(f"a fleet started here is running ({run_dir()}/fleet.json): "
                                   "fleet down first")
    reachable_and_migrated()
    flags = get_services().flags  # one truth: what every command and process reads
    flags.set("multiModelRouter", True)
    flags.set("streaming", True)
    procs = plan(names, not no_flower, not no_gateway, concurrency,
                 {"gateway": gateway_port, "flower": flower_port, "exporter": exporter_port})
    if not get_services().settings.fleet_simulate and not any(
            os.environ.get(m.key_env) for m in config.routing.models if m.name in names):
        click.echo("no API key set for these models: they run on the simulated provider",
                   err=True)
        for proc in procs:
            proc.env["FLEET_SIMULATE"] = "true"
    start(procs, detach)
    pids = [(p.name, p.popen.pid) for p in procs if p.popen is not None]
    (run_dir() / "fleet.json").write_text(json.dumps(pids))
    ok = wait_ready(procs, spinner=detach)
    if detach:
        click.echo(f"fleet up: {len(procs)} processes, logs in {run_dir()}/; stop with: "
                   "fleet down" if ok else "fleet did not start; stopping it")
        if not ok:
            _down()
            sys.exit(3)
        return
    try:
        while True:
            for proc in procs:
                assert proc.popen is not None
                if proc.popen.poll() is not None and not proc.reported:
                    proc.reported = True  # the rest keep serving
                    click.echo(click.style(f"✗ {proc.name} exited with "
                                           f"{proc.popen.returncode}; the rest keep going",
                                           fg="red"), err=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping the fleet (warm shutdown)…", err=True)
        _down()


def _down() -> None:
    state = run_dir() / "fleet.json"
    if not state.exists():
        click.echo("no fleet started here is running")
        return
    pids = [(str(name), int(pid)) for name, pid in json.loads(state.read_text())]
    killed = stop(pids)
    state.unlink()
    click.echo(f"fleet down: {len(pids)} processes stopped"
               + (f" ({', '.join(killed)} killed after {STOP_SECONDS:g} s)" if killed else ""))


@click.command()
def down() -> None:
    """Stop the fleet `fleet up --detach` started here (warm, in order)."""
    _down()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def status(as_json: bool) -> None:
    """Each model queue with its consumers and depth, today's spend against the budget,
    breaker states and the effective flags."""
    from fleet import views
    from fleet.monitoring import queue_depths

    services = get_services()
    queues = {queue_for(m.name): m for m in services.registry.all() if m.enabled}
    depths: dict[str, tuple[int, int]] = {}
    if services.settings.fleet_broker_url.startswith("redis"):
        depths = queue_depths(services.redis, ["fleet.dispatch", *queues])
    report = {
        "queues": [{"queue": q, "consumers": services.consumers.serves(m),
                    "ready": depths.get(q, (0, 0))[0], "unacked": depths.get(q, (0, 0))[1],
                    "circuit": services.breaker.state(m)} for q, m in queues.items()],
        "dispatch": {"ready": depths.get("fleet.dispatch", (0, 0))[0]},
        "budget": views.budget(services), "flags": views.flags(services)["flags"]}
    if as_json:
        dump(report)
        return
    budget, daily = report["budget"], report["budget"]["daily"]
    table(("queue", "consumers", "ready", "unacked", "circuit"),
          ([q["queue"], "workers" if q["consumers"] else "no workers", q["ready"], q["unacked"],
            q["circuit"]] for q in report["queues"]),
          notes=[f"fleet.dispatch: {report['dispatch']['ready']} waiting to be routed; "
                 f"{budget['reservationsInFlight']} tasks in flight (budget reserved)",
                 f"spent today ${daily['used']} of ${daily['limit']}; flags "
                 + ", ".join(f"{k} {'on' if v else 'off'}" for k, v in report["flags"].items())])
