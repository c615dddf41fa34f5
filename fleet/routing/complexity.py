"""ComplexityAnalyzer: how much a task needs a strong model (0 = trivial, 1 = hardest).

The score blends three things:

* **demand** — what the text asks for: reasoning, quantitative work, expert-domain knowledge,
  hard QE topics (concurrency, security, flakiness…), discounted for creative writing and simple
  look-ups, which cheap models handle well (:mod:`fleet.routing.signals`);
* **content** — the seed's weighted size / structure / context blend (``routing.complexity``
  weights): token count, code structure (branches, nesting, functions, concurrency primitives)
  and how many files and context entries come with the task;
* the **task type's prior**: a quality-gate summary is not a concurrency test suite.

Every part is a saturating, non-decreasing function of its counts, so ``overall`` stays in
[0, 1] and more of the same content never lowers it. Weights were tuned on the labelled routing
dev split (RouteLLM's GSM8K / MMLU prompts, see bench/routing_quality.py), as signal weights
only — no rule looks at particular prompts.
"""

from __future__ import annotations

import json
import math

from fleet.config import ComplexityWeights
from fleet.contracts import ComplexityFactors, ComplexityScore, QETask, TaskType
from fleet.routing.signals import CodeSignals, TextSignals, code_signals, text_signals
from fleet.routing.tokens import estimate_tokens

TYPE_PRIOR: dict[TaskType, float] = {
    TaskType.QUALITY_GATE: 0.15,
    TaskType.TEST_DATA_GENERATION: 0.25,
    TaskType.COVERAGE_ANALYSIS: 0.35,
    TaskType.GENERAL: 0.4,
    TaskType.REQUIREMENTS_VALIDATION: 0.4,
    TaskType.CODE_REVIEW: 0.45,
    TaskType.TEST_GENERATION: 0.5,
    TaskType.REGRESSION_ANALYSIS: 0.5,
    TaskType.PERFORMANCE_TESTING: 0.55,
    TaskType.FLAKY_TEST_HUNTING: 0.7,
    TaskType.SECURITY_REVIEW: 0.7,
}

PRIOR_WEIGHT = 0.25
DEMAND_WEIGHT = 0.45
CONTENT_WEIGHT = 0.30
DEMAND_CENTER = 4.5  # raw demand of a typical two-sentence request
DEMAND_SCALE = 1.2
NUMERIC_OPTIONS_WEIGHT = 5.0
OPTION_OVERLAP_WEIGHT = 2.0
CLOZE_WEIGHT = 1.0
COMBINED_OPTION_WEIGHT = 1.0
STATEMENT_OPTIONS_WEIGHT = 0.5
COMPARATIVE_WEIGHT = 1.0
RECALL_WEIGHT = 1.5
RELATIONAL_WEIGHT = 2.25
LOGIC_SYMBOL_WEIGHT = 0.6
LENGTH_DAMPING = 0.5  # share of the size terms a simple request (summarise, translate…) loses
DISCOUNT_FADE = 2.0  # reasoning of 0.5 (e.g. a quantity and a logical cue) ends a discount
MAX_SCANNED_CONTEXT = 64 * 1024  # context beyond this only adds to the size signal


def saturate(value: float, half: float) -> float:
    """Map [0, inf) onto [0, 1), reaching 0.5 at ``half``; non-decreasing."""
    return value / (value + half) if value > 0 else 0.0


def text_demand(s: TextSignals, tokens: int, asked: TextSignals | None = None
                ) -> tuple[float, float, float]:
    """(demand, reasoning, creativity) of a text, each in [0, 1].

    ``asked``: the signals of the instruction alone when the text is an instruction followed
    by material ("Summarize this report:\\n…"); the discounts for simple and creative requests
    are read from it, so the material's words can raise the demand but not cancel a discount.

    Length carries most weight within a kind of request (longer asks need more steps), with
    quantitative vocabulary and clause count (multi-step problems), quantities stated as
    relations to others ("twice as many as", "a third of the rest"), formal-logic notation,
    expert-domain vocabulary, quoted narrative and negations (careful reading). The *kind* of
    request moves the score as a whole: programming and logical or hard-QE cues up, creative
    writing and simple look-ups down, since cheap models do those well.
    """
    log = math.log1p

    def present(count: int) -> float:
        return 1.0 if count else 0.0

    def reasoning_of(t: TextSignals) -> float:
        return saturate(0.6 * log(t.quantitative) + 0.5 * present(t.logical)
                        + 0.5 * present(t.hard_qe) + 0.5 * present(t.software), 1.0)

    reasoning = reasoning_of(s)
    request = asked or s
    # A puzzle framed as a story ("imagine you are…") is still a puzzle, and "describe the race
    # condition" is not a look-up: the discounts for creative and simple requests fade with
    # the reasoning the request asks for.
    fade = max(0.0, 1.0 - DISCOUNT_FADE * (reasoning if asked is None else reasoning_of(asked)))
    simple, creative = present(request.simple), present(request.creative)
    kind = (1.5 * present(s.software) + 0.5 * present(s.logical) + 0.5 * present(s.hard_qe)
            - (1.5 * creative + 1.0 * simple) * fade)
    # Applied reasoning (computing an answer, telling near-identical options apart, judging
    # options that are not exclusive, reasoning about change) up; recall of facts and
    # recognising the true statement among several down.
    c = s.choices
    applied = (NUMERIC_OPTIONS_WEIGHT * c.numeric + OPTION_OVERLAP_WEIGHT * c.overlap
               + CLOZE_WEIGHT * c.cloze + COMBINED_OPTION_WEIGHT * c.combined
               + COMPARATIVE_WEIGHT * log(s.comparative)
               - RECALL_WEIGHT * log(s.recall) - STATEMENT_OPTIONS_WEIGHT * c.statements)
    # Length and clause count mean more steps when reasoning, but summarising or translating a
    # long text is about as easy as a short one: a simple request keeps only part of them.
    size = (log(tokens) + 0.5 * log(s.clauses)) * (1.0 - LENGTH_DAMPING * simple * fade)
    raw = (size + 0.6 * log(s.quantitative) + RELATIONAL_WEIGHT * log(s.relational)
           + LOGIC_SYMBOL_WEIGHT * log(s.logic_symbols)
           + 0.3 * log(s.expert) + 0.3 * log(s.quotes) + 0.3 * log(s.negation)
           + 0.3 * log(s.hard_qe) + kind + applied)
    demand = 1.0 / (1.0 + math.exp(-(raw - DEMAND_CENTER) / DEMAND_SCALE))
    return demand, reasoning, saturate(s.creative, 1.5)


