"""The question record in the index's PostgreSQL database, shared by every bot replica.

The same record and stats as :class:`qabot.questions.QuestionLog` (no user or chat ids), in
the ``qabot_questions`` table of :mod:`qabot.index.pgschema`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .index.postgres import pool_for
from .questions import QuestionStats, answer_fields, build_stats, question_key
from .results import Answer

_DAY = "to_char(asked, 'YYYY-MM-DD')"
_LAST = """to_char(max(asked), 'YYYY-MM-DD"T"HH24:MI:SS')"""


class PgQuestionLog:
    """Questions recorded in ``qabot_questions``; any thread may use it (a pooled connection)."""

    def __init__(self, url: str) -> None:
        self.pool = pool_for(url)

    def record_answer(self, answer: Answer, at: datetime | None = None) -> None:
        self.record_answers([answer], at)

    def record_answers(self, answers: list[Answer], at: datetime | None = None) -> None:
        """Several answers in one transaction (a commit costs far more than a row)."""
        asked = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
        rows = [
            (asked, q, question_key(q), ok, conf, art)
            for q, ok, conf, art in map(answer_fields, answers)
        ]
        with self.pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO qabot_questions (asked, question, key, answered, confidence, "
                "article) VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )

    def stats(self, days: int = 7, *, top: int = 10, now: datetime | None = None) -> QuestionStats:
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        since = today - timedelta(days=max(days, 1) - 1)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_DAY}, count(*), sum(answered::int) FROM qabot_questions "
                "WHERE asked >= %s GROUP BY 1",
                (since,),
            ).fetchall()
            groups = conn.execute(
                f"SELECT (array_agg(question ORDER BY asked DESC))[1], count(*), {_LAST} "
                "FROM qabot_questions WHERE asked >= %s AND NOT answered GROUP BY key "
                "ORDER BY count(*) DESC, max(asked) DESC LIMIT %s",
                (since, top),
            ).fetchall()
        return build_stats(rows, groups, since, today)
