"""Signals of a question's listed answer options ("A. 42", "(b) 3.5%", "C. True, False").

How a multiple-choice question is put says how the answer must be found: options that are all
numbers must be computed, not recognised; options that share most of their words differ in a
detail the answer turns on; a stem that is a statement to complete ("The court should …")
rather than a question leaves the reader to work out what is asked; options that each give a
verdict on several statements compound their judgements, and so does an option that combines
the others ("Both A and B", "None of the above"): the options are then no longer exclusive
alternatives, and each must be judged on its own before their combination can be. Options
that are whole statements ask which claim is true, which is recognised more than derived: at
equal length such questions need a strong model less than ones whose options are a term, a
name or a number the reader must arrive at.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

# One option per line: a letter A-E, "." or ")", then the option's text.
_OPTION = re.compile(r"^[ \t]*\(?[A-Ea-e][.)][ \t]+(.*?)[ \t]*$", re.MULTILINE)
_NUMBER = re.compile(r"[-+$\d.,%/ ]*\d[-+$\d.,%/ ]*")
_VERDICT = r"(?:not\s+)?(?:true|false|yes|no|wrong|right|correct|incorrect|valid|invalid)"
_VERDICT_TUPLE = re.compile(rf"{_VERDICT}(?:\s*,\s*{_VERDICT})+\.?", re.IGNORECASE)
_WORD = re.compile(r"\w+")
# "All of the above", "none of these", "any of them", "both", "Both A and C", "Neither (a) nor
# (b)"; a longer option that opens with "both" says something of its own.
_COMBINED = re.compile(r"(?:(?:none|all|any)\s+(?:of\s+)?(?:the\s+)?(?:above|these|them)"
                       r"|(?:both|neither)\b.{0,20})\.?", re.IGNORECASE)
# A question lists a handful of options; a long list of lettered lines is material, and its
# first lines say as much as all of them (and cost a bounded time to read).
MAX_OPTIONS = 26
MAX_COMPARED = 8  # options compared pairwise for overlap
STATEMENT_WORDS = 6  # an option of this many words or more is a statement, not a short answer


@dataclass(frozen=True, slots=True)
class ChoiceSignals:
    numeric: float = 0.0  # share of the options that are numbers, in [0, 1]
    overlap: float = 0.0  # mean word overlap (Jaccard) of each pair of options, in [0, 1]
    cloze: bool = False  # the stem is a statement to complete, not a question or a list intro
    verdicts: bool = False  # two or more options each give several verdicts
    combined: bool = False  # an option combines the others ("both", "none of the above")
    statements: float = 0.0  # share of the options that are whole statements, in [0, 1]


NO_CHOICES = ChoiceSignals()


def choice_signals(text: str) -> ChoiceSignals:
    """The signals of the options listed in ``text``; NO_CHOICES unless it lists two or more."""
    found = list(itertools.islice(_OPTION.finditer(text), MAX_OPTIONS))
    if len(found) < 2:
        return NO_CHOICES
    options = [m.group(1) for m in found]
    words = [_WORD.findall(o.lower()) for o in options]
    stem = text[:found[0].start()].rstrip().rstrip("\"'”)")
    return ChoiceSignals(
        numeric=sum(1 for o in options if _NUMBER.fullmatch(o)) / len(options),
        overlap=word_overlap(words[:MAX_COMPARED]),
        # "The court should" asks to be completed; "Review it for:" introduces a list.
        cloze=bool(stem) and not stem.endswith(("?", ":")),
        verdicts=sum(1 for o in options if _VERDICT_TUPLE.fullmatch(o)) >= 2,
        combined=any(_COMBINED.fullmatch(o) for o in options),
        statements=sum(1 for w in words if len(w) >= STATEMENT_WORDS) / len(options),
    )


def word_overlap(options: list[list[str]]) -> float:
    """Mean Jaccard overlap of each pair of options, given as their (lower-cased) words."""
    sets = [frozenset(w) for w in options if w]
    pairs = list(itertools.combinations(sets, 2))
    if not pairs:
        return 0.0
    return sum(len(a & b) / len(a | b) for a, b in pairs) / len(pairs)