def code_structure(signals: list[CodeSignals]) -> float:
    """Structure of all code in the task, in [0, 1)."""
    if not signals:
        return 0.0
    branches = sum(c.branches for c in signals)
    functions = sum(c.functions for c in signals)
    nesting = max(c.max_nesting for c in signals)
    concurrency = sum(c.concurrency for c in signals)
    return (0.40 * saturate(branches, 25) + 0.20 * saturate(functions, 8)
            + 0.20 * saturate(max(nesting - 1, 0), 4) + 0.20 * saturate(concurrency, 4))


STRETCH_CENTER = 0.40
STRETCH_SLOPE = 8.0


def stretch(blend: float) -> float:
    """Spread the blend (which rarely leaves 0.15-0.65) over [0, 1] so the seed's model ranges
    (haiku 0-0.4, sonnet 0.3-0.8, opus 0.7-1) are all reachable; strictly increasing, so the
    ranking is unchanged."""
    return 1.0 / (1.0 + math.exp(-STRETCH_SLOPE * (blend - STRETCH_CENTER)))


def instruction(text: str) -> str | None:
    """The request of a text laid out as an instruction line and material ("Summarize this
    report:\\n<report>"), else None."""
    end = text.find("\n")
    if end <= 0 or not text[:end].rstrip().endswith(":") or len(text) - end <= 4 * end:
        return None
    return text[:end]


class ComplexityAnalyzer:
    def __init__(self, weights: ComplexityWeights | None = None) -> None:
        self.weights = weights or ComplexityWeights()

    def analyze(self, task: QETask) -> ComplexityScore:
        context_text = json.dumps(task.context, default=str) if task.context else ""
        code = task.all_code()
        # Every QE task type but "general" is about software, as is any task with code.
        about_software = task.type is not TaskType.GENERAL or bool(code)
        described = text_signals(task.description, about_software)
        # What is asked: the instruction line of "<request>:\n<material>", or the whole
        # description when the material comes as context.
        head = instruction(task.description)
        asked = (text_signals(head, about_software) if head is not None
                 else described if context_text else None)
        ts = (described.plus(text_signals(context_text[:MAX_SCANNED_CONTEXT], about_software))
              if context_text else described)
        cs = [code_signals(src) for _, src in code]
        code_tokens = sum(c.tokens for c in cs)
        text_tokens = estimate_tokens(task.description)
        context_tokens = estimate_tokens(context_text)
        tokens = text_tokens + code_tokens + context_tokens

        demand, reasoning, creativity = text_demand(ts, text_tokens, asked)
        size = saturate(math.log1p(tokens), math.log1p(1500))
        structure = code_structure(cs)
        context = saturate(len(task.files) + len(task.context) + context_tokens / 500, 6)
        w = self.weights
        total_w = (w.token_weighting + w.structure_weighting + w.context_weighting) or 1.0
        content = (w.token_weighting * size + w.structure_weighting * structure
                   + w.context_weighting * context) / total_w
        prior = TYPE_PRIOR[task.type]
        blend = PRIOR_WEIGHT * prior + DEMAND_WEIGHT * demand + CONTENT_WEIGHT * content
        overall = stretch(blend)

        drivers = sorted([("task type", PRIOR_WEIGHT * prior), ("text demand",
                          DEMAND_WEIGHT * demand), ("size/structure/context",
                          CONTENT_WEIGHT * content)], key=lambda d: -d[1])
        explanation = (
            f"{overall:.2f} = stretch({blend:.3f}); "
            f"type prior {prior:.2f} ({task.type.value}) x{PRIOR_WEIGHT}"
            f" + text demand {demand:.2f} x{DEMAND_WEIGHT}"
            f" + content {content:.2f} x{CONTENT_WEIGHT}"
            f" [size {size:.2f}, code structure {structure:.2f}, context {context:.2f}];"
            f" {tokens} tokens; reasoning {reasoning:.2f}, creativity {creativity:.2f};"
            f" driven most by {drivers[0][0]}")
        return ComplexityScore(
            overall=round(overall, 4), token_count=tokens,
            factors=ComplexityFactors(
                code_complexity=round(structure, 4), data_size=round(context, 4),
                requires_reasoning=reasoning >= 0.3, requires_creativity=creativity >= 0.4),
            explanation=explanation,
        )
