"""Signals the complexity analyzer reads from a task: text demands and code structure.

Every signal is a count or ratio computed by C-speed scans (compiled regexes, ``bytes.count``),
so analysing a task with 8k tokens of code stays well under a millisecond. Lexicons are general
vocabulary of each kind of demand (quantitative, logical, expert-domain, creative, simple
look-up, hard QE topics), matched as whole words or phrases — multi-word cues such as
"race condition" or "step by step" match as phrases, which a split-into-words scan cannot do.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from fleet.choices import ChoiceSignals, choice_signals
from fleet.tokens import SPLIT_TABLE, count_tokens


def _lexicon(*terms: str) -> re.Pattern[str]:
    # Longest first so "race condition" wins over "race"; no word character on either side
    # for whole words (unlike \b, this also ends a term in a symbol: "c++"); a trailing "*"
    # marks a stem ("optimi*" matches optimise, optimization …): only where every word it
    # starts has the same sense ("tort*" would also be torture and tortoise).
    parts = sorted(terms, key=len, reverse=True)
    body = "|".join(re.escape(t[:-1]) + r"\w*" if t.endswith("*") else re.escape(t)
                    for t in parts)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


QUANTITATIVE = _lexicon(
    # Relations ("twice", "half", "more than"…) are RELATIONAL's, counted once, there.
    "calculat*", "compute", "computes", "computed", "computing", "computation*", "solve",
    "equation*", "integral*", "derivative*", "probabilit*",
    "matrix", "matrices", "polynomial*", "theorem*", "prime", "divisible", "modulo", "integer*",
    "fraction*", "percent*", "ratio", "proportion*", "average", "median", "variance",
    "standard deviation", "profit", "discount", "per hour", "per day", "per week", "each",
    "remaining", "rest of", "total", "altogether", "how many", "how much", "how long", "how far",
    "velocity", "acceleration", "momentum", "energy", "joule*", "newton*", "molar", "molarity",
    "mole", "moles", "molecul*",
    "entropy", "enthalpy", "kinetic", "potential", "vector*", "eigen*", "logarithm*", "exponent*",
    "factorial", "permutation*", "combination*", "expected value", "distribution", "area",
    "perimeter", "volume", "triangle*", "circle*", "radius", "diameter", "angle", "angles",
    "inequalit*", "remainder", "divided by", "multiply", "multiplies", "multiplied",
    "multiplying", "multiplication", "multiple of", "multiples of", "sum of", "product of",
    "square root", "digit", "digits", "decimal*", "slope", "intercept", "coordinate",
    "coordinates",
)
LOGICAL = _lexicon(
    "why", "explain", "prove", "proof", "derive", "justify", "deduce", "infer", "infers",
    "inferred", "inferring", "inference*", "implies",
    "therefore", "hence", "thus", "consequently", "assume", "assuming", "suppose", "if and only if",
    "necessary", "sufficient", "valid", "invalid", "premise*", "conclusion*", "argument*",
    "contradict*", "step by step", "reason*", "analy*", "evaluate", "compare", "contrast",
    "trade-off*", "tradeoff*", "which of the following", "most likely", "best explains",
    "strongest", "weakest", "would most", "unless", "whereas", "despite",
    # The classic verbal-reasoning puzzles: family relations, direction sense, seating and
    # ordering, race positions, truth-tellers and liars, verdicts on a claim.
    "father of", "mother of", "son of", "daughter of", "brother of", "sister of", "uncle of",
    "aunt of", "grandfather of", "grandmother of", "grandson of", "granddaughter of",
    "cousin of", "nephew of", "niece of", "to the left of", "to the right of", "north of",
    "south of", "east of", "west of", "clockwise", "anticlockwise", "counterclockwise",
    "which direction", "turns left", "turns right", "turned left", "turned right", "in front of",
    "next to", "sits between", "sitting between", "in a row", "in a circle", "second place",
    "third place", "last place", "overtake*", "what position", "always lies",
    "always tells the truth", "liar*", "truth-teller*", "uncertain", "must be true",
    "cannot be determined", "does not belong", "odd one out", "riddle*", "brain teaser*",
    "trick question",
)
# Categorical statements, the premises of a syllogism ("all bloops are razzies").
_CATEGORICAL = re.compile(r"\b(?:all|no|some)\s+\w+\s+are\b", re.IGNORECASE)
EXPERT = _lexicon(
    # law
    "plaintiff", "defendant", "statute*", "constitutional*", "tort", "torts", "tortious",
    "negligen*", "liab*",
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
    # Not "class" or "method": school classes and methods are everywhere in word problems; not
    # "functional" or "functioning" (biology) nor a bare "exception" (a hearsay exception).
    "function", "functions", "algorithm*", "implement*", "refactor*", "compile*",
    "runtime", "recursion", "recursive", "complexity", "big-o", "data structure*", "pointer*",
    "thread*", "async*", "await", "api", "database", "query", "sql", "regex*", "parse*",
    "python", "javascript", "typescript", "java", "golang", "rust", "c++", "code", "bug", "bugs",
    "buggy", "debug*", "stack trace", "exception handling", "unhandled exception*",
    "throw an exception", "throws an exception", "raise an exception",
    "raises an exception", "unit test*", "integration test*", "mock",
    "mocks", "mocked", "mocking",
    # "program" alone is also a policy or a broadcast: only in phrases that mean software.
    "programming", "programmer*", "program that", "program to", "program which",
    "program in", "script that", "script to", "shell script*", "html", "css",
    "array*", "linked list*", "hash map*", "hash table*", "binary tree*",
    "binary search", "command line", "command-line", "linux", "unix", "git", "docker",
    # Systems and machine learning as software topics; not "protocol", "schema" or "endpoint"
    # (medicine and psychology use them) nor "http" (every URL has it).
    "kubernetes", "microservice*", "tcp", "grpc", "websocket*", "encrypt*", "machine learning",
    "neural network*", "deep learning", "gradient descent", "backpropagation", "compiler*",
    "operating system*", "caching",
)
HARD_QE = _lexicon(
    "race condition*", "deadlock*", "livelock*", "concurren*", "thread-safe*", "thread safety",
    "nondetermin*", "non-determin*", "flaky", "flakiness", "memory leak*", "vulnerabilit*",
    "sql injection", "code injection", "command injection", "cryptograph*", "timing attack*",
    "side channel*", "fuzz*", "property-based", "invariant*", "edge case*", "corner case*",
    "mutation test*", "latency", "throughput", "scalab*", "distributed system*", "atomicity",
    "eventual consistency", "idempoten*", "rollback", "backward compat*",
)
# Hard QE topics in words that mean something else outside software: "security" studies, a
# "performance" review, "consistent" testimony, bird "migration", an "authorized" agent. They
# count only where the text is about software (see text_signals).
HARD_QE_IN_SOFTWARE = _lexicon(
    "atomic*", "intermittent*", "security", "injection", "exploit*", "authenticat*",
    "authoriz*", "boundary", "performance", "distributed", "consisten*", "transaction*",
    "migration*", "regression*",
)
CREATIVE = _lexicon(
    "write a story", "story", "poem", "poetry", "haiku", "lyrics", "compose", "imagine",
    "pretend", "role-play", "roleplay", "brainstorm", "slogan", "creative*", "blog post",
    # Not "character" (a scenario's main character, character evidence, a string's
    # characters) nor "invent*" (inventory, inventors).
    "essay", "persuasive", "catchy", "fictional", "invent",
)
SIMPLE = _lexicon(
    # Not "what is": word problems ask "what is the total …" (a look-up cue only when short).
    # Not "list" in mid-sentence ("a list of integers"); see _LOOKUP.
    "define", "definition",
    "name the", "summarize", "summarise", "summary", "translate", "rephrase", "reformat",
    "convert", "extract", "spell", "capital of", "yes or no", "true or false", "pass or fail",
    # Open-ended advice and description: any fluent model answers these well.
    "tips", "advice", "suggest*", "recommend*", "describe", "discuss", "pros and cons",
    "ideas for",
)
COMPARATIVE = _lexicon(
    # Reasoning about change and comparison ("if supply falls, does the price rise?").
    "increase*", "decrease*", "rise*", "rising", "fall", "falls", "falling", "fallen", "fell",
    "higher", "lower", "greater",
    "smaller", "bigger", "larger", "more", "less", "fewer", "than", "shift*", "grow", "grows",
    "growing", "grown", "growth", "shrink*", "reduc*", "raise*", "drop", "drops", "dropped",
    "dropping", "expand*", "taller", "shorter", "older", "younger", "faster",
    "slower", "heavier", "lighter", "cheaper", "earlier",
)
RECALL = _lexicon(
    # Factual-recall vocabulary (humanities, social and life science): questions over it are
    # answered from memory, which cheap models share with strong ones.
    "religio*", "buddh*", "christian*", "islam*", "muslim*", "hindu*", "jewish", "judaism",
    "confucian*", "sikh*", "shinto", "sacred", "ritual*", "worship*", "god", "gods", "dynasty",
    "empire", "emperor", "king", "kings", "kingdom", "queen", "century", "centuries", "ancient",
    "medieval", "colonial*", "revolution*", "war", "treaty", "psycholog*", "theory of",
    "theorist*", "according to", "refers to", "known as", "is called", "are called", "term",
    "concept", "characteristic*", "characteriz*", "characteris*", "cell", "cells", "dna", "rna",
    "gene", "genes", "species", "organism*", "tissue*",
    "organs", "hormone*", "neuron*", "culture*", "society", "social*", "identity", "nationalism",
    "feminis*", "philosopher*",
)
RELATIONAL = _lexicon(
    # Quantities stated as relations to other quantities ("twice as many as", "a third of the
    # rest"): the classic stumbling block of word problems, since each must be turned into an
    # operation in the right direction before anything can be computed.
    # One relation, one match: "twice as many" is a phrase, not "twice" and "as many".
    "twice as many", "twice as much", "half as many", "half as much", "times as many",
    "times as much", "half", "halves", "third", "thirds", "quarter", "quarters", "twice",
    "thrice", "double", "doubled", "doubles", "triple", "tripled", "triples", "times as",
    "times more", "as many", "as much", "more than", "less than", "fewer than",
)
# Look-up questions and list requests open a sentence ("Who was…?", "List the…"); mid-sentence
# "who is" starts a relative clause ("the runner who is in second place") and "a list of
# integers" is material, neither asks for a look-up.
_LOOKUP = re.compile(r"(?:^|[.?!:]\s+)(?:who (?:is|was)|when did|list)\b", re.IGNORECASE)
NEGATION = _lexicon("not", "except", "least", "incorrect", "false", "never", "cannot", "neither",
                    "nor", "without")

_QUANTITY = re.compile(r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
                       r"twenty|thirty|forty|fifty|hundred|thousand|dozen)s?\b", re.IGNORECASE)
_FRACTION = re.compile(r"\b\d+/\d+\b")
# Connectives of formal logic (⊃ implies, ≡ iff, \u2228 or, ∧ or · and, ¬ or ~ before a
# letter: not, quantifiers); "~5 ms" is an approximation, not a negation.
_LOGIC_SYMBOL = re.compile("[⊃≡\u2228∧·¬→↔∀∃]|~(?=[A-Za-z(])")
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
    comparative: int
    recall: int
    relational: int
    logic_symbols: int
    choices: ChoiceSignals  # of the answer options the text lists, if any

    def plus(self, other: TextSignals) -> TextSignals:
        """The signals of this text followed by ``other`` (material such as a task's context):
        counts add up; listed answer options belong to this text."""
        counts = {f: getattr(self, f) + getattr(other, f) for f in self.__slots__
                  if f != "choices"}
        return TextSignals(**counts, choices=self.choices)


def relations(text: str) -> int:
    """Quantities stated as relations to others, counted only where the text states a quantity
    (a digit or a number word): "as much as possible" in plain prose relates nothing."""
    if not _QUANTITY.search(text):
        return 0
    return len(RELATIONAL.findall(text)) + len(_FRACTION.findall(text))


def text_signals(text: str, about_software: bool = False) -> TextSignals:
    """``about_software``: the text comes with code, so its ambiguous QE words (security,
    performance…) mean the software sense even without software vocabulary of its own."""
    software = len(SOFTWARE.findall(text))
    hard_qe = len(HARD_QE.findall(text))
    if about_software or software or hard_qe:
        hard_qe += len(HARD_QE_IN_SOFTWARE.findall(text))
    choices = choice_signals(text)
    return TextSignals(
        clauses=len(_CLAUSE.findall(text)),
        quotes=len(_QUOTE.findall(text)) // 2,
        quantitative=len(QUANTITATIVE.findall(text)),
        # Options that each give several verdicts: one compound judgement.
        logical=len(LOGICAL.findall(text)) + len(_CATEGORICAL.findall(text))
        + choices.verdicts,
        expert=len(EXPERT.findall(text)),
        software=software,
        hard_qe=hard_qe,
        creative=len(CREATIVE.findall(text)),
        simple=len(SIMPLE.findall(text)) + len(_LOOKUP.findall(text)),
        negation=len(NEGATION.findall(text)),
        comparative=len(COMPARATIVE.findall(text)),
        recall=len(RECALL.findall(text)),
        relational=relations(text),
        logic_symbols=len(_LOGIC_SYMBOL.findall(text)),
        choices=choices,
    )


# --- code structure -------------------------------------------------------------------------
# Keyword counts come from one translate + split + Counter pass over the code (C-speed); a regex
# alternation per signal costs ten times more on large files.

BRANCH_WORDS = (b"if", b"elif", b"for", b"foreach", b"while", b"except", b"catch", b"case",
                b"when", b"and", b"or", b"unless", b"until", b"guard")
FUNCTION_WORDS = (b"def", b"function", b"func", b"fn", b"lambda")
CONCURRENCY_WORDS = (b"thread", b"threading", b"threads", b"async", b"await", b"lock", b"rlock",
                     b"mutex", b"semaphore", b"atomic", b"goroutine", b"chan", b"synchronized",
                     b"volatile", b"future", b"futures", b"executor", b"multiprocessing",
                     b"asyncio", b"spawn", b"condition", b"barrier", b"queue")
# Docstrings, block comments and line comments: English prose there ("if", "or", "for") is not
# control flow. (A URL in a string loses its tail too, which changes no keyword count.)
TRIPLE_QUOTES = (b'"""', b"'''")
_TRIPLE_QUOTES = tuple(q.decode() for q in TRIPLE_QUOTES)
_HASH_COMMENT = re.compile(rb"(#[^\n]*)")
_SLASH_COMMENT = re.compile(rb"(//[^\n]*)")
_BLOCK_COMMENT = re.compile(rb"(/\*[\s\S]*?\*/)")


@dataclass(frozen=True, slots=True)
class CodeSignals:
    tokens: int
    branches: int
    functions: int
    max_nesting: int
    concurrency: int


def _split_prose(data: bytes) -> tuple[bytes, bytes]:
    """(code, prose): docstrings and comments separated from the code around them."""
    prose: list[bytes] = []
    for quote in TRIPLE_QUOTES:
        if quote in data:
            parts = data.split(quote)
            prose.extend(parts[1::2])
            data = b" ".join(parts[::2])
    # Each pattern starts with a literal, which lets the regex engine skip ahead quickly; an
    # alternation of them would be tried at every byte (25x slower).
    for marker, pattern in ((b"/*", _BLOCK_COMMENT), (b"//", _SLASH_COMMENT),
                            (b"#", _HASH_COMMENT)):
        if marker in data:
            parts = pattern.split(data)  # one pass: code, comment, code, comment, …
            prose.extend(parts[1::2])
            data = b" ".join(parts[::2])
    return data, b" ".join(prose)


def _max_nesting(text: str) -> int:
    """Deepest indentation level (formatted code of any language is indented), in units of the
    first indented line's indentation."""
    first = text.find("\n ")
    tabbed = text.find("\n\t")
    if tabbed != -1 and (first == -1 or tabbed < first):
        unit = "\t"
    elif first != -1:
        start = first + 1
        end = start
        while end < len(text) and text[end] == " ":
            end += 1
        unit = " " * min(max(end - start, 2), 4)
    else:
        return 0
    low, high = 0, 1  # binary search: few scans even for deep nesting
    while "\n" + unit * high in text:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if "\n" + unit * mid in text else (low, mid)
    return low


def _count_if_present(data: bytes, needle: bytes) -> int:
    # A one-byte membership test is a memchr; skip the slower multi-byte count when absent.
    return data.count(needle) if needle[:1] in data else 0


# Large files are counted on a sample at fixed offsets: the head in full, then a window every
# STRIDE characters. Each window stands for the text up to the next one, and past SCAN_END all of
# the sample scales with the length. Fixed offsets keep the estimate from ever falling as a
# file grows: appending leaves every piece counted so far as it was (windows placed in
# proportion to the length would move, and more of the same code could count lower). Keyword
# counts scale with size, so a 1 MiB payload costs what 10 KiB does; the deepest nesting is
# read from the first SCAN_END characters (a few substring searches).
HEAD = 4 * 1024
WINDOW = 768
STRIDE = 3584
WINDOWS = 8
SCAN_END = HEAD + WINDOWS * STRIDE  # 32 Ki characters


class _Piece(NamedTuple):
    data: bytes
    # The same bytes with the triple quotes open at either end closed: a docstring cut by the
    # window stays prose, and the pieces of a group can be split into code and prose at once.
    balanced: bytes


def _sample(text: str, size: int) -> list[tuple[list[_Piece], float]]:
    """Pieces of a file of ``size`` characters, whose first SCAN_END characters are ``text``,
    in groups of one weight (how many characters of the file each of theirs stands for),
    counted together: the head, the whole windows, the last window."""
    beyond = max(1.0, size / SCAN_END)
    layout = [(0, HEAD, HEAD)] + [(start, WINDOW, STRIDE) for start in
                                   range(HEAD, min(size, SCAN_END), STRIDE)]
    groups: dict[float, list[_Piece]] = {}
    quotes = [q for q in _TRIPLE_QUOTES if q in text]
    opened = dict.fromkeys(quotes, 0)  # quotes seen before the piece: one pass in all
    previous = 0
    for start, width, stride in layout:
        piece = text[start:start + width]
        before, after = "", ""
        for q in quotes:
            opened[q] += text.count(q, previous, start)
            if opened[q] % 2:
                before += q
            if (opened[q] + piece.count(q)) % 2:
                after += q
        previous = start
        stands_for = min(size, start + stride) - start
        raw = piece.encode("utf-8", "replace")
        groups.setdefault(beyond * stands_for / max(len(piece), 1), []).append(
            _Piece(raw, before.encode() + raw + after.encode()))
    return [(pieces, weight) for weight, pieces in groups.items()]


def code_signals(source: str) -> CodeSignals:
    # Offsets count characters; only the sampled pieces are encoded.
    text = source[:SCAN_END]
    totals = dict.fromkeys(("tokens", "branches", "functions", "concurrency"), 0.0)
    for pieces, weight in _sample(text, len(source)):
        code, prose = _split_prose(b"\n".join(piece.balanced for piece in pieces))
        words = code.translate(SPLIT_TABLE).split()
        logic = Counter(words)
        counts = {
            "tokens": count_tokens(b"\n".join(piece.data for piece in pieces),
                                   len(words) + len(prose.translate(SPLIT_TABLE).split())),
            "branches": sum(map(logic.__getitem__, BRANCH_WORDS))
            + _count_if_present(code, b"&&") + _count_if_present(code, b"||")
            + _count_if_present(code, b" ? "),
            "functions": sum(map(logic.__getitem__, FUNCTION_WORDS))
            + _count_if_present(code, b"=>"),
            "concurrency": sum(map(logic.__getitem__, CONCURRENCY_WORDS)),
        }
        for name, count in counts.items():
            totals[name] += count * weight
    return CodeSignals(**{name: round(total) for name, total in totals.items()},
                       max_nesting=_max_nesting("\n" + text))
