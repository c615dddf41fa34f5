"""QE task pairs of our own, one per task type: a short request whose difficulty is in the domain
(an exploit class, a concurrency property, a nondeterministic failure…) and a long but easy one.
A senior engineer calls the first hard: it must never be routed to the cheapest tier."""

from __future__ import annotations

Fields = dict[str, str]


def easy_code(line: str, count: int) -> str:
    return "".join(line.format(i=i) for i in range(count))


PAIRS: dict[str, tuple[Fields, Fields]] = {
    "test-generation": (
        {"description": "Write a test proving this counter stays correct under concurrent "
                        "increments.",
         "code": "class Counter:\n    def inc(self):\n        self.n = self.n + 1\n"},
        {"description": "Write a test that each getter returns its field.",
         "code": easy_code("    def get_{i}(self):\n        return self._{i}\n", 60)}),
    "coverage-analysis": (
        {"description": "Which untested branch here can lose a write on a race between two "
                        "workers?",
         "code": "def save(k, v):\n    if k not in cache:\n        cache[k] = v\n"
                 "        db.put(k, v)\n"},
        {"description": "List the functions of this module that no test calls. " * 4,
         "code": easy_code("def helper_{i}():\n    return {i}\n", 40)}),
    "quality-gate": (
        {"description": "Tests pass, but the new retry makes writes non-idempotent. Should "
                        "the release ship?"},
        {"description": "All 412 tests pass, coverage is 91% against 80% required, no "
                        "findings. " * 6}),
    "flaky-test-hunting": (
        {"description": "Why does this fail 1 run in 200 on CI only?",
         "code": "def test_t():\n    assert fetch_all() == sorted(fetch_all())\n"},
        {"description": "This test fails every time with a clear assertion message; what "
                        "should it assert? " * 2,
         "code": "def test_sum():\n    assert add(2, 2) == 5\n"}),
    "security-review": (
        {"description": "Which exploit class does this allow?",
         "code": "def load(p):\n    return pickle.loads(base64.b64decode(p))\n"},
        {"description": "Check that this settings file has no hard-coded passwords.",
         "code": easy_code("SETTING_{i} = '{i}'\n", 120)}),
    "regression-analysis": (
        {"description": "Could switching this lock to a read-write lock cause a deadlock or "
                        "lost update?",
         "code": "with lock:\n    balance = read()\n    write(balance - amount)\n"},
        {"description": "This change renames a log message. What could regress? " * 3,
         "code": "log.info('user saved')\n"}),
    "requirements-validation": (
        {"description": "Transfers must be exactly-once even when the network partitions. Is "
                        "this testable?"},
        {"description": "The page shows the user's name in the header. The page shows the "
                        "date in the footer. " * 5}),
    "code-review": (
        {"description": "Is this double-checked locking correct under the memory model?",
         "code": "if inst is None:\n    with lock:\n        if inst is None:\n"
                 "            inst = make()\n"},
        {"description": "Check the naming style of these constants.",
         "code": easy_code("MAX_VALUE_{i} = {i}\n", 100)}),
    "performance-testing": (
        {"description": "Design a test that finds the throughput cliff from lock contention "
                        "here.",
         "code": "def handle(r):\n    with global_lock:\n        return process(r)\n"},
        {"description": "Time how long this function takes to return a constant. " * 3,
         "code": "def f():\n    return 1\n"}),
    "test-data-generation": (
        {"description": "Generate records that hit every boundary and edge case of this "
                        "schema's invariants, including concurrent version conflicts."},
        {"description": "Generate 20 user records with a first name, a last name and an email "
                        "address. " * 3}),
}
