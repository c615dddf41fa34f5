"""Signals the complexity analyzer reads from a task: text demands and code structure.

Every signal is a count or ratio computed by C-speed scans (compiled regexes, ``bytes.count``),
so analysing a task with 8k tokens of code stays well under a millisecond. Lexicons are general
vocabulary of each kind of demand (quantitative, logical, expert-domain, creative, simple
look-up, hard QE topics), matched as whole words or phrases — multi-word cues such as
"race condition" or "step by step" match as phrases, which a split-into-words scan cannot do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _lexicon(*terms: str) -> re.Pattern[str]:
    # Longest first so "race condition" wins over "race"; \b on both sides for whole words;
    # a trailing "*" marks a stem ("optimi*" matches optimise, optimization …).
    parts = sorted(terms, key=len, reverse=True)
    body = "|".join(re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t)
                    for t in parts)
    return re.compile(rf"\b(?:{body})\b", re.IGNORECASE)


QUANTITATIVE = _lexicon(
    "calculat*", "comput*", "solve", "equation*", "integral*", "derivative*", "probabilit*",
    "matrix", "matrices", "polynomial*", "theorem*", "prime", "divisible", "modulo", "integer*",
    "fraction*", "percent*", "ratio", "proportion*", "average", "mean", "median", "variance",
    "standard deviation", "interest", "profit", "discount", "per hour", "per day", "per week",
    "each", "twice", "half", "triple", "times as", "more than", "less than", "remaining",
    "rest of", "total", "altogether", "how many", "how much", "how long", "how far", "velocity",
    "acceleration", "momentum", "energy", "joule*", "newton*", "molar*", "mole*", "entropy",
    "enthalpy", "kinetic", "potential", "vector*", "eigen*", "logarithm*", "exponent*",
    "factorial", "permutation*", "combination*", "expected value", "distribution",
)
LOGICAL = _lexicon(
    "why", "explain", "prove", "proof", "derive", "justify", "deduce", "infer*", "implies",
    "therefore", "hence", "thus", "consequently", "assume", "assuming", "suppose", "if and only if",
    "necessary", "sufficient", "valid", "invalid", "premise*", "conclusion*", "argument*",
    "contradict*", "step by step", "reason*", "analy*", "evaluate", "compare", "contrast",
    "trade-off*", "tradeoff*", "which of the following", "most likely", "best explains",
    "strongest", "weakest", "would most", "unless", "whereas", "despite",
)
EXPERT = _lexicon(
    # law
    "plaintiff", "defendant", "statute*", "constitutional*", "tort*", "negligen*", "liab*",
    "contract*", "breach*", "jurisdiction", "testimony", "hearsay", "admissib*", "prosecut*",
    "felony", "misdemeanor", "appellate", "easement", "covenant", "estoppel",
    # medicine and life science
    "patient*", "diagnos*", "symptom*", "clinical", "syndrome", "dosage", "etiology",
    "patholog*", "enzyme*", "protein*", "receptor*", "genetic*", "chromosom*", "mutation*",
    # physical science and engineering
    "quantum", "thermodynamic*", "electromagnetic", "oxidation", "catalyst*", "isotope*",
    "semiconductor*", "impedance", "wavelength",
    # economics and accounting
    "elasticity", "marginal", "monopol*", "equilibrium", "depreciation", "amortiz*",
    "accrual*", "liabilit*", "fiscal", "monetary",
    # formal logic and philosophy
    "symboliz*", "tautolog*", "syllogism*", "utilitarian*", "deontolog*", "epistemolog*",
)
SOFTWARE = _lexicon(
    "function*", "class*", "method*", "algorithm*", "implement*", "refactor*", "compile*",
    "runtime", "recursion", "recursive", "complexity", "big-o", "data structure*", "pointer*",
    "thread*", "async*", "await", "api", "database", "query", "sql", "regex*", "parse*",
    "python", "javascript", "typescript", "java", "golang", "rust", "c\\+\\+", "code", "bug*",
    "debug*", "stack trace", "exception*", "unit test*", "integration test*", "mock*",
)
HARD_QE = _lexicon(
    "race condition*", "deadlock*", "livelock*", "concurren*", "thread-safe*", "thread safety",
    "atomic*", "nondetermin*", "non-determin*", "flaky", "flakiness", "intermittent*",
    "memory leak*", "security", "vulnerab*", "injection", "exploit*", "authenticat*",
    "authoriz*", "cryptograph*", "timing attack*", "side channel*", "fuzz*", "property-based",
    "invariant*", "edge case*", "corner case*", "boundary", "mutation test*", "performance",
    "latency", "throughput", "scalab*", "distributed", "consisten*", "idempoten*",
    "transaction*", "rollback", "migration*", "backward compat*", "regression*",
)
CREATIVE = _lexicon(
    "write a story", "story", "poem", "poetry", "haiku", "lyrics", "compose", "imagine",
    "pretend", "role-play", "roleplay", "brainstorm", "slogan", "creative*", "blog post",
    "essay", "persuasive", "catchy", "fictional", "character*", "invent*",
)
SIMPLE = _lexicon(
    "what is", "what are", "who is", "who was", "when did", "define", "definition", "list",
    "name the", "summarize", "summarise", "summary", "translate", "rephrase", "reformat",
    "convert", "extract", "spell", "capital of", "yes or no", "true or false", "pass or fail",
)
NEGATION = _lexicon("not", "except", "least", "incorrect", "false", "never", "cannot", "neither",
                    "nor", "without")

_QUOTE = re.compile(r"[\"“”]")
_CLAUSE = re.compile(r"[,;:]|\b(?:and|but|then|after|before|while|if|when|which|that|because)\b",
                     re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TextSignals:
    clauses: int
    quotes: int
    quantitative: int
    logical: int
    expert: int
    software: int
    hard_qe: int
    creative: int
    simple: int
    negation: int


def text_signals(text: str) -> TextSignals:
    return TextSignals(
        clauses=len(_CLAUSE.findall(text)),
        quotes=len(_QUOTE.findall(text)) // 2,
        quantitative=len(QUANTITATIVE.findall(text)),
        logical=len(LOGICAL.findall(text)),
        expert=len(EXPERT.findall(text)),
        software=len(SOFTWARE.findall(text)),
        hard_qe=len(HARD_QE.findall(text)),
        creative=len(CREATIVE.findall(text)),
        simple=len(SIMPLE.findall(text)),
        negation=len(NEGATION.findall(text)),
    )


# --- code structure -------------------------------------------------------------------------

_BRANCH = re.compile(
    rb"\b(?:if|elif|else if|for|foreach|while|except|catch|case|when|and|or|unless|until)\b"
    rb"|&&|\|\||\?\?|\?(?=[^:;\n]*:)")
_FUNCTION = re.compile(
    rb"\b(?:def|function|func|fn|fun|sub|lambda)\b|=>|\b(?:public|private|protected|static)\s+"
    rb"[\w<>\[\],\s]+\s+\w+\s*\(")
_CONCURRENCY = re.compile(
    rb"\b(?:thread\w*|async|await|lock|mutex|semaphore|atomic\w*|goroutine|go\s+func|chan|"
    rb"synchronized|volatile|future\w*|executor\w*|multiprocessing|asyncio|spawn|join)\b",
    re.IGNORECASE)
_INDENT = re.compile(rb"^[ \t]+(?=\S)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CodeSignals:
    lines: int
    branches: int
    functions: int
    max_nesting: int
    concurrency: int


def code_signals(source: str) -> CodeSignals:
    data = source.encode("utf-8", "replace")
    indents = _INDENT.findall(data)
    # Nesting from indentation works for brace languages too (formatted code is indented);
    # tabs count as one level, spaces in the file's smallest indent unit.
    levels = 0
    if indents:
        widths = [len(i.replace(b"\t", b"    ")) for i in indents]
        unit = min(widths)
        levels = max(widths) // unit if unit else 0
    return CodeSignals(
        lines=data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1),
        branches=len(_BRANCH.findall(data)),
        functions=len(_FUNCTION.findall(data)),
        max_nesting=levels,
        concurrency=len(_CONCURRENCY.findall(data)),
    )
