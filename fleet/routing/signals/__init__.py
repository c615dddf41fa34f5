"""Signals the complexity analyzer reads from a task: text demands, code structure and
multiple-choice options. Each is a count or ratio from C-speed scans (compiled regexes,
``bytes.count``), so analysing a task with 8k tokens of code stays well under a millisecond."""

from fleet.routing.signals.choices import ChoiceSignals, choice_signals
from fleet.routing.signals.code import CodeSignals, code_signals
from fleet.routing.signals.text import TextSignals, text_signals

__all__ = ["ChoiceSignals", "CodeSignals", "TextSignals", "choice_signals", "code_signals",
           "text_signals"]
