"""The shape of the code: lower layers never import upper ones, no import cycles, small
modules, and ``import fleet.errors`` loads no client library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT

# Layers, lowest first: a module may import its own layer and the ones below it, never above.
# costs.pricing is pure arithmetic that routing prices its candidates with.
LAYERS: list[tuple[str, ...]] = [
    ("fleet.errors", "fleet.contracts", "fleet.config", "fleet.metrics"),
    ("fleet.backends",),
    ("fleet.costs.pricing",),
    ("fleet.routing", "fleet.streaming", "fleet.costs", "fleet.qe"),
    ("fleet.services",),
    ("fleet.app", "fleet.dispatch", "workers", "beat", "fleet.views", "fleet.monitoring",
     "fleet.client",
     "fleet.cli", "fleet.http", "fleet.mcp", "fleet"),
]
PACKAGES = ("fleet", "workers", "beat")


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    assert best >= 0, f"{module} is in no layer"
    return best


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, name: str) -> set[str]:
    """Project modules ``path`` imports, at any depth (function-level imports count)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in out if m.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path, name) if m in known and m != name}
            for name, path in known.items()}


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(f"{name} -> {target}" for name, targets in graph().items()
                    for target in targets if layer_of(target) > layer_of(name))
    assert upward == []


def test_no_import_cycles_between_packages_of_a_layer() -> None:
    """Packages (fleet.routing, fleet.costs …) depend on each other one way only."""
    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges = {(package(a), package(b)) for a, targets in graph().items() for b in targets
             if package(a) != package(b)}
    cycles = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b
                    and "fleet" not in (a, b) and "fleet.app" not in (a, b))
    assert cycles == []


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package: str) -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for p in (ROOT / package).rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > 400} == {}


def test_importing_the_errors_loads_no_client_library() -> None:
    probe = ("import sys, fleet.errors, fleet.contracts, fleet.config; "
             "print(sorted(m for m in ('redis', 'psycopg', 'celery', 'kombu') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


PURE = ["tests/routing/test_signals.py", "tests/routing/test_complexity.py",
        "tests/routing/test_router.py", "tests/costs/test_pricing.py", "tests/config",
        "tests/streaming/test_chunker.py", "tests/test_errors.py", "tests/test_contracts.py",
        "tests/dispatch/test_intake.py", "tests/dispatch/test_route.py",
        "tests/workers/test_runner.py", "tests/test_services.py"]


def test_pure_tests_need_no_redis_and_no_postgresql() -> None:
    """Prices, signals, complexity, config, chunker, error codes, routing and the runner run
    with both services out of reach (a closed port each)."""
    env = {"FLEET_TEST_REDIS_PORT": "1", "FLEET_TEST_PG": "postgresql://127.0.0.1:1",
           "PATH": str(Path(sys.executable).parent)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-m", "not integration", *PURE], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout.splitlines()[-1] and "error" not in run.stdout.splitlines()[-1]


def test_only_the_price_function_reads_prices() -> None:
    """The routing estimate, the reservation, the cost row and the report's savings cannot
    disagree: prices are read in fleet/costs/pricing.py only (listings use list_prices)."""
    readers = sorted(str(path.relative_to(ROOT)) for package in PACKAGES
                     for path in (ROOT / package).rglob("*.py")
                     if "cost_per_1k_tokens" in path.read_text())
    assert readers == ["fleet/config/schema.py", "fleet/costs/pricing.py"]
