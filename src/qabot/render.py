"""Answers as Telegram HTML messages and as terminal text.

Everything here is pure: text in, strings out. Telegram accepts at most 4096 characters
per message and rejects malformed HTML, so every piece of article or user text is
escaped, and long answers are split at paragraph boundaries (an over-long paragraph at
sentence, then word boundaries) with tags closed and reopened, so no text is lost.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import groupby

from .arabic import sanitize
from .results import Answer, ArticleInfo, Passage

__all__ = [
    "COMMANDS",
    "MAX_MESSAGE",
    "NOT_FOUND",
    "RLM",
    "Span",
    "answer_html",
    "arabic_date",
    "help_html",
    "not_found_html",
    "pack",
    "plain_html",
    "sources_html",
    "telegram_length",
    "terminal_answer",
    "welcome_html",
]

#: Telegram's limit for one message; counted in UTF-16 code units, as Telegram does.
MAX_MESSAGE = 4096
RLM = "\u200f"
NOT_FOUND = "لم أجد في المقالات المتوفرة لديّ ما يجيب عن هذا السؤال."
MONTHS = (
    "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
    "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
)  # fmt: skip
COMMANDS = (
    ("start", "تعريف بالبوت وأمثلة على الأسئلة"),
    ("help", "طريقة الاستخدام والأوامر"),
    ("sources", "المقالات التي أجيب منها"),
    ("ask", "طرح سؤال (في المجموعات): ‎/ask سؤالك"),
    ("new", "محادثة جديدة: نسيان الأسئلة السابقة"),
)
_QUESTION_ECHO = 200  # characters of a question quoted back in a reply


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Span:
    """A run of text with at most one style: None, "b", "i", or "a" (with ``href``)."""

    text: str
    tag: str | None = None
    href: str | None = None


Line = tuple[Span, ...]
Block = list[Line]  # lines that belong together, e.g. a paragraph and its attribution


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), never less than ``len``."""
    return len(text.encode("utf-16-le")) // 2


def _wrap(escaped: str, tag: str | None, href: str | None) -> str:
    if tag == "a":
        return f'<a href="{html.escape(href or "", quote=True)}">{escaped}</a>'
    return f"<{tag}>{escaped}</{tag}>" if tag else escaped


def _needs_rlm(text: str) -> bool:
    """Whether a line would render left-to-right: its first strong character is not RTL."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return False
        if kind in ("L", "EN", "AN"):
            return True
    return False


def _line_html(line: Line) -> str:
    """One line of HTML: adjacent spans of one style merged, RLM first when needed."""
    out = [RLM] if _needs_rlm("".join(s.text for s in line)) else []
    for (tag, href), run in groupby(line, key=lambda s: (s.tag, s.href)):
        out.append(_wrap("".join(html.escape(s.text) for s in run), tag, href))
    return "".join(out)


_SENTENCE = re.compile(r".+?(?:[.!?؟؛…]+(?=\s|\Z)\s*|\Z)", re.S)
_WORD = re.compile(r"\S+\s*|\s+")


def _pieces(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [p for p in pattern.findall(text) if p]


def _atoms(span: Span, budget: int) -> Iterable[Span]:
    """Cut a span into sentences, words, then characters, each fitting ``budget``."""
    for sentence in _pieces(span.text, _SENTENCE):
        if telegram_length(html.escape(sentence)) <= budget:
            yield Span(sentence, span.tag, span.href)
            continue
        for word in _pieces(sentence, _WORD):
            chunk = ""
            for ch in word:
                if telegram_length(html.escape(chunk + ch)) > budget:
                    yield Span(chunk, span.tag, span.href)
                    chunk = ""
                chunk += ch
            if chunk:
                yield Span(chunk, span.tag, span.href)


def _split_line(line: Line, limit: int) -> list[str]:
    """One line as one or more HTML pieces of at most ``limit`` characters each.

    Sizes are added up as runs grow (tags once per run, one RLM always reserved), so
    splitting a long paragraph stays linear.
    """
    whole = _line_html(line)
    if telegram_length(whole) <= limit:
        return [whole]
    overhead = {(s.tag, s.href): telegram_length(_wrap("", s.tag, s.href)) for s in line}
    budget = limit - max(overhead.values()) - len(RLM)
    pieces: list[str] = []
    current: list[Span] = []
    size = len(RLM)
    for atom in (a for span in line for a in _atoms(span, budget)):
        style = (atom.tag, atom.href)
        grow = telegram_length(html.escape(atom.text))
        if not current or (current[-1].tag, current[-1].href) != style:
            grow += overhead[style]
        if current and size + grow > limit:
            pieces.append(_piece_html(current))
            current, size = [], len(RLM)
            grow = telegram_length(html.escape(atom.text)) + overhead[style]
        current.append(atom)
        size += grow
    if current:
        pieces.append(_piece_html(current))
    return [piece for piece in pieces if piece]


def _piece_html(atoms: list[Span]) -> str:
    """A piece of a split line, without the whitespace it was split at."""
    last = atoms[-1]
    trimmed = [*atoms[:-1], Span(last.text.rstrip(), last.tag, last.href)]
    return _line_html(tuple(a for a in trimmed if a.text))


def pack(blocks: Sequence[Block], limit: int = MAX_MESSAGE) -> list[str]:
    """Blocks as messages: a blank line between blocks, a block kept whole when it fits."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        pieces = [piece for line in block for piece in _split_line(line, limit)]
        whole = "\n".join(pieces)
        if current and telegram_length(current) + 2 + telegram_length(whole) > limit:
            messages.append(current)
            current = ""
        for i, piece in enumerate(pieces):
            sep = ("\n" if i else "\n\n") if current else ""
            if current and telegram_length(current + sep + piece) > limit:
                messages.append(current)
                current, sep = "", ""
            current += sep + piece
    if current:
        messages.append(current)
    return messages


