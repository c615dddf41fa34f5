"""ComplexityAnalyzer: bounds, monotonicity, and that each signal moves the score the right way."""

from __future__ import annotations

import inspect

import celery.app.trace
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.config import ComplexityWeights, load_config
from fleet.contracts import QETask, SourceFile, TaskType
from fleet.routing.complexity import ComplexityAnalyzer
from tests.config.test_config import SHIPPED
from tests.routing.qe_pairs import PAIRS as QE_PAIRS

analyzer = ComplexityAnalyzer()

SNIPPET = """
def transfer(a, b, amount, lock):
    with lock:
        if amount <= 0 or a.balance < amount:
            raise ValueError("bad amount")
        for account in (a, b):
            while account.busy:
                account.wait()
        a.balance -= amount
        b.balance += amount
"""


def score(**fields: object) -> float:
    base: dict[str, object] = {"type": "test-generation", "description": "Write tests."}
    return analyzer.analyze(QETask.model_validate(base | fields)).overall


texts = st.text(max_size=400)
task_types = st.sampled_from(list(TaskType))


@settings(max_examples=200, deadline=None)
@given(description=texts.filter(str.strip), code=st.one_of(st.none(), texts), kind=task_types,
       context=st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=5))
def test_overall_is_within_bounds(description: str, code: str | None, kind: TaskType,
                                  context: dict[str, str]) -> None:
    result = analyzer.analyze(QETask(type=kind, description=description, code=code,
                                     context=context))
    assert 0.0 <= result.overall <= 1.0
    assert result.token_count >= 0 and result.explanation


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from([SNIPPET, "x = 1\n", "for i in range(3):\n    if i:\n        pass\n"])
       | st.text(min_size=1, max_size=300), times=st.integers(2, 20), kind=task_types)
def test_more_of_the_same_code_never_scores_lower(code: str, times: int, kind: TaskType) -> None:
    # The same lines again: "THREAD" glued to itself is another word ("THREADTHREAD"), not
    # more of the same code.
    lines = code if code.endswith("\n") else code + "\n"
    once = analyzer.analyze(QETask(type=kind, description="Review this.", code=lines)).overall
    many = analyzer.analyze(QETask(type=kind, description="Review this.",
                                   code=lines * times)).overall
    assert many >= once


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 20_000), length=st.integers(1, 12_000), times=st.integers(1, 12),
       more=st.integers(1, 12))
def test_more_of_the_same_large_code_never_scores_lower(start: int, length: int, times: int,
                                                        more: int) -> None:
    """Beyond the sampling threshold too: any slice of real code (docstrings cut in half
    included), repeated, never scores lower for more repetitions."""
    code = inspect.getsource(celery.app.trace)[start:start + length] or "x = 1\n"
    kind = TaskType.CODE_REVIEW
    once = analyzer.analyze(QETask(type=kind, description="Review this.", code=code * times))
    many = analyzer.analyze(QETask(type=kind, description="Review this.",
                                   code=code * (times + more)))
    assert many.overall >= once.overall


@settings(max_examples=50, deadline=None)
@given(files=st.integers(0, 30))
def test_more_files_never_score_lower(files: int) -> None:
    def with_files(n: int) -> float:
        return score(files=[SourceFile(path=f"f{i}.py", content=SNIPPET) for i in range(n)])

    assert with_files(files + 1) >= with_files(files)


def test_task_type_prior_orders_the_same_content() -> None:
    same = {"description": "Look at this module.", "code": SNIPPET}
    assert score(type="quality-gate", **same) < score(type="test-generation", **same) < score(
        type="security-review", **same)


def test_reasoning_and_hard_topics_raise_the_score() -> None:
    plain = score(description="Write tests for transfer.", code=SNIPPET)
    hard = score(description="Write tests for transfer that expose the race condition and the "
                             "deadlock under concurrency, and explain step by step why.",
                 code=SNIPPET)
    assert hard > plain


def test_creative_writing_scores_below_equal_length_reasoning() -> None:
    creative = score(type="general", description="Compose a short poem and a catchy slogan "
                                                 "about our test suite for the team blog post.")
    reasoning = score(type="general",
                      description="Derive the probability that two threads interleave so the "
                                  "invariant breaks, and prove it.")
    assert creative < reasoning


