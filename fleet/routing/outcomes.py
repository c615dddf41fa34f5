"""Routing outcomes: whether each model's checked answer passed (the seed's Appendix C routing
accuracy), recorded per try in ``routing_outcomes`` and read back as first-pass ratios."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.backends.postgres import Database, json_rows


@dataclass(frozen=True)
class Try:
    """One checked answer: the model that gave it, whether it passed, and why not."""

    model: str
    valid: bool
    problem: str = ""


_INSERT = """
INSERT INTO routing_outcomes (task_id, try_no, model, task_type, valid, problem, escalated_to)
SELECT task_id, try_no, model, task_type, valid, problem, escalated_to
FROM jsonb_to_recordset(%s::jsonb) AS r(task_id text, try_no smallint, model text,
    task_type text, valid boolean, problem text, escalated_to text)
ON CONFLICT (task_id, try_no) DO NOTHING
"""


def record_outcomes(db: Database, task_id: str, task_type: str, tries: list[Try]) -> None:
    """One row per try, each naming the model the next try went to. A redelivered task's
    rows are written once (the first attempt's stand)."""
    rows = [{"task_id": task_id, "try_no": n + 1, "model": t.model, "task_type": task_type,
             "valid": t.valid, "problem": t.problem[:2000],
             "escalated_to": tries[n + 1].model if n + 1 < len(tries) else None}
            for n, t in enumerate(tries)]
    if rows:
        with db.connection() as conn:
            conn.execute("SET LOCAL synchronous_commit TO OFF")  # statistics, not money
            conn.execute(_INSERT, (json_rows(rows),))


@dataclass(frozen=True)
class FirstPass:
    model: str
    task_type: str
    tasks: int
    passed: int
    escalated: int  # tasks whose answer came from a stronger model in the end
    valid_in_end: int

    @property
    def ratio(self) -> float:
        return self.passed / self.tasks if self.tasks else 0.0


def first_pass(db: Database, days: int) -> list[FirstPass]:
    """Per first model and task type over the last ``days``: tasks checked, first answers that
    passed, tasks escalated, tasks valid in the end."""
    with db.connection() as conn:
        rows = conn.execute("""
            SELECT f.model, f.task_type, count(*), count(*) FILTER (WHERE f.valid),
                   count(*) FILTER (WHERE last.model <> f.model),
                   count(*) FILTER (WHERE last.valid)
            FROM routing_outcomes f
            JOIN LATERAL (SELECT model, valid FROM routing_outcomes l
                          WHERE l.task_id = f.task_id ORDER BY try_no DESC LIMIT 1) last ON true
            WHERE f.try_no = 1 AND f.created_at > now() - make_interval(days => %s)
            GROUP BY 1, 2 ORDER BY 1, 2""", (days,)).fetchall()
    return [FirstPass(str(m), str(t), int(str(n)), int(str(p)), int(str(e)), int(str(v)))
            for m, t, n, p, e, v in rows]


def first_tries(db: Database, days: int) -> tuple[list[tuple[float, str, bool, int]], int]:
    """Each checked task's first try over the last ``days`` — (score, model, passed, input
    tokens) — and the mean output tokens of the period's calls (512 without any)."""
    with db.connection() as conn:
        rows = conn.execute("""
            SELECT s.complexity, o.model, o.valid,
                   coalesce((s.selection->'complexity'->>'tokenCount')::int, 0)
            FROM routing_outcomes o JOIN routing_selections s USING (task_id)
            WHERE o.try_no = 1 AND o.created_at > now() - make_interval(days => %s)""",
                            (days,)).fetchall()
        mean = conn.execute("SELECT avg(output_tokens) FROM cost_entries "
                            "WHERE created_at > now() - make_interval(days => %s)",
                            (days,)).fetchone()
    output = int(float(str(mean[0]))) if mean and mean[0] is not None else 512
    return [(float(str(r[0])), str(r[1]), bool(r[2]), int(str(r[3]))) for r in rows], output
