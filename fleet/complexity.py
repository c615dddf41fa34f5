"""ComplexityAnalyzer: scores how much a task needs a strong model (0 = trivial, 1 = hardest)."""

from __future__ import annotations

import math

from fleet.config import ComplexityWeights
from fleet.models import ComplexityFactors, ComplexityScore, QETask, TaskType
from fleet.tokens import estimate_tokens

# How demanding each kind of QE work is before looking at its content.
TYPE_PRIOR: dict[TaskType, float] = {
    TaskType.QUALITY_GATE: 0.15,
    TaskType.TEST_DATA_GENERATION: 0.25,
    TaskType.GENERAL: 0.3,
    TaskType.COVERAGE_ANALYSIS: 0.35,
    TaskType.REQUIREMENTS_VALIDATION: 0.4,
    TaskType.CODE_REVIEW: 0.45,
    TaskType.TEST_GENERATION: 0.5,
    TaskType.REGRESSION_ANALYSIS: 0.5,
    TaskType.PERFORMANCE_TESTING: 0.55,
    TaskType.FLAKY_TEST_HUNTING: 0.65,
    TaskType.SECURITY_REVIEW: 0.7,
}


def _saturate(value: float, half: float) -> float:
    """Map [0, inf) onto [0, 1), reaching 0.5 at ``half``."""
    return value / (value + half) if value > 0 else 0.0


class ComplexityAnalyzer:
    def __init__(self, weights: ComplexityWeights | None = None) -> None:
        self.weights = weights or ComplexityWeights()

    def analyze(self, task: QETask) -> ComplexityScore:
        code = [src for _, src in task.all_code()]
        text_tokens = estimate_tokens(task.description)
        code_tokens = sum(estimate_tokens(src) for src in code)
        tokens = text_tokens + code_tokens
        size = _saturate(math.log1p(tokens), math.log1p(2000))
        structure = _saturate(sum(src.count("\n") for src in code), 200)
        context = _saturate(len(task.files) + len(task.context), 5)
        w = self.weights
        total_w = (w.token_weighting + w.structure_weighting + w.context_weighting) or 1.0
        content = (w.token_weighting * size + w.structure_weighting * structure
                   + w.context_weighting * context) / total_w
        overall = min(1.0, max(0.0, 0.5 * TYPE_PRIOR[task.type] + 0.5 * content))
        return ComplexityScore(
            overall=round(overall, 4), token_count=tokens,
            factors=ComplexityFactors(code_complexity=round(structure, 4),
                                      data_size=round(context, 4)),
            explanation=f"type prior {TYPE_PRIOR[task.type]:.2f}, {tokens} tokens",
        )
