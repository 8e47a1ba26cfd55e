"""Replies to the admins' commands (/add, an uploaded document, /stats) and `qabot stats`.

Built from `render`'s blocks, so escaping, right-to-left marks and the 4096-character
split are the same as for answers.
"""

from __future__ import annotations

from .ingest import AddReport
from .questions import QuestionStats
from .render import Block, Span, arabic_date, pack

_QUESTION_ECHO = 120


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _QUESTION_ECHO else text[:_QUESTION_ECHO] + "…"


def added_html(report: AddReport) -> list[str]:
    """The /add reply: each article's title and passage count, each skipped source's reason."""
    blocks: list[Block] = []
    for added in report.added:
        head = "🔄 حُدّثت المقالة:" if added.updated else "✅ أُضيفت المقالة:"
        details = [f"عدد الفقرات: {added.passages}"]
        if added.published:
            details.insert(0, arabic_date(added.published))
        lines: Block = [
            (Span(head + " "), Span(added.title or added.id, "b")),
            (Span("، ".join(details)),),
        ]
        blocks.append(lines)
    for skipped in report.skipped:
        blocks.append(
            [
                (Span("⚠️ لم تُضف: "), Span(_short(skipped.source), "i")),
                (Span(f"السبب: {skipped.reason}"),),
            ]
        )
    if not blocks:
        blocks.append([(Span("لا جديد: كل ما أرسلته موجود في المقالات."),)])
    return pack(blocks)


def stats_html(stats: QuestionStats) -> list[str]:
    """The /stats reply: questions per day, the share answered, the top unanswered."""
    share = f"{stats.share_answered:.0%}"
    blocks: list[Block] = [
        [
            (Span(f"أسئلة القرّاء في آخر {stats.days} يوم", "b"),),
            (Span(f"عدد الأسئلة: {stats.questions}، أُجيب منها {stats.answered} ({share})"),),
        ],
        [(Span("• "), Span(arabic_date(d.day)), Span(f": {d.questions} سؤال، {d.answered} أُجيب"))
         for d in stats.per_day if d.questions],
    ]  # fmt: skip
    if stats.unanswered:
        lines: Block = [(Span("أكثر الأسئلة التي لم تجد إجابة في المقالات:", "b"),)]
        lines += [
            (Span("• "), Span(f"«{_short(u.question)}»", "i"), Span(f" — {u.count} مرة"))
            for u in stats.unanswered
        ]
        blocks.append(lines)
    elif stats.questions:
        blocks.append([(Span("أُجيب عن كل الأسئلة."),)])
    return pack([block for block in blocks if block])


def terminal_stats(stats: QuestionStats) -> str:
    """`qabot stats` as plain text."""
    lines = [
        f"questions since {stats.since} ({stats.days} days): {stats.questions}, "
        f"answered {stats.answered} ({stats.share_answered:.0%})"
    ]
    lines += [
        f"  {d.day}  {d.questions:4d} asked  {d.answered:4d} answered"
        for d in stats.per_day
        if d.questions
    ]
    if stats.unanswered:
        lines.append("most asked, not answered by the articles:")
        lines += [f"  {u.count:4d} × {_short(u.question)}" for u in stats.unanswered]
    return "\n".join(lines)