def test_a_puzzle_framed_as_a_story_is_still_a_puzzle() -> None:
    puzzle = ("a bus leaves at 9:10 and covers 84 km at 56 km/h, then waits 15 minutes. How "
              "many minutes after 9:10 does it arrive? Explain your reasoning.")
    framed = score(type="general", description="Imagine you are a passenger: " + puzzle)
    plain = score(type="general", description="A passenger notes that " + puzzle)
    story = score(type="general", description="Imagine you are a passenger on a long bus ride "
                  "through the hills and write a story about the people you meet on board.")
    assert story < 0.4 <= framed
    assert abs(framed - plain) < 0.1


def test_programming_requests_are_recognised_without_the_word_code() -> None:
    programs = [score(type="general", description=d) for d in (
        "Write a program that reads a log file and prints the ten most frequent IP addresses.",
        "Write a shell script that rotates the logs in a directory and keeps the last five.",
        "Build a page in HTML and CSS with a sticky header and a two-column layout.")]
    prose = [score(type="general", description=d) for d in (
        "Write a persuasive letter asking the council to plant more trees along the river.",
        "Draft a polite note to a neighbour about parking in front of the garage.")]
    assert min(programs) > 0.4 > max(prose)


def test_geometry_and_arithmetic_read_as_quantitative() -> None:
    math = score(type="general", description="What is the area of a triangle with vertices "
                 "(0, 0), (6, 1) and (2, 7), and what is the remainder of it divided by 4?")
    plain = score(type="general", description="What is the colour of a house with windows "
                  "facing the sea, a red door and a garden full of roses in early June?")
    assert math >= 0.55 and plain < 0.4  # well past the cheapest model's range (up to 0.4)


# Pairs of equally long general prompts, the first needing a strong model more than the
# second; each pair isolates one signal.
MATCHED_PAIRS = {
    # Relations must first be turned into operations in the right direction (same numbers).
    "quantities stated as relations": (
        "Ana has twice as many stickers as Ben, and Ben has a third of the 36 stickers Carl "
        "has. How many stickers do the three of them have together?",
        "Ana has 24 stickers, Ben has 12 stickers and Carl has 36 stickers in his album at "
        "home. How many stickers do the three of them have together?", 0.15),
    "formal-logic notation": (
        "Is the set {(A ⊃ B) · ~C, C \u2228 ~B, A ≡ C} consistent? Give one valuation if it is.",
        "Is the set {(A, B), C, C, B, A, C} sorted? Give one example if it is not, please.",
        0.1),
    # Puzzles with no numbers and no "why" or "prove" (a mid-sentence "who is" is no look-up).
    "a race-position puzzle": (
        "In a race you pass the runner who is in second place. What position are you in now, "
        "and where is the runner you passed?",
        "At the party you meet the baker who is in the garden. What cake are you eating now, "
        "and where did the baker learn it?", 0.05),
    "a family-relations puzzle": (
        "Ann is the mother of Bob, and Bob is the brother of Cid's father. How is Ann related "
        "to Cid? Think it through.",
        "Ann is a friend from Bob's school, and Bob is fond of Cid's bakery. How is Ann's "
        "day at the bakery? Think it through.", 0.05),
    # Options that share most of their words: the answer turns on the detail that differs.
    "options that differ in a detail": (
        "When its queue grows, the autoscaler should\nA. add workers while the backlog is long\n"
        "B. remove workers while the backlog is long\nC. add workers while the backlog is short\n"
        "D. remove workers while the backlog is short\nAnswer:",
        "When its queue grows, the autoscaler should\nA. scale on CPU alone\n"
        "B. page the on-call engineer\nC. restart every node nightly\n"
        "D. wait for the morning review\nAnswer:", 0.05),
    # A statement to complete leaves the reader to work out what is asked.
    "a stem to complete, not a question": (
        "The safest retry policy for a payment call is\nA. retry at once\n"
        "B. retry with an idempotency key\nC. never retry\nD. retry forever\nAnswer:",
        "What is the safest retry policy for a payment call?\nA. retry at once\n"
        "B. retry with an idempotency key\nC. never retry\nD. retry forever\nAnswer:", 0.05),
    # Options that each judge both cases: one answer, two judgements that must both be right.
    "verdicts on two cases at once": (
        "Which of these two cases shows the narrator doing something clearly wrong? Case 1 | "
        "I kept a wallet I found. Case 2 | I returned a lost dog.\nA. Wrong, Wrong\n"
        "B. Wrong, Not wrong\nC. Not wrong, Wrong\nD. Not wrong, Not wrong\nAnswer:",
        "Which of these two cases shows the narrator doing something clearly wrong? Case 1 | "
        "I kept a wallet I found. Case 2 | I returned a lost dog.\nA. The wallet\n"
        "B. The dog\nC. The cat\nD. No one\nAnswer:", 0.1),
    # An option that combines the others: each must be judged, not just the likeliest.
    "an option that combines the others": (
        "Which change can make this test flaky?\nA. a shared temp dir\nB. a wall-clock "
        "timeout\nC. Both A and B\nD. Neither\nAnswer:",
        "Which change can make this test flaky?\nA. a shared temp dir\nB. a wall-clock "
        "timeout\nC. a fixed seed\nD. a pinned version\nAnswer:", 0.05),
}


