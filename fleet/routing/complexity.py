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
from typing import Any, NamedTuple

from fleet.config import ComplexityWeights
from fleet.contracts import ComplexityFactors, ComplexityScore, QETask, TaskType
from fleet.routing.signals import CodeSignals, TextSignals, code_signals, text_signals
from fleet.routing.tokens import estimate_tokens

MAX_SCANNED_CONTEXT = 64 * 1024  # context beyond this only adds to the size signal


class Demand(NamedTuple):
    """What a text asks for: ``demand``, ``reasoning`` and ``creativity`` in [0, 1], and the
    raw terms whose sum the demand is a logistic of (``fleet routing explain`` shows them)."""

    demand: float
    reasoning: float
    creativity: float
    terms: dict[str, float]
    hard_property: bool = False  # a QE task asking about a hard property


def saturate(value: float, half: float) -> float:
    """Map [0, inf) onto [0, 1), reaching 0.5 at ``half``; non-decreasing."""
    return value / (value + half) if value > 0 else 0.0


def text_demand(s: TextSignals, tokens: int, asked: TextSignals | None = None,
                w: ComplexityWeights | None = None, length_share: float = 1.0) -> Demand:
    """What a text asks for, from its signals.

    ``asked``: the signals of the instruction alone when the text is an instruction followed
    by material ("Summarize this report:\\n…"); the discounts for simple and creative requests
    are read from it, so the material's words can raise the demand but not cancel a discount.
    A hard property asked about (a race, an exploit, nondeterminism: counted only in a text
    about software) makes a task hard however short it is. ``length_share``: the
    share of the length terms the task type keeps (a gate decides over given facts).

    Length carries most weight within a kind of request (longer asks need more steps), with
    quantitative vocabulary and clause count (multi-step problems), quantities stated as
    relations to others ("twice as many as", "a third of the rest"), formal-logic notation,
    expert-domain vocabulary, quoted narrative and negations (careful reading). The *kind* of
    request moves the score as a whole: programming and logical or hard-QE cues up, creative
    writing and simple look-ups down, since cheap models do those well.
    """
    w = w or ComplexityWeights()
    sw = w.signals
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
    fade = max(0.0, 1.0 - w.discount_fade * (reasoning if asked is None
                                             else reasoning_of(asked)))
    simple, creative = present(request.simple), present(request.creative)
    c = s.choices
    terms = {
        "length": (log(tokens) + 0.5 * log(s.clauses))
        * (1.0 - w.length_damping * simple * fade) * length_share,
        "quantitative": sw.quantitative * log(s.quantitative),
        "relational": sw.relational * log(s.relational),
        "logic symbols": sw.logic_symbols * log(s.logic_symbols),
        "careful reading": sw.expert * log(s.expert) + sw.quotes * log(s.quotes)
        + sw.negation * log(s.negation),
        "hard QE topics": sw.hard_topics * log(s.hard_qe)
        + sw.hard_property * present(request.hard_property),
        "kind of request": sw.software_request * present(s.software)
        + sw.logical_request * present(s.logical) + sw.hard_qe_request * present(s.hard_qe)
        - (sw.creative_request * creative + sw.simple_request * simple) * fade,
        # Applied reasoning (computing an answer, telling near-identical options apart, judging
        # options that are not exclusive, reasoning about change) up; recall of facts and
        # recognising the true statement among several down.
        "applied reasoning": sw.numeric_options * c.numeric + sw.option_overlap * c.overlap
        + sw.cloze * c.cloze + sw.combined_option * c.combined
        + sw.comparative * log(s.comparative),
        "recall": -sw.recall * log(s.recall) - sw.statement_options * c.statements,
    }
    raw = sum(terms.values())
    demand = 1.0 / (1.0 + math.exp(-(raw - w.demand_center) / w.demand_scale))
    return Demand(demand, reasoning, saturate(s.creative, 1.5), terms,
                  bool(request.hard_property))


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


def stretch(blend: float, center: float = 0.40, slope: float = 8.0) -> float:
    """Spread the blend (which rarely leaves 0.15-0.65) over [0, 1] so the seed's model ranges
    (haiku 0-0.4, sonnet 0.3-0.8, opus 0.7-1) are all reachable; strictly increasing, so the
    ranking is unchanged."""
    return 1.0 / (1.0 + math.exp(-slope * (blend - center)))


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
        return self.explain(task)[0]

    def explain(self, task: QETask) -> tuple[ComplexityScore, dict[str, Any]]:
        """The score, and each part's and each demand term's contribution."""
        w = self.weights
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

        demand = text_demand(ts, text_tokens, asked, w, w.type_length.get(task.type.value, 1.0))
        size = saturate(math.log1p(tokens), math.log1p(1500))
        structure = code_structure(cs)
        context = saturate(len(task.files) + len(task.context) + context_tokens / 500, 6)
        total_w = (w.token_weighting + w.structure_weighting + w.context_weighting) or 1.0
        content = (w.token_weighting * size + w.structure_weighting * structure
                   + w.context_weighting * context) / total_w
        prior = w.type_priors.get(task.type.value, 0.4)
        if demand.hard_property:
            prior = max(prior, w.hard_property_prior)
        parts = {"task type": w.blend.prior * prior, "text demand": w.blend.demand
                 * demand.demand, "size/structure/context": w.blend.content * content}
        blend = sum(parts.values())
        overall = stretch(blend, w.stretch_center, w.stretch_slope)
        explanation = (
            f"{overall:.2f} = stretch({blend:.3f}); "
            f"type prior {prior:.2f} ({task.type.value}) x{w.blend.prior}"
            f" + text demand {demand.demand:.2f} x{w.blend.demand}"
            f" + content {content:.2f} x{w.blend.content}"
            f" [size {size:.2f}, code structure {structure:.2f}, context {context:.2f}];"
            f" {tokens} tokens; reasoning {demand.reasoning:.2f},"
            f" creativity {demand.creativity:.2f}; driven most by"
            f" {max(parts, key=lambda k: parts[k])}")
        score = ComplexityScore(
            overall=round(overall, 4), token_count=tokens,
            factors=ComplexityFactors(
                code_complexity=round(structure, 4), data_size=round(context, 4),
                requires_reasoning=demand.reasoning >= 0.3,
                requires_creativity=demand.creativity >= 0.4),
            explanation=explanation)
        return score, {"overall": score.overall, "blend": round(blend, 4),
                       "parts": {k: round(v, 4) for k, v in parts.items()},
                       "demand terms (raw, before the logistic)": {
                           k: round(v, 3) for k, v in demand.terms.items() if v},
                       "content": {"size": round(size, 4), "code structure": round(structure, 4),
                                   "context": round(context, 4)}}
