"""``fleet routing``, ``fleet flags`` and ``fleet models``: inspect and steer the router."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fleet.cli.tables import dump, table
from fleet.config import ModelConfig
from fleet.contracts import MAX_TEXT, QETask, TaskType
from fleet.errors import FleetError, InvalidTask, PayloadTooLarge
from fleet.qe.chat import prompt_text
from fleet.routing.flags import Flag
from fleet.routing.outcomes import first_pass
from fleet.routing.router import ModelRouter
from fleet.services import get_config, get_services

# Keys that carry a bare prompt (not a QETask): one text, a list of turns, or chat messages.
PROMPT_KEYS = ("prompt", "messages", "turns", "conversation")


def task_from_line(line: str) -> QETask:
    """A QETask from a JSON line; a bare prompt (``{"prompt": ...}``, ``{"messages": ...}``…,
    or a JSON string or list of turns on its own) is a general task with that text."""
    limit = get_config().fleet.max_payload_bytes
    size = len(line.encode())
    if size > limit:
        raise PayloadTooLarge(f"line is {size} bytes, limit is {limit}")
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InvalidTask(f"malformed JSON: {exc}") from None
    prompts: list[Any] = [data] if isinstance(data, str | list) else []
    if isinstance(data, dict) and "type" not in data:
        prompts = [data[k] for k in PROMPT_KEYS if k in data][:1]
    if prompts:
        text = prompt_text(prompts[0])[:MAX_TEXT]
        return QETask(type=TaskType.GENERAL, description=text if text.strip() else " ")
    from fleet.dispatch.intake import parse_task

    return parse_task(data, limit)


@click.group()
def routing() -> None:
    """Score tasks and inspect routing decisions."""


@routing.command()
def score() -> None:
    """Read JSON lines (QETask or {"prompt": ...}) on stdin; print one overall score each."""
    from fleet.routing.complexity import ComplexityAnalyzer

    analyzer = ComplexityAnalyzer(get_config().routing.complexity)
    out = sys.stdout
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            out.write(f"{analyzer.analyze(task_from_line(line)).overall:.6f}\n")
        except FleetError as exc:
            raise type(exc)(f"line {number}: {exc.message}") from None


@routing.command()
@click.argument("source", default="-")
def explain(source: str) -> None:
    """Print one task's model selection and its score term by term (file or -): the parts of
    the blend and each text-demand signal's contribution, as ``routing.complexity`` weighs
    them."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    task = task_from_line(text)
    services = get_services()
    router = ModelRouter(services.config, registry=services.registry, flags=services.flags)
    selection = router.select_model(task)
    _, terms = router.analyzer.explain(task)
    click.echo(json.dumps({"selection": selection.model_dump(mode="json", by_alias=True),
                           "score": terms}, indent=2))


@routing.command()
@click.option("--days", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def stats(days: int, as_json: bool) -> None:
    """Selections per model, degraded (ROUTER_001) rate and selection latency; then, per first
    model and task type, how often its checked answer passed (routing accuracy)."""
    db = get_services().db
    with db.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            """SELECT model, count(*), avg(complexity), count(error_code),
                      percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_us),
                      percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_us)
               FROM routing_selections WHERE created_at > now() - make_interval(days => %s)
               GROUP BY model ORDER BY count(*) DESC""", (days,)).fetchall()
    total = sum(r[1] for r in rows)
    selections = [{"model": model, "tasks": n, "share": round(n / total, 4),
                   "avg_complexity": round(float(avg), 4), "degraded": degraded,
                   "p50_us": float(p50), "p99_us": float(p99)}
                  for model, n, avg, degraded, p50, p99 in rows]
    accuracy: list[dict[str, Any]] = [
        {"first_model": s.model, "task_type": s.task_type, "checked": s.tasks,
         "first_pass": round(s.ratio, 4), "escalated": s.escalated,
         "valid_in_end": s.valid_in_end} for s in first_pass(db, days)]
    degraded_total = sum(r[3] for r in rows)
    if as_json:
        dump({"days": days, "selections": selections, "degraded": degraded_total,
              "accuracy": accuracy})
        return
    table(("model", "tasks", "share", "avg cx", "ROUTER_001", "p50 us", "p99 us"),
          ([s["model"], s["tasks"], f"{s['share']:.1%}", round(s["avg_complexity"], 2),
            f"{s['degraded'] / s['tasks']:.1%}", round(s["p50_us"]), round(s["p99_us"])]
           for s in selections), title="selections",
          notes=[f"total {total} selections in {days} days; fallback to default (ROUTER_001) "
                 f"{degraded_total / (total or 1):.1%}"])
    if accuracy:
        table(("first model", "task type", "checked", "first pass", "escalated", "valid"),
              ([a["first_model"], a["task_type"], a["checked"], f"{a['first_pass']:.1%}",
                f"{a['escalated'] / a['checked']:.1%}", f"{a['valid_in_end'] / a['checked']:.1%}"]
               for a in accuracy), title="routing accuracy (checked answers)")


@routing.command()
@click.option("--days", default=7, show_default=True, help="outcomes of the last N days")
@click.option("--target", default=0.9, show_default=True, type=click.FloatRange(0.5, 0.999),
              help="first-pass rate each cheaper model must keep")