@pytest.mark.parametrize(("harder", "plainer", "margin"), MATCHED_PAIRS.values(),
                         ids=MATCHED_PAIRS.keys())
def test_a_signal_raises_the_score_of_an_otherwise_matched_prompt(harder: str, plainer: str,
                                                                  margin: float) -> None:
    assert score(type="general", description=harder) > score(
        type="general", description=plainer) + margin


def test_open_ended_advice_is_cheap_but_a_described_race_is_not() -> None:
    advice = score(type="general", description="Suggest some tips for keeping a tidy desk and "
                   "describe a good morning routine for a busy week at the office.")
    assert advice < 0.2
    described = score(type="code-review", code=SNIPPET,
                      description="Describe the race condition in this code and how to fix it.")
    explained = score(type="code-review", code=SNIPPET,
                      description="Explain the race condition in this code and how to fix it.")
    assert abs(described - explained) < 0.1


def test_a_long_text_to_summarise_is_not_a_hard_task() -> None:
    notes = ("The club met on Monday to plan the spring picnic. Ana will bring sandwiches, while "
             "Ben sets up games for the children. Everyone agreed on the park by the river. ") * 25
    summary = score(type="general", description="Summarize these notes in three sentences:\n"
                    + notes)
    translation = score(type="general", description="Translate these notes into French:\n"
                        + notes)
    reasoning = score(type="general", description="Find the logical inconsistency in these "
                      "notes and explain step by step why it is one:\n" + notes)
    assert max(summary, translation) < 0.6 < 0.7 < reasoning  # not the strongest model's range


def test_words_in_the_material_do_not_cancel_what_is_asked() -> None:
    report = ("test_pool_race_condition is flaky under concurrency; the deadlock in "
              "test_transfer reproduces one run in five; a regression in the retry path. ") * 8
    summary = score(type="general",
                    description="Summarize this test report in two sentences:\n" + report)
    root_cause = score(type="general", description="Find the root cause of these failures and "
                       "explain step by step:\n" + report)
    assert summary <= 0.4 < 0.7 < root_cause
    # The same with the material as the task's context: the description is what is asked.
    gate = score(type="quality-gate", context={"failures": report.split("; ")},
                 description="Summarize the results in two sentences and say PASS or FAIL.")
    assert gate <= 0.4


def test_computed_answers_score_above_recalled_ones() -> None:
    options = "\nA. {}\nB. {}\nC. {}\nD. {}\nAnswer:"
    computed = score(type="general", description="A queue drains 40 jobs per second and 55 "
                     "arrive per second. How many are waiting after a minute?"
                     + options.format(600, 900, 1500, 3300))
    recalled = score(type="general", description="A queue drains jobs and more arrive. Which "
                     "term names this, according to the theory of queues?"
                     + options.format("backlog", "spool", "buffer", "ledger"))
    assert computed > recalled


def test_options_that_are_statements_lower_the_demand() -> None:
    # Longer options still make a longer prompt (length is the stronger signal); what they
    # ask, recognising the true statement, pulls the demand down against that.
    text = ("A test passes alone but fails after another test. Which is the likeliest cause?"
            "\nA. the two tests share a module-level cache\nB. the random seed differs "
            "between the runs\nC. the system clock moves during the suite\nD. the network "
            "is slower under parallel load\nAnswer:")
    weighed = score(type="general", description=text)
    weights = ComplexityWeights()
    weights.signals.statement_options = 0.0  # from config: no release needed to tune it
    unweighed = ComplexityAnalyzer(weights).analyze(
        QETask(type="general", description=text)).overall
    assert unweighed > weighed + 0.02


