"""What readers asked: a record of questions and the stats a newsroom plans with.

Each question is kept with its time, whether the articles answered it, the confidence
and the top article — never who asked (no user or chat ids). The unanswered questions,
grouped by their normalised text, are what the newsroom should write about next. The
record is a SQLite file in WAL mode beside the index, so the bot and the CLI can write
while ``qabot stats`` reads. ``QABOT_RECORD_QUESTIONS=0`` turns it off.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from .arabic import tokenize
from .config import Settings
from .results import Answer

log = logging.getLogger(__name__)

DB_FILE = "questions.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    asked TEXT NOT NULL,          -- UTC, ISO 8601
    question TEXT NOT NULL,
    key TEXT NOT NULL,            -- normalised words, to group spellings of one question
    answered INTEGER NOT NULL,
    confidence REAL,
    article TEXT                  -- the top passage's article id
);
CREATE INDEX IF NOT EXISTS questions_asked ON questions (asked);
"""


class DayCount(BaseModel):
    day: date
    questions: int
    answered: int


class Unanswered(BaseModel):
    """One unanswered question, as last asked, and how often it (or a variant) was asked."""

    question: str
    count: int
    last: datetime


class QuestionStats(BaseModel):
    """`qabot stats` and the bot's /stats: the last ``days`` days, today included (UTC)."""

    days: int
    since: date
    questions: int
    answered: int
    share_answered: float
    per_day: list[DayCount]
    unanswered: list[Unanswered]


def answer_fields(answer: Answer) -> tuple[str, bool, float | None, str | None]:
    """What the record keeps of an answer: question, answered, top confidence, top article."""
    top = answer.passages[0] if answer.passages else None
    return (
        answer.question,
        answer.found,
        top.confidence if top else None,
        top.article if top else None,
    )


def question_key(question: str) -> str:
    """Spelling variants, diacritics and punctuation folded, so one question counts once."""
    return " ".join(tokenize(question))


class QuestionRecord(Protocol):
    """Where questions are recorded: a SQLite file, or the database (qabot.pgquestions)."""

    def record_answer(self, answer: Answer, at: datetime | None = None) -> None: ...

    def record_answers(self, answers: list[Answer], at: datetime | None = None) -> None: ...

    def stats(
        self, days: int = 7, *, top: int = 10, now: datetime | None = None
    ) -> QuestionStats: ...


class QuestionLog:
    """The question record in one SQLite file; a connection per call, so any thread may use it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

    @classmethod
    def at(cls, settings: Settings) -> QuestionRecord:
        """The record where the settings keep the index: the database (QABOT_DATABASE_URL,
        shared by every replica), else a file beside the index folder."""
        if settings.database_url:
            from .pgquestions import PgQuestionLog

            return PgQuestionLog(settings.database_url)
        return cls(settings.index_dir / DB_FILE)

    @classmethod
    def of(cls, settings: Settings) -> QuestionRecord | None:
        """:meth:`at`, or None when recording is turned off."""
        return cls.at(settings) if settings.record_questions else None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=10)) as con, con:
            yield con

    def record(
        self,
        question: str,
        *,
        answered: bool,
        confidence: float | None = None,
        article: str | None = None,
        at: datetime | None = None,
    ) -> None:
        asked = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        row = (question, int(answered), confidence, article)
        self._insert([(asked.isoformat(timespec="seconds"), *row)])

    def _insert(self, rows: list[tuple[str, str, int, float | None, str | None]]) -> None:
        """(asked, question, answered, confidence, article) rows, in one transaction."""
        with self._connect() as con:
            con.executemany(
                "INSERT INTO questions (asked, question, key, answered, confidence, article)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(at, q, question_key(q), ok, conf, art) for at, q, ok, conf, art in rows],
            )

    def record_answer(self, answer: Answer, at: datetime | None = None) -> None:
        """Record what `Retriever.ask` returned."""
        self.record_answers([answer], at)

    def record_answers(self, answers: list[Answer], at: datetime | None = None) -> None:
        """Record several answers in one transaction (a commit costs far more than a row)."""
        asked = (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        when = asked.isoformat(timespec="seconds")
        rows = [(when, q, int(ok), conf, art) for q, ok, conf, art in map(answer_fields, answers)]
        self._insert(rows)

    def stats(self, days: int = 7, *, top: int = 10, now: datetime | None = None) -> QuestionStats:
        """Questions per day, the share answered, the most frequent unanswered questions."""
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        since = today - timedelta(days=max(days, 1) - 1)
        start = since.isoformat()
        with self._connect() as con:
            rows = con.execute(
                "SELECT substr(asked, 1, 10), count(*), sum(answered) FROM questions"
                " WHERE asked >= ? GROUP BY 1",
                (start,),
            ).fetchall()
            # SQLite gives the bare column `question` from the row holding max(asked).
            groups = con.execute(
                "SELECT question, count(*), max(asked) FROM questions"
                " WHERE asked >= ? AND NOT answered GROUP BY key"
                " ORDER BY count(*) DESC, max(asked) DESC LIMIT ?",
                (start, top),
            ).fetchall()
        return build_stats(rows, groups, since, today)


def build_stats(
    rows: list[tuple[str, int, int | None]],
    groups: list[tuple[str, int, str]],
    since: date,
    today: date,
) -> QuestionStats:
    """The stats from (day, questions, answered) rows and (question, count, last asked)
    groups of unanswered questions, as either store's queries give them."""
    counts = {day: (n, int(answered or 0)) for day, n, answered in rows}
    per_day = []
    for offset in range((today - since).days + 1):
        day = since + timedelta(days=offset)
        n, answered = counts.get(day.isoformat(), (0, 0))
        per_day.append(DayCount(day=day, questions=n, answered=answered))
    total = sum(d.questions for d in per_day)
    answered_total = sum(d.answered for d in per_day)
    return QuestionStats(
        days=len(per_day),
        since=since,
        questions=total,
        answered=answered_total,
        share_answered=round(answered_total / total, 4) if total else 0.0,
        per_day=per_day,
        unanswered=[
            Unanswered(question=q, count=n, last=datetime.fromisoformat(last).replace(tzinfo=UTC))
            for q, n, last in groups
        ],
    )


def record_answer(settings: Settings, answer: Answer) -> None:
    """Record one answered (or not) question unless recording is off; never fails the answer."""
    try:
        log_ = QuestionLog.of(settings)
        if log_ is not None:
            log_.record_answer(answer)
    except Exception as exc:  # a full disk, a database gone: never fail the answer for it
        log.warning("could not record the question (%s)", exc)
