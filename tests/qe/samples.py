"""One representative task per result type (the simulated provider answers each validly)."""

from __future__ import annotations

from fleet.contracts import QETask
from tests.qe.test_coverage_report import COVERAGE_PY

CODE = "def total(items):\n    return sum(i.price for i in items)\n"
SAMPLES = {task.type.value: task for task in (
    QETask(type="test-generation", description="pytest tests", code=CODE, language="python"),
    QETask(type="coverage-analysis", description="gaps?", context={"coverage": COVERAGE_PY}),
    QETask(type="quality-gate", description="Is this release ready?"),
    QETask(type="flaky-test-hunting", description="test_total fails 1 run in 20"),
    QETask(type="security-review", description="review", code=CODE),
    QETask(type="regression-analysis", description="total() now rounds", code=CODE),
    QETask(type="requirements-validation", description="Totals are shown in EUR."),
    QETask(type="code-review", description="review", code=CODE),
    QETask(type="performance-testing", description="plan load tests", code=CODE),
    QETask(type="test-data-generation", description="users", context={
        "schema": {"type": "object", "required": ["name"],
                   "properties": {"name": {"type": "string", "minLength": 2}}}, "count": 4}),
)}