@click.option("--write", "write_to", type=click.Path(dir_okay=False, path_type=Path),
              help="write the proposed complexityRange values as a YAML config patch")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def calibrate(days: int, target: float, write_to: Path | None, as_json: bool) -> None:
    """Fit the models' complexity ranges to the fleet's recorded outcomes: each cheaper model
    keeps the scores where its first answer still passes at --target."""
    import yaml

    from fleet.routing.calibrate import FirstTry
    from fleet.routing.calibrate import calibrate as fit_ranges
    from fleet.routing.outcomes import first_tries

    services = get_services()
    rows, output_tokens = first_tries(services.db, days)
    result = fit_ranges(services.config.enabled_models(), [FirstTry(*r) for r in rows], target,
                        output_tokens)
    if write_to is not None:
        patch = {"routing": {"models": [
            {"name": name, "complexityRange": {"min": round(new.min, 3),
                                               "max": round(new.max, 3)}}
            for name, (_, new) in result.changed.items()]}}
        write_to.write_text(yaml.safe_dump(patch, sort_keys=False))
    if as_json:
        dump({"first_tries": len(rows), "days": days, "target": target,
              "boundaries": {n: c.boundary(target) for n, c in result.curves.items()},
              "changed": {n: {"from": [old.min, old.max], "to": [new.min, new.max]}
                          for n, (old, new) in result.changed.items()},
              "expected": {label: {"first_pass": e.first_pass, "cost_usd": e.cost_usd}
                           for label, e in (("now", result.before),
                                            ("proposed", result.after))}})
        return
    click.echo(f"{len(rows)} first tries in {days} days; target first-pass {target:.0%}")
    for name, curve in result.curves.items():
        edge = curve.boundary(target)
        click.echo(f"  {name:<24} {curve.n:>6} tries; passes at {target:.0%} up to "
                   + (f"{edge:.3f}" if edge is not None else "every score"))
    for name, (old, new) in result.changed.items():
        click.echo(f"  {name:<24} range {old.min:.2f}-{old.max:.2f} -> {new.min:.2f}-{new.max:.2f}")
    if not result.changed:
        click.echo("  no range changes (too few outcomes, or the ranges already fit)")
    for label, e in (("now", result.before), ("proposed", result.after)):
        click.echo(f"  {label:<9} expected first-pass {e.first_pass:.1%}, "
                   f"${e.cost_usd:.6f} a task")
    if write_to is not None:
        click.echo(f"wrote {write_to}: merge it into the models of your fleet.yaml")


@click.group()
def flags() -> None:
    """Runtime feature flags (seen fleet-wide within 1 s)."""


@flags.command("set")
@click.argument("flag", type=click.Choice(["router", "multiModelRouter", "streaming"]))
@click.argument("state", type=click.Choice(["on", "off", "default"]))
@click.option("--agent-type")
@click.option("--env", "environment")
def flags_set(flag: str, state: str, agent_type: str | None, environment: str | None) -> None:
    name: Flag = "multiModelRouter" if flag in ("router", "multiModelRouter") else "streaming"
    manager = get_services().flags
    if state == "default":
        manager.unset(name, agent_type, environment)
    else:
        manager.set(name, state == "on", agent_type, environment)
    click.echo(f"{name} {state}" + (f" for agent type {agent_type}" if agent_type else "")
               + (f" in environment {environment}" if environment else ""))


@flags.command("list")
@click.option("--agent-type")
@click.option("--env", "environment")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def flags_list(agent_type: str | None, environment: str | None, as_json: bool) -> None:
    """The effective flags (and the runtime values behind them)."""
    from fleet import views

    state = views.flags(get_services(), agent_type, environment)
    if as_json:
        dump(state)
        return
    table(("flag", "state"), ([f, "on" if on else "off"] for f, on in state["flags"].items()),
          notes=[f"runtime {field} = {value}" for field, value in state["runtime"].items()])


@click.group()
def models() -> None:
    """The model registry (runtime changes are seen fleet-wide within 1 s)."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def models_list(as_json: bool) -> None:
    """Models with their state, provider, complexity range, prices, circuit breaker and
    whether a worker consumes their queue."""
    from fleet import views

    listing = views.models(get_services())
    if as_json:
        dump(listing)
        return
    table(("model", "state", "provider", "range", "$ in / out per 1k", "circuit", "queue"),
          ([m["name"], "enabled" if m["enabled"] else "disabled", m["provider"],
            "{}-{}".format(*m["complexity_range"]),
            "{input} / {output}".format(**m["usd_per_1k_tokens"]), m["circuit"],
            "workers" if m["has_workers"] else "no workers"] for m in listing["models"]),
          notes=[f"default model: {listing['default_model']}"])


@models.command("register")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def models_register(path: Path) -> None:
    """Register (or replace) a model from a JSON file in the ModelConfig shape."""
    model = ModelConfig.model_validate_json(path.read_text())
    get_services().registry.register(model)
    click.echo(f"registered {model.name}; start a worker on queue model.{model.name}")


@models.command("enable")
@click.argument("name")
def models_enable(name: str) -> None:
    get_services().registry.set_enabled(name, True)
    click.echo(f"{name} enabled")


@models.command("disable")
@click.argument("name")
def models_disable(name: str) -> None:
    get_services().registry.set_enabled(name, False)
    click.echo(f"{name} disabled")
