"""Code-structure signals: branches, functions, nesting and concurrency primitives in source.

Keyword counts come from one translate + split + Counter pass over the code (C-speed); a regex
alternation per signal costs ten times more on large files. Large sources are sampled (a head
and evenly spaced windows), so a 1 MiB payload costs about what 8k tokens do.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from fleet.routing.tokens import SPLIT_TABLE, count_tokens

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
