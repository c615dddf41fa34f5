"""Text signals: what a request asks for (reasoning, quantities, expert domains, hard QE topics).

Every signal is a count or ratio computed by C-speed scans (compiled regexes, ``bytes.count``),
so analysing a task with 8k tokens of code stays well under a millisecond. Lexicons are general
vocabulary of each kind of demand (quantitative, logical, expert-domain, creative, simple
look-up, hard QE topics), matched as whole words or phrases — multi-word cues such as
"race condition" or "step by step" match as phrases, which a split-into-words scan cannot do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from fleet.routing.signals.choices import ChoiceSignals, choice_signals


class Folded(NamedTuple):
    """A text as the scans read it: lower-cased (every pattern here is lower-case, cheaper than
    matching any case) and led by a space, so that its first word follows a non-word character.
    In ASCII text every non-word character but the space and the two that terms contain ("-",
    "+") is folded into NUL, so that a lexicon's scan starts only at one of four characters."""

    lowered: str
    padded: str
    ascii: bool


_FOLD = str.maketrans({c: "\0" for c in map(chr, range(128))
                       if not re.match(r"\w", c) and c not in " +-"})


def fold(text: str) -> Folded:
    lowered = text.lower()
    if lowered.isascii():
        return Folded(lowered, " " + lowered.translate(_FOLD), True)
    return Folded(lowered, " " + lowered, False)


class Lexicon:
    """Whole words or phrases; a trailing "*" marks a stem ("optimi*" matches optimise,
    optimization …): only where every word it starts has the same sense ("tort*" would also be
    torture and tortoise).

    A term must follow a non-word character and not be followed by a word character (unlike
    \\b, this also ends a term in a symbol: "c++"). Where several terms match at one place the
    longest wins ("race condition" over "race"). Two things keep a scan near one step per
    character however many terms there are: the terms form a trie (the regex engine tries
    alternatives one by one), and the pattern opens with the non-word character it consumes, so
    the engine skips ahead to candidates in its fast loop instead of trying every position.
    """

    def __init__(self, *terms: str) -> None:
        trie: dict[str, Any] = {}
        for term in terms:
            node = trie
            stem = term.endswith("*")
            for char in term.lower().removesuffix("*"):
                node = node.setdefault(char, {})
            node["*" if stem else ""] = True
        body = _branches(trie)
        self.pattern = re.compile(rf"\W(?:{body})(?!\w)")  # lower-case text after a space
        self._folded = re.compile(rf"[\0 +\-](?:{body})(?!\w)")  # folded ASCII text

    def _for(self, text: Folded) -> re.Pattern[str]:
        return self._folded if text.ascii else self.pattern

    def count(self, text: Folded) -> int:
        return len(self._for(text).findall(text.padded))

    def found(self, text: Folded) -> bool:
        return self._for(text).search(text.padded) is not None


def _branches(node: dict[str, Any]) -> str:
    # Longer continuations before a stem's rest before the end of a term: longest match first.
    ends = ([r"\w*"] if "*" in node else []) + ([""] if "" in node else [])
    paths = [re.escape(char) + _group(_branches(child))
             for char, child in sorted(node.items()) if char not in ("", "*")]
    return "|".join(paths + ends)


def _group(body: str) -> str:
    return f"(?:{body})" if "|" in body else body


