"""The ``fleet`` command line: the group, and the commands about the fleet itself (migrate,
schema, config, gateway, bench); tasks, costs and routing have modules of their own."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from fleet.backends.redis import redacted
from fleet.config import load_config, masked_dump, migrate_v104, read_yaml
from fleet.errors import FleetError
from fleet.services import get_config, get_services, get_settings


class FleetGroup(click.Group):
    """One clear line instead of a traceback, and an exit code that means something: 1 a task
    failed or did not end in time, 2 bad input, 3 a service is unreachable."""

    def invoke(self, ctx: click.Context) -> Any:
        import psycopg
        import redis

        try:
            return super().invoke(ctx)
        except FleetError as exc:
            fail(str(exc), 2)
        except UnicodeDecodeError:
            fail("TASK_001 InvalidTask: the input is not UTF-8 text", 2)
        except json.JSONDecodeError as exc:
            fail(f"TASK_001 InvalidTask: malformed JSON: {exc}", 2)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            fail(f"cannot read {exc.filename}: {exc.strerror}", 2)
        except TimeoutError as exc:
            fail(f"gave up waiting: {exc or 'no event in time'}", 1)
        except redis.ConnectionError:
            fail(f"Redis at {redacted(get_settings().fleet_redis_url)} is unreachable", 3)
        except psycopg.OperationalError:
            fail(postgres_problem(), 3)


def postgres_problem() -> str:
    """Why PostgreSQL refused, in one line (a pool's timeout hides the cause): one direct
    connection attempt tells, e.g. a database that does not exist yet."""
    import psycopg

    url = get_settings().fleet_database_url.get_secret_value()
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()).removeprefix("connection failed: ")
        if "does not exist" in reason and "database" in reason:
            return f"PostgreSQL: {reason.rpartition('FATAL: ')[2]}: `fleet migrate` creates it"
        return f"PostgreSQL (FLEET_DATABASE_URL) is unreachable: {reason}"
    return "PostgreSQL (FLEET_DATABASE_URL) did not answer in time"


def fail(message: str, code: int) -> None:
    click.echo(f"fleet: {message}", err=True)
    sys.exit(code)


@click.group(cls=FleetGroup)
@click.version_option(package_name="qe-fleet", prog_name="fleet")
def main() -> None:
    """qe-fleet: route QE tasks to the cheapest capable model, stream and price them."""
    # The connection pool logs each failed attempt; the CLI says why in one line instead.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


@main.command()
def migrate() -> None:
    """Create the database if missing and migrate it to the latest schema; move Redis keys
    named by an earlier release to today's names."""
    from fleet.backends.migrate import migrate as run
    from fleet.backends.migrate_keys import migrate_keys
    from fleet.cli.tables import progress

    with progress("migrating the schema"):
        created = run(get_settings().fleet_database_url.get_secret_value())
    click.echo(("created database; " if created else "") + "schema is at head")
    with progress("renaming Redis keys"):
        moved = migrate_keys(get_services().redis)
    click.echo("Redis keys: " + (", ".join(f"{n} {kind}" for kind, n in sorted(moved.items())
                                           if n) or "nothing to move"))


@main.command()
@click.option("--result", "result_type", default=None, metavar="TYPE",
              help="the result schema of a task type instead, e.g. test-generation")
def schema(result_type: str | None) -> None:
    """Print the JSON Schema of QETask (or of a task type's result)."""
    from fleet.contracts import QETask, TaskType
    from fleet.errors import InvalidTask
    from fleet.qe.results import SPECS

    if result_type is None:
        click.echo(json.dumps(QETask.model_json_schema(), indent=2))
        return
    spec = SPECS.get(TaskType(result_type)) if result_type in set(TaskType) else None
    if spec is None:
        raise InvalidTask(f"no result schema for {result_type!r} (types with one: "
                          f"{', '.join(sorted(t.value for t in SPECS))})")
    click.echo(json.dumps(spec.result.model_json_schema(), indent=2))


@main.group()
def config() -> None:
    """Validate or migrate configuration."""


@config.command("check")
@click.option("--file", "path", type=click.Path(path_type=Path), default=None)
def config_check(path: Path | None) -> None:
    """Validate the config and print it, secrets masked; then a verdict, warning about models
    that would run without an API key while simulation is off."""
    import os

    cfg = load_config(path) if path else get_config()
    settings = get_settings()
    click.echo(json.dumps(masked_dump(cfg, settings), indent=2))
    keyless = [m for m in cfg.enabled_models() if not os.environ.get(m.key_env)]
    if keyless and not settings.fleet_simulate:
        click.echo("warning: no API key for " + ", ".join(f"{m.name} ({m.key_env})"
                                                         for m in keyless)
                   + ": their workers will refuse to start; set the keys or FLEET_SIMULATE=true",
                   err=True)
    click.echo(f"config OK: {len(cfg.enabled_models())} models enabled, default "
               f"{cfg.routing.default_model}", err=True)


@config.command("migrate")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
def config_migrate(old: Path) -> None:
    """Migrate a v1.0.4 config to v1.0.5 (seed §9.3); prints the new YAML."""
    click.echo(yaml.safe_dump(migrate_v104(read_yaml(old)), sort_keys=False))


@main.command()
@click.argument("names", nargs=-1)
def bench(names: tuple[str, ...]) -> None:
    """Run the benchmarks in bench/ (from a source checkout) and print a markdown table."""
    import subprocess
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").exists():
        raise click.ClickException("bench/ is not here: run from a source checkout")
    sys.exit(subprocess.call([sys.executable, "-m", "bench", *names], cwd=root))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def gateway(host: str, port: int) -> None:
    """Serve the HTTP gateway (POST /v1/tasks, GET /v1/tasks/ID[/events], /healthz)."""
    import uvicorn

    from fleet.http.gateway import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9464, show_default=True)
def exporter(host: str, port: int) -> None:
    """Serve the scrape-time metrics (queue depths, budget used, savings) without the gateway."""
    import time

    import prometheus_client

    from fleet import monitoring
    from fleet.services import get_services

    monitoring.register(get_services())
    prometheus_client.start_http_server(port, addr=host)
    click.echo(f"metrics on http://{host}:{port}/metrics")
    while True:
        time.sleep(3600)


@main.command()
@click.option("--http", "over_http", is_flag=True, help="streamable HTTP instead of stdio")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
def mcp(over_http: bool, host: str, port: int) -> None:
    """Serve the QE tools over MCP: stdio (default) or streamable HTTP at /mcp (behind
    FLEET_GATEWAY_TOKEN when it is set)."""
    import anyio

    from fleet.mcp.server import http_app, serve_stdio

    if not over_http:
        anyio.run(serve_stdio)
        return
    import uvicorn

    uvicorn.run(http_app(host), host=host, port=port, log_level="info")


def _register_commands() -> None:
    from fleet.cli.costs import budget, costs
    from fleet.cli.routing import flags, models, routing
    from fleet.cli.tasks import result, submit, watch
    from fleet.cli.up import down, status, up

    for command in (up, down, status, submit, watch, result, costs, budget, routing, flags,
                    models):
        main.add_command(command)


_register_commands()


if __name__ == "__main__":
    main()