def test_code_structure_raises_the_score() -> None:
    flat = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\ni = 9\n"
    assert score(code=SNIPPET) > score(code=flat)


def test_simple_and_hard_tasks_span_the_seed_ranges() -> None:
    gate = score(type="quality-gate", description="Coverage 91%, all tests pass. PASS or FAIL?")
    big = score(type="flaky-test-hunting",
                description="Find the race condition and deadlock in this code; explain step by "
                            "step why the intermittent failures happen under concurrency.",
                code=SNIPPET * 60)
    assert gate < 0.3 < 0.7 < big


def test_factors_and_explanation() -> None:
    result = analyzer.analyze(QETask(
        type="security-review", description="Find the injection vulnerability and explain why.",
        code=SNIPPET))
    assert result.factors.requires_reasoning is True
    assert result.factors.requires_creativity is False
    assert result.factors.code_complexity and result.factors.code_complexity > 0
    assert "type prior" in result.explanation and "security-review" in result.explanation


def test_monotone_across_the_sampling_threshold() -> None:
    scores = [analyzer.analyze(QETask(type="code-review", description="Review this.",
                                      code=SNIPPET * k)).overall for k in range(1, 400, 7)]
    assert scores == sorted(scores)


# Generic prompts with no code: requests cheap models handle well against ones they often miss.
EASY_PROMPTS = [
    "Compose an upbeat blog post about a weekend trip to the mountains, with vivid descriptions "
    "of the food, the people and the scenery, in about 300 words.",
    "Pretend you are a pirate captain and greet the new crew members in character.",
    "Write a short poem about autumn leaves falling on a quiet street at dusk.",
    "Summarize the following paragraph in two sentences: the team met on Monday to plan the "
    "release and agreed to ship on Friday after the final review.",
    "Draft a friendly email to my manager asking for a day off next Friday.",
    "Rewrite this sentence to sound more formal: hey guys, the meeting got moved to 3.",
    "Suggest some tips for staying focused when working from home, and describe a good routine.",
    "Summarize these notes in two sentences:\n" + "The club met on Monday to plan the spring "
    "picnic; Ana brings sandwiches and Ben sets up games by the river. " * 30,
]
HARD_PROMPTS = [
    "Write a Python function that returns the k-th smallest element of the union of two sorted "
    "lists in linear time.",
    "If a train leaves at 3 pm at 60 km/h and another leaves the same station at 4 pm at "
    "90 km/h, when does the second catch up?",
    "Implement a thread-safe LRU cache in Java and explain its time complexity.",
    "How many integers from 1 to 1000 are divisible by 3 or 5 but not by 15? Explain why.",
    "Given a binary tree, write an algorithm to find the lowest common ancestor of two nodes, "
    "and analyze its complexity.",
    "Find the bug in this function that should return the longest common subsequence of two "
    "strings, and fix it.",
    "Write a program that reads a CSV file and prints the median of its third column.",
    "Imagine you are a passenger: a bus covers 84 km at 56 km/h and then waits 15 minutes. How "
    "many minutes after leaving does it arrive? Explain your reasoning.",
]


def test_generic_prompts_rank_hard_requests_above_easy_ones() -> None:
    def general(prompt: str) -> float:
        return score(type="general", description=prompt)

    easy = [general(p) for p in EASY_PROMPTS]
    hard = [general(p) for p in HARD_PROMPTS]
    pairs = [(h > e) + 0.5 * (h == e) for h in hard for e in easy]
    assert sum(pairs) / len(pairs) >= 0.85
    assert max(easy) < 0.4 < max(hard)  # easy ones stay in the cheapest model's range


@pytest.mark.parametrize("task_type", sorted(QE_PAIRS))
def test_a_short_but_hard_qe_task_never_lands_in_the_cheapest_tier(task_type: str) -> None:
    cheapest = min(load_config(SHIPPED).enabled_models(),
                   key=lambda m: m.capabilities.cost_per_1k_tokens.output)
    hard, easy = (score(type=task_type, **fields) for fields in QE_PAIRS[task_type])
    assert hard > cheapest.complexity_range.max, (task_type, hard)
    assert hard > easy, (task_type, hard, easy)
