"""`qabot chat`: ask questions in a terminal, one after another."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .config import Settings
from .conversation import turn_of
from .memory import Conversations
from .question import prepare_question

if TYPE_CHECKING:
    from .retriever import Retriever

PROMPT = "سؤال> "
WELCOME = (
    "اسأل عن المقالات المفهرسة (بالعربية أو بالإنجليزية). اكتب /new لمحادثة جديدة و/exit للخروج.\n"
    "Ask about the indexed articles (Arabic or English). /new starts afresh, /exit leaves."
)
NEW = "(محادثة جديدة / new conversation)"


def terminal_question(raw: str, limit: int) -> str:
    """The prepared question; when it had to be cut, stderr says so."""
    question = prepare_question(raw, limit)
    if question.cut_at is not None:
        print(
            f"qabot: the question is long; using its first {question.cut_at} characters",
            file=sys.stderr,
        )
    return question.text


def chat(retriever: Retriever, settings: Settings, k: int = 3) -> int:
    """Read questions until EOF or /exit; answer each from the freshest index."""
    from .questions import record_answer
    from .render import NOT_FOUND, terminal_answer

    color = sys.stdout.isatty()
    # One user: the follow-up context is the last few questions, as in the bot.
    memory = Conversations(settings.context_turns, settings.context_minutes * 60)
    titles = ", ".join(a.title or a.id for a in retriever.articles())
    print(f"{WELCOME}\n({len(retriever)} passages: {titles})")
    while True:
        try:
            question = input(PROMPT)
        except EOFError:
            print()
            return 0
        question = question.strip()
        if question in ("/exit", "/quit", "exit", "quit"):
            return 0
        if not question:
            continue
        if question == "/new":
            memory.forget("me")
            print(NEW)
            continue
        retriever.refresh()
        question = terminal_question(question, settings.max_question_chars)
        if not question:  # only a link or markup: nothing to look up
            print(NOT_FOUND)
            continue
        answer = retriever.ask(question, k=k, history=memory.history("me"))
        memory.remember("me", turn_of(answer))
        record_answer(settings, answer)
        print(terminal_answer(answer, color=color))