QUANTITATIVE = Lexicon(
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
LOGICAL = Lexicon(
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
_CATEGORICAL = re.compile(r"\b(?:all|no|some)\s+\w+\s+are\b")
EXPERT = Lexicon(
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
SOFTWARE = Lexicon(
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
HARD_QE = Lexicon(
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
HARD_QE_IN_SOFTWARE = Lexicon(
    "atomic*", "intermittent*", "security", "injection", "exploit*", "authenticat*",
    "authoriz*", "boundary", "performance", "distributed", "consisten*", "transaction*",
    "migration*", "regression*",
)
# Hard *properties* a QE task can ask about, whose difficulty lies in the domain however short
# the request: concurrency, exploits, nondeterminism, distributed consistency. (Boundaries, edge
# cases, performance or regressions are QE topics, but routine to test.)
HARD_PROPERTY = Lexicon(
    "race condition*", "deadlock*", "livelock*", "concurren*", "thread-safe*", "thread safety",
    "nondetermin*", "non-determin*", "flaky", "flakiness", "memory leak*", "vulnerabilit*",
    "sql injection", "code injection", "command injection", "timing attack*", "side channel*",
    "atomicity", "eventual consistency", "idempoten*", "invariant*", "linearizab*",
    "serializab*", "heisenbug*", "use-after-free", "toctou", "deserializ*", "path traversal",
    "privilege escalation", "cross-site", "ssrf", "xss", "csrf", "exactly-once",
    "at-least-once", "network partition*", "lost update*", "double-checked locking",
    "memory model", "memory order*", "happens-before",
)
# ... and the ones that are ordinary words elsewhere, counted only in a text about software;
# a failure that comes and goes ("fails 1 run in 200", "only on CI") among them.
HARD_PROPERTY_IN_SOFTWARE = Lexicon(
    "race", "races", "atomic*", "intermittent*", "exploit*", "injection", "contention",
    "partition*", "sometimes", "occasionally", "randomly", "on ci", "passes locally",
)
_RATE_OF_FAILURE = re.compile(r"(?<!\w)(?:\d+|one)\s+(?:run|time|build|try)s?\s+(?:in|out of)"
                              r"\s+(?:\d+|every)")
CREATIVE = Lexicon(
    "write a story", "story", "poem", "poetry", "haiku", "lyrics", "compose", "imagine",
    "pretend", "role-play", "roleplay", "brainstorm", "slogan", "creative*", "blog post",
    # Not "character" (a scenario's main character, character evidence, a string's
    # characters) nor "invent*" (inventory, inventors).
    "essay", "persuasive", "catchy", "fictional", "invent",
)
SIMPLE = Lexicon(
    # Not "what is": word problems ask "what is the total …" (a look-up cue only when short).
    # Not "list" in mid-sentence ("a list of integers"); see _LOOKUP.
    "define", "definition",
    "name the", "summarize", "summarise", "summary", "translate", "rephrase", "reformat",
    "convert", "extract", "spell", "capital of", "yes or no", "true or false", "pass or fail",
    # Open-ended advice and description: any fluent model answers these well.
    "tips", "advice", "suggest*", "recommend*", "describe", "discuss", "pros and cons",
    "ideas for",
)
COMPARATIVE = Lexicon(
    # Reasoning about change and comparison ("if supply falls, does the price rise?").
    "increase*", "decrease*", "rise*", "rising", "fall", "falls", "falling", "fallen", "fell",
    "higher", "lower", "greater",
    "smaller", "bigger", "larger", "more", "less", "fewer", "than", "shift*", "grow", "grows",
    "growing", "grown", "growth", "shrink*", "reduc*", "raise*", "drop", "drops", "dropped",
    "dropping", "expand*", "taller", "shorter", "older", "younger", "faster",
    "slower", "heavier", "lighter", "cheaper", "earlier",
)
RECALL = Lexicon(
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
RELATIONAL = Lexicon(
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
_LOOKUP = re.compile(r"(?:^|[.?!:]\s+)(?:who (?:is|was)|when did|list)\b")
NEGATION = Lexicon("not", "except", "least", "incorrect", "false", "never", "cannot", "neither",
                    "nor", "without")

_DIGIT = re.compile(r"\d")
_NUMBER_WORD = Lexicon(*(w + s for w in ("two", "three", "four", "five", "six", "seven", "eight",
                                          "nine", "ten", "eleven", "twelve", "twenty", "thirty",
                                          "forty", "fifty", "hundred", "thousand", "dozen")
                          for s in ("", "s")))
_FRACTION = re.compile(r"\b\d+/\d+\b")
# Connectives of formal logic (⊃ implies, ≡ iff, \u2228 or, ∧ or · and, ¬ or ~ before a
# letter: not, quantifiers); "~5 ms" is an approximation, not a negation.
_LOGIC_SYMBOL = re.compile("[⊃≡\u2228∧·¬→↔∀∃]|~(?=[A-Za-z(])")
_CONJUNCTION = Lexicon("and", "but", "then", "after", "before", "while", "if", "when", "which",
                        "that", "because")


@dataclass(frozen=True, slots=True)
class TextSignals:
    clauses: int
    quotes: int
    quantitative: int
    logical: int
    expert: int
    software: int
    hard_qe: int
    hard_property: int  # hard properties asked about, in a text about software
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


def relations(text: Folded) -> int:
    """Quantities stated as relations to others, counted only where the text states a quantity
    (a digit or a number word): "as much as possible" in plain prose relates nothing."""
    if not (_DIGIT.search(text.lowered) or _NUMBER_WORD.found(text)):
        return 0
    fractions = len(_FRACTION.findall(text.lowered)) if "/" in text.lowered else 0
    return RELATIONAL.count(text) + fractions


def text_signals(text: str, about_software: bool = False) -> TextSignals:
    """``about_software``: the text comes with code, so its ambiguous QE words (security,
    performance…) mean the software sense even without software vocabulary of its own.
    Rare patterns run only where their anchor character or word occurs at all."""
    choices = choice_signals(text)
    folded = fold(text)
    lowered = folded.lowered
    software = SOFTWARE.count(folded)
    hard_qe = HARD_QE.count(folded)
    if about_software or software or hard_qe:
        hard_qe += HARD_QE_IN_SOFTWARE.count(folded)
    hard_property = 0
    if about_software:
        hard_property = HARD_PROPERTY.count(folded)
        # "race condition" once, not also as "race"
        rest = HARD_PROPERTY.pattern.sub(" ", " " + lowered)
        hard_property += (len(HARD_PROPERTY_IN_SOFTWARE.pattern.findall(rest))
                          + len(_RATE_OF_FAILURE.findall(rest)))
    lookups = (len(_LOOKUP.findall(lowered))
               if "who " in lowered or "when did" in lowered or "list" in lowered else 0)
    return TextSignals(
        clauses=lowered.count(",") + lowered.count(";") + lowered.count(":")
        + _CONJUNCTION.count(folded),
        quotes=(lowered.count('"') + lowered.count("“") + lowered.count("”")) // 2,
        quantitative=QUANTITATIVE.count(folded),
        # Options that each give several verdicts: one compound judgement.
        logical=LOGICAL.count(folded) + choices.verdicts
        + (len(_CATEGORICAL.findall(lowered)) if "are" in lowered else 0),
        expert=EXPERT.count(folded),
        software=software,
        hard_qe=hard_qe,
        hard_property=hard_property,
        creative=CREATIVE.count(folded),
        simple=SIMPLE.count(folded) + lookups,
        negation=NEGATION.count(folded),
        comparative=COMPARATIVE.count(folded),
        recall=RECALL.count(folded),
        relational=relations(folded),
        logic_symbols=(0 if folded.ascii and "~" not in lowered
                       else len(_LOGIC_SYMBOL.findall(lowered))),
        choices=choices,
    )
