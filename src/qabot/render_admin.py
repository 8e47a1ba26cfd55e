"""Replies to the admins' commands (/add, an upload, /stats, /reindex) and `qabot stats`.

Built from `render`'s blocks, so escaping, right-to-left marks and the 4096-character
split are the same as for answers.
"""

from __future__ import annotations

from typing import Any

from .ingest import AddReport
from .questions import QuestionStats
from .render import Block, Span, arabic_date, pack

_QUESTION_ECHO = 120
#: The admins' commands: listed in /help for admins, not in everyone's command menu.
ADMIN_COMMANDS = (
    ("add", "إضافة مقالة من رابط (أو أرسل ملف المقالة)"),
    ("stats", "أسئلة القرّاء وما لم تُجب عنه المقالات: ‎/stats 30"),
    ("reindex", "إعادة بناء الفهرس من ملفات المقالات"),
)


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


def _count(n: int, one: str, two: str, few: str, many: str) -> str:
    """An Arabic count with the noun in the right number: مقالة واحدة، مقالتان، 3 مقالات."""
    if n == 1:
        return one
    if n == 2:
        return two
    return f"{n} {few if 3 <= n % 100 <= 10 else many}"


def reindex_html(report: Any) -> list[str]:
    """The /reindex reply in plain Arabic: what the index holds now and what changed."""
    f = report.model_dump() if hasattr(report, "model_dump") else {}
    articles = _count(f.get("articles", 0), "مقالة واحدة", "مقالتان", "مقالات", "مقالة")
    passages = _count(f.get("passages", 0), "فقرة واحدة", "فقرتان", "فقرات", "فقرة")
    lines: Block = [
        (Span("تم تحديث الفهرس.", "b"),),
        (Span(f"في الفهرس الآن {articles}، {passages}."),),
    ]
    changes = [
        f"{label}: {f[key]}"
        for key, label in (("added", "أُضيف"), ("updated", "حُدّث"), ("removed", "حُذف"))
        if f.get(key)
    ]
    done = "فقرات " + "، ".join(changes) + "." if changes else "لا تغيير في المقالات."
    lines.append((Span(done),))
    if f.get("embedded"):
        lines.append((Span(f"حُسبت متجهات {f['embedded']} فقرة في {f.get('seconds', 0):.0f} ث."),))
    if f.get("skipped"):
        lines.append((Span(f"تُخطّيت ملفات غير صالحة: {len(f['skipped'])}"),))
    return pack([lines])


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