# --------------------------------------------------------------------------- attribution


def arabic_date(day: date) -> str:
    """``24 أكتوبر 2022``: readable to Arabic readers, unambiguous unlike 10/24."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _link(url: str | None) -> str | None:
    """The URL if Telegram can link it, else None (a broken href fails the whole message)."""
    if url and re.match(r"https?://\S+\Z", url) and telegram_length(html.escape(url)) <= 1024:
        return url
    return None


def _attribution(passage: Passage) -> Line:
    """``📰 title — outlet، date، الفقرة N، الرابط`` with the link as an anchor."""
    spans = [Span("📰 "), Span(passage.title or passage.article, "i")]
    details = [passage.source] if passage.source else []
    if passage.published:
        details.append(arabic_date(passage.published))
    details.append(f"الفقرة {passage.paragraph}")
    spans.append(Span(" — " + "، ".join(details)))
    url = _link(passage.url)
    if url:
        spans += [Span("، "), Span("رابط المقال", "a", url)]
    return tuple(spans)


def _highlighted(passage: Passage) -> Line:
    """The passage text with its answering sentence in bold (when it is found in the text)."""
    text, sentence = passage.text, passage.sentence
    start = text.find(sentence) if sentence else -1
    if not sentence or start < 0:
        return (Span(text),)
    end = start + len(sentence)
    return tuple(s for s in (Span(text[:start]), Span(sentence, "b"), Span(text[end:])) if s.text)


def isolate(text: str) -> str:
    """``text`` as a bidi isolate (FSI…PDI): echoed English keeps its own order in an
    Arabic line instead of being reordered by its neighbours (``«?How …» :سؤالك``)."""
    return f"\u2068{text}\u2069"


def _quote(question: str) -> str:
    question = " ".join(question.split())
    short = question if len(question) <= _QUESTION_ECHO else question[:_QUESTION_ECHO] + "…"
    return isolate(short)


# --------------------------------------------------------------------------- Telegram


def answer_html(
    answer: Answer, *, start: int = 0, count: int = 1, note: str | None = None
) -> list[str]:
    """Messages for ``answer.passages[start:start + count]``; not-found when nothing fits."""
    if not answer.found or not answer.passages[start : start + count]:
        return [not_found_html(answer.question, note=note)]
    blocks: list[Block] = [[(Span(note, "i"),)]] if note else []
    if start:
        blocks.append([(Span("نتائج أخرى:", "b"),)])
    for passage in answer.passages[start : start + count]:
        blocks.append([_highlighted(passage), _attribution(passage)])
    return pack(blocks)


def not_found_html(question: str, note: str | None = None) -> str:
    """The honest answer when the articles do not cover the question (no unrelated text)."""
    lines: Block = [(Span(note, "i"),)] if note else []
    lines += [(Span(NOT_FOUND),), (Span("سؤالك: "), Span(f"«{_quote(question)}»", "i"))]
    return pack([lines])[0]


def sources_html(articles: Sequence[ArticleInfo]) -> list[str]:
    """One block per indexed article: title, outlet, date, link."""
    if not articles:
        return ["لا توجد مقالات مفهرسة بعد."]
    blocks: list[Block] = [[(Span(f"المقالات التي أجيب منها ({len(articles)}):", "b"),)]]
    for article in articles:
        details = [article.source] if article.source else []
        if article.published:
            details.append(arabic_date(article.published))
        details.append(f"عدد الفقرات: {article.passages}")
        lines: Block = [
            (Span("📰 "), Span(article.title or article.id, "b")),
            (Span("، ".join(details)),),
        ]
        url = _link(article.url)
        if url:
            lines.append((Span("رابط المقال", "a", url),))
        blocks.append(lines)
    return pack(blocks)


def welcome_html(articles: Sequence[ArticleInfo], examples: Sequence[str]) -> list[str]:
    """The /start greeting: what the bot is, what it has read, what to ask."""
    blocks: list[Block] = [
        [
            (Span("مرحبًا! 👋", "b"),),
            (Span("أجيب عن أسئلتك من مقالات إخبارية عربية، وأقتبس الفقرة التي وردت فيها "
                  "الإجابة مع مصدرها."),),
        ],
        [(Span(f"المقالات التي قرأتها ({len(articles)})، منها:" if articles else
                "لم تُفهرس أي مقالة بعد."),),
         *((Span("• "), Span(a.title or a.id, "i")) for a in articles[:5])],
        [(Span("جرّب أن تسأل مثلًا:"),), *((Span(f"• {isolate(q)}"),) for q in examples)],
        [(Span("الأوامر: ‎/help"),)],
    ]  # fmt: skip
    return pack(blocks)


def help_html(username: str | None = None, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The /help text: how to ask (naming the bot for groups), the commands, ``extra`` ones
    (the admins' commands, shown to admins)."""
    mention = isolate(f"@{username}") if username else "‎@"
    lines: Block = [
        (Span("كيف أستخدم البوت؟", "b"),),
        (Span("اكتب سؤالك بالعربية أو بالإنجليزية، وسأرد بالفقرة الأنسب من المقالات مع "
              "إبراز الجملة التي تجيب عنه وذكر المصدر. زر «نتائج أخرى» يعرض فقرات إضافية."),),
        (Span(f"في المجموعات: اذكرني {mention} أو رُدّ على رسالتي أو استخدم ‎/ask سؤالك."),),
        (Span(""),),
    ]  # fmt: skip
    lines += [(Span(f"/{name}"), Span(f" — {text}")) for name, text in (*COMMANDS, *extra)]
    return pack([lines])[0]


