"""The question record and `qabot stats`: what was asked, and what went unanswered."""

from __future__ import annotations

import html
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qabot.cli import main
from qabot.config import Settings
from qabot.ingest import Added, AddReport, Skipped
from qabot.questions import DB_FILE, QuestionLog, question_key, record_answer
from qabot.render import telegram_length
from qabot.render_admin import added_html, stats_html
from qabot.results import Answer, Passage

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _fill(log: QuestionLog) -> None:
    asked = [
        (0, "ما هي الطاقة الإنتاجية للمحطة؟", True, 0.8),
        (0, "ما هي عاصمة أستراليا؟", False, 0.1),
        (0, "ما هي عاصمة استراليا", False, 0.12),  # the same question, spelt otherwise
        (1, "مَا هِيَ عَاصِمَةُ أُستراليا ؟", False, 0.09),
        (1, "متى افتتحت المكتبة؟", True, 0.7),
        (1, "كم عدد سكان المريخ؟", False, 0.05),
        (3, "من يدرب المنتخب؟", True, 0.5),
        (9, "سؤال قديم خارج المدة", False, 0.0),
    ]
    for minute, (days_ago, question, answered, confidence) in enumerate(asked):
        log.record(
            question,
            answered=answered,
            confidence=confidence,
            article="a" if answered else None,
            at=NOW - timedelta(days=days_ago, hours=1) + timedelta(minutes=minute),
        )


def test_stats_count_days_share_and_group_unanswered(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / DB_FILE)
    _fill(log)
    stats = log.stats(7, now=NOW)
    assert (stats.days, stats.since.isoformat()) == (7, "2026-11-23")
    assert (stats.questions, stats.answered, stats.share_answered) == (7, 3, 0.4286)
    assert [(d.day.isoformat(), d.questions, d.answered) for d in stats.per_day] == [
        ("2026-11-23", 0, 0),
        ("2026-11-24", 0, 0),
        ("2026-11-25", 0, 0),
        ("2026-11-26", 1, 1),
        ("2026-11-27", 0, 0),
        ("2026-11-28", 3, 1),
        ("2026-11-29", 3, 1),
    ]
    # Spelling, diacritics and punctuation fold together; the latest wording stands for them.
    assert [(u.question, u.count) for u in stats.unanswered] == [
        ("ما هي عاصمة استراليا", 3),
        ("كم عدد سكان المريخ؟", 1),
    ]
    assert question_key("مَا هِيَ عَاصِمَةُ أُستراليا ؟") == question_key("ما هي عاصمة استراليا")
    assert log.stats(30, now=NOW).questions == 8
    with sqlite3.connect(tmp_path / DB_FILE) as con:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [row[1] for row in con.execute("PRAGMA table_info(questions)")]
    assert not any("user" in c or "chat" in c for c in columns)


def test_recording_follows_the_setting(tmp_path: Path) -> None:
    passage = Passage(id="a#1", article="a", paragraph=1, text="نص", confidence=0.6)
    answer = Answer(question="سؤال؟", passages=[passage], found=True)
    off = Settings(index_dir=tmp_path / "off", record_questions=False)
    record_answer(off, answer)
    assert not (tmp_path / "off").exists()
    on = Settings(index_dir=tmp_path / "on")
    record_answer(on, answer)
    record_answer(on, Answer(question="سؤال آخر", passages=[], found=False))
    stats = QuestionLog(tmp_path / "on" / DB_FILE).stats(1)
    assert (stats.questions, stats.answered) == (2, 1)
    with sqlite3.connect(tmp_path / "on" / DB_FILE) as con:
        rows = con.execute("SELECT question, answered, confidence, article FROM questions")
        assert rows.fetchall() == [("سؤال؟", 1, 0.6, "a"), ("سؤال آخر", 0, None, None)]


def test_qabot_stats_prints_text_and_json(tmp_path: Path, capsys) -> None:
    _fill(QuestionLog(tmp_path / DB_FILE))
    assert main(["stats", "--index", str(tmp_path), "--days", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["questions"], data["answered"], data["days"]) == (8, 3, 30)
    assert data["unanswered"][0] == {
        "question": "ما هي عاصمة استراليا",
        "count": 3,
        "last": data["unanswered"][0]["last"],
    }
    assert main(["stats", "--index", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "answered" in text and "   3 × ما هي عاصمة استراليا" in text


def test_stats_and_add_replies_in_arabic(tmp_path: Path) -> None:
    log = QuestionLog(tmp_path / DB_FILE)
    _fill(log)
    (message,) = stats_html(log.stats(7, now=NOW))
    assert "عدد الأسئلة: 7، أُجيب منها 3 (43%)" in message
    assert "<i>«ما هي عاصمة استراليا»</i> — 3 مرة" in message
    assert "29 نوفمبر 2026" in message

    report = AddReport(
        added=[Added(id="x", path="x.md", title="عنوان <مهم>", passages=4)],
        skipped=[Skipped(source="http://example.com/a", reason="HTTP 404 Not Found")],
    )
    (reply,) = added_html(report)
    assert f"<b>{html.escape('عنوان <مهم>')}</b>" in reply and "عدد الفقرات: 4" in reply
    assert "HTTP 404 Not Found" in reply and telegram_length(reply) <= 4096
    assert added_html(AddReport()) == ["لا جديد: كل ما أرسلته موجود في المقالات."]
