"""Lexical signals: phrases match as phrases, JSON does not hide words, code structure tracks
ast / lizard."""

from __future__ import annotations

import ast
import inspect
import json
import re

import lizard
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fleet.routing.signals import code as code_signals_module
from fleet.routing.signals import code_signals, text_signals
from fleet.routing.signals.choices import NO_CHOICES, choice_signals, word_overlap
from fleet.routing.signals.text import Lexicon, fold
from fleet.routing.tokens import estimate_tokens


def test_multi_word_cues_match_as_phrases() -> None:
    s = text_signals("Cover every edge case and the race condition, step by step.")
    assert s.hard_qe == 2
    assert s.logical >= 1


TERMS = ("race", "race condition*", "c++", "trade-off*", "optimi*", "not", "non-determin*",
         "as many", "twice as many", "per day", "condition")
PLAIN = re.compile(  # the naive form of the same lexicon: every term, longest first, any case
    r"(?<!\w)(?:" + "|".join(re.escape(t.rstrip("*")) + (r"\w*" if t.endswith("*") else "")
                            for t in sorted(TERMS, key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE)
PIECES = st.sampled_from([t.rstrip("*") for t in TERMS] + [
    "s", "ation", "Race", "NOT", "x", "é", "—", " ", "  ", "\n", "\t", "-", "+", ",", "(", ")",
    "\"", "'", "_", "0", "/", "Ünïcode", "\u00a0"])


@given(st.lists(PIECES, max_size=30).map("".join))
@example("twice as many race condition, well-not, (race)\nconditions; c++-based "
         "non-deterministic—optimise+not_this")
def test_a_lexicon_counts_what_its_naive_alternation_counts(text: str) -> None:
    # The trie, the folded ASCII scan and the any-text scan are optimisations, not semantics.
    lexicon = Lexicon(*TERMS)
    expected = len(PLAIN.findall(text))
    assert lexicon.count(fold(text)) == expected
    assert len(lexicon.pattern.findall(" " + text.lower())) == expected


def test_words_glued_to_json_keys_are_found() -> None:
    glued = json.dumps({"risk": "race condition", "area": "deadlock", "note": "flaky"})
    assert text_signals(glued).hard_qe == 3


def test_stems_and_case_insensitivity() -> None:
    s = text_signals("Optimise CONCURRENCY; a Vulnerability in authentication")
    assert s.hard_qe == 3  # concurrency, vulnerability, authentication


def test_systems_and_machine_learning_are_software_but_a_clinical_protocol_is_not() -> None:
    s = text_signals("Serve a neural network trained by gradient descent from a gRPC microservice")
    assert s.software == 4
    assert text_signals("Follow the trial protocol; the schema lists each endpoint").software == 0


def test_stems_match_only_words_of_the_same_sense() -> None:
    # Each word here starts like a cue ("tort*", "infer*", "comput*"…) but means something else.
    other_senses = ("torture inferior computer digital multiple coordinated anglers molested "
                    "functional exceptional mockingbird bugle fallacy growl dropbox "
                    "characteristic inventory")
    s = text_signals(other_senses)
    assert (s.expert, s.logical, s.quantitative, s.software, s.comparative, s.creative) == (
        0, 0, 0, 0, 0, 0)
    s = text_signals("Compute the tort damages; infer the digits; a bug in C++ code")
    assert (s.quantitative, s.expert, s.logical, s.software) == (2, 1, 1, 3)


def test_ambiguous_qe_words_count_only_about_software() -> None:
    prose = "The security council praised the consistent performance of the migration office."
    assert text_signals(prose).hard_qe == 0
    assert text_signals(prose, about_software=True).hard_qe == 4
    # Software vocabulary, or an unambiguous QE cue, says what the text is about.
    assert text_signals("Check the API for security holes and slow performance.").hard_qe == 2
    assert text_signals("Login authentication is flaky under concurrency.").hard_qe == 3


def test_logic_connectives_but_not_approximations() -> None:
    assert text_signals("(P ⊃ Q) · ~R ≡ ¬S \u2228 T").logic_symbols == 6
    assert text_signals("latency ~5 ms, ~ 200 requests").logic_symbols == 0


def test_creative_and_simple_cues() -> None:
    assert text_signals("Write a poem about unit tests").creative == 1
    assert text_signals("Who is on call? Define a mock. List the fixtures.").simple == 3
    # Mid-sentence "who is" opens a relative clause, not a look-up question, and "a list of"
    # is material, not a request to list.
    assert text_signals("You pass the runner who is in second place.").simple == 0
    assert text_signals("Write a function that sorts a list of integers.").simple == 0
    # A scenario's main character is no request for fiction.
    assert text_signals("Did the main character do something wrong?").creative == 0


def test_verbal_reasoning_puzzles_read_as_logical() -> None:
    assert text_signals("A is the father of B and sits to the left of C.").logical == 2
    assert text_signals("All bloops are razzies and some razzies are lazzies.").logical == 2
    assert text_signals("In a race you overtake the runner in second place.").logical == 2
    assert text_signals("The garden is next door to a red house.").logical == 0


def test_options_that_each_judge_several_statements_read_as_logical() -> None:
    pairs = "Statement 1 | … Statement 2 | …\nA. True, True\nB. False, False\nC. True, False"
    assert text_signals(pairs).logical == 1
    scenarios = "Scenario 1 | … Scenario 2 | …\nA. Wrong, Not wrong\nB. Not wrong, Wrong"
    assert text_signals(scenarios).logical == 1
    assert text_signals("Is it sound?\nA. True\nB. False").logical == 0


def test_numeric_answer_options() -> None:
    numeric = "Which load gives p99 under budget?\nA. 120\nB. 3.5%\nC. $1,200\nD. 1/4\nAnswer:"
    assert text_signals(numeric).choices.numeric == 1.0
    mixed = "Pick one:\n(a) 12 workers\n(b) 8\n(c) none\n(d) 4"
    assert text_signals(mixed).choices.numeric == 0.5  # "8" and "4"
    assert text_signals("A. single line that looks like an option 42").choices == NO_CHOICES


def test_options_that_differ_in_a_detail_overlap() -> None:
    detail = ("Under load the pool should\nA. grow when the queue is long\n"
              "B. shrink when the queue is long\nC. grow when the queue is short")
    distinct = "Which tool?\nA. a profiler\nB. tracing spans\nC. load generator"
    assert choice_signals(detail).overlap > 0.6
    assert choice_signals(distinct).overlap == 0.0
    assert choice_signals("Which?\nA. Same words\nB. same WORDS").overlap == 1.0
    assert word_overlap([["a", "b"], ["b", "c"], []]) == pytest.approx(1 / 3)


def test_a_stem_to_complete_is_a_cloze_and_a_question_is_not() -> None:
    assert choice_signals("The retry budget is best spent on\nA. reads\nB. writes").cloze
    assert not choice_signals("Which is retried?\nA. reads\nB. writes").cloze
    assert not choice_signals("Review the PR for:\nA. input checks\nB. error paths").cloze
    # A question quoted in the stem is still a question.
    assert not choice_signals('He asked "which is retried?"\nA. reads\nB. writes').cloze


@pytest.mark.parametrize("option", [
    "All of the above", "none of these.", "Any of them", "all the above", "Both",
    "Both A and C", "Neither (a) nor (b)", "neither of these"])
def test_an_option_that_combines_the_others_is_read(option: str) -> None:
    assert choice_signals(f"Which checks run in CI?\nA. lint\nB. tests\nC. {option}").combined


@pytest.mark.parametrize("option", [
    "Both the reader and the writer must hold the lock", "None", "All tests", "them above"])
def test_an_option_of_its_own_is_not_a_combination(option: str) -> None:
    assert not choice_signals(f"Which is true?\nA. lint\nB. tests\nC. {option}").combined


def test_the_share_of_options_that_are_statements() -> None:
    mixed = ("Which is true?\nA. a retry must carry the same idempotency key\nB. jitter\n"
             "C. backoff\nD. the broker drops messages it cannot route")
    assert choice_signals(mixed).statements == 0.5
    assert choice_signals("Which?\nA. one two three four five\nB. six").statements == 0.0


def test_comparative_and_recall_cues() -> None:
    s = text_signals("If latency rises while throughput falls, is the queue larger than before?")
    assert s.comparative == 4  # rises, falls, larger, than
    assert text_signals("Tom is taller than Sara but younger.").comparative == 3
    recall = text_signals("Which dynasty built it, according to the ancient sources?")
    assert recall.recall == 3  # dynasty, according to, ancient


def test_quantities_stated_as_relations() -> None:
    s = text_signals("Ana has twice as many as Ben, who has 3/4 of the rest and 5 more than Cy.")
    assert s.relational == 3  # twice as many, 3/4, more than
    assert text_signals("Half of the seven jars hold more than the rest.").relational == 2
    assert text_signals("Speak like him as much as possible, more than ever.").relational == 0


def test_token_estimate_is_close_to_bpe_rates() -> None:
    prose = "The quick brown fox jumps over the lazy dog. " * 20
    assert 180 <= estimate_tokens(prose) <= 240  # cl100k: 10 tokens per sentence
    assert estimate_tokens("") == 0
    assert estimate_tokens("日本語のテキスト") >= 5


PY_SAMPLE = '''
def a(x):
    if x > 1 and x < 10:
        for i in range(x):
            while i:
                i -= 1
    return x

def b(y):
    try:
        return y or 0
    except ValueError:
        return None
'''

JS_SAMPLE = '''
function f(a) {
    if (a && a.b) {
        for (const x of a.b) {
            if (x > 1) { return x; }
        }
    }
    return a ? 1 : 2;
}
const g = (x) => x || 0;
'''


def test_code_signals_on_python_and_javascript() -> None:
    py = code_signals(PY_SAMPLE)
    assert (py.functions, py.max_nesting) == (2, 4)
    assert py.branches == 6  # if, and, for, while, or, except
    js = code_signals(JS_SAMPLE)
    assert js.functions == 2 and js.max_nesting == 3
    assert js.branches >= 6


def _reference_modules() -> list[str]:
    import celery.app.base
    import celery.worker.consumer.consumer
    import kombu.connection
    import redis.client

    return [inspect.getsource(m) for m in (celery.app.base, celery.worker.consumer.consumer,
                                           kombu.connection, redis.client)]


def _reference_counts(source: str) -> tuple[int, int]:
    tree = ast.parse(source)
    functions = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                    for n in ast.walk(tree))
    analysis = lizard.analyze_file.analyze_source_code("m.py", source)
    return functions, sum(f.cyclomatic_complexity - 1 for f in analysis.function_list)


def test_code_signals_track_ast_and_lizard_on_real_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scanned in full, the lexical counts follow ast's function count and lizard's cyclomatic
    complexity on real modules (they stand in for both because they are ~20x faster)."""
    monkeypatch.setattr(code_signals_module, "HEAD", 1 << 30)
    monkeypatch.setattr(code_signals_module, "SCAN_END", 1 << 30)
    for source in _reference_modules():
        ours = code_signals(source)
        functions, ccn = _reference_counts(source)
        assert 0.8 * functions <= ours.functions <= 1.2 * functions
        assert 0.7 * ccn <= ours.branches <= 1.4 * ccn, (ours.branches, ccn)


def test_sampled_counts_of_large_files_stay_close() -> None:
    """Files over HEAD are counted on windows at fixed offsets and scaled."""
    ours = [code_signals(source) for source in _reference_modules()]
    full = [_reference_counts(source) for source in _reference_modules()]
    assert 0.5 <= sum(o.functions for o in ours) / sum(f for f, _ in full) <= 1.5
    assert 0.5 <= sum(o.branches for o in ours) / sum(c for _, c in full) <= 1.5


def test_a_window_wholly_inside_a_docstring_counts_no_code() -> None:
    prose = "if the queue is long and the pool is small or busy, wait. " * 600  # ~35 KB
    assert code_signals(f'x = 1\n"""{prose}"""\nif x:\n    pass\n').branches <= 2