def plain_html(text: str) -> str:
    """One line of the bot's own text (refusals, limits, notes), escaped all the same."""
    return pack([[(Span(text),)]])[0]


# --------------------------------------------------------------------------- terminal

_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def _terminal_line(text: str) -> str:
    """Strip characters that could drive the terminal; RLM first when the line starts LTR."""
    text = sanitize(text)
    return RLM + text if _needs_rlm(text) else text


def terminal_answer(answer: Answer, color: bool = False) -> str:
    """Plain text for `qabot ask`/`chat`: each passage, then where it came from.

    The answering sentence is bold on a terminal (``color``) and in «» otherwise, so it
    survives pipes and files.
    """
    if not answer.found or not answer.passages:
        return _terminal_line(NOT_FOUND)
    parts: list[str] = []
    for passage in answer.passages:
        spans = [Span(sanitize(s.text), s.tag) for s in _highlighted(passage)]
        plain = "".join(s.text for s in spans)
        text = "".join(
            (f"{_BOLD}{s.text}{_RESET}" if color else f"«{s.text}»") if s.tag == "b" else s.text
            for s in spans
        )
        lines = [RLM + text if _needs_rlm(plain) else text]
        source = "".join(s.text for s in _attribution(passage)[1:3])
        lines.append(_terminal_line("   " + source))
        if passage.url:
            lines.append(_terminal_line("   " + passage.url))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
