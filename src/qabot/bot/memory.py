"""The bot's conversations: which earlier questions a message is read with, and `/new`.

Each user has their own conversation in each chat (in a group too): the last
``context_turns`` questions, forgotten after ``context_minutes`` of silence. It is kept in
this process (:class:`qabot.memory.Conversations`; a restart forgets everything), or in the
database when one is configured (:mod:`qabot.pgmemory`), so that a follow-up answered by
another replica still has its context. A reply to one of the bot's answers is read in that
answer's context (its question and passage), whatever was asked in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from telegram import Message, Update

from .. import render
from ..config import Settings
from ..conversation import Turn, turn_of
from ..memory import ConversationMemory, Conversations, Replies, ReplyMemory
from ..results import Answer

if TYPE_CHECKING:
    from .state import BotContext

NEW_CONVERSATION = "بدأنا محادثة جديدة: سأجيب عن سؤالك التالي دون الرجوع إلى ما سبقه."
CONTEXT_NOTE = "فهمتُ سؤالك في سياق: «{question}»"
_NOTE_QUOTE = 80  # characters of the earlier question quoted in the note


_T = TypeVar("_T")


class Memory:
    """Conversations by (chat, user), and the answer messages replies may point at.

    ``in_database``: each call is a round trip, so it runs off the event loop.
    """

    def __init__(
        self,
        conversations: ConversationMemory,
        replies: ReplyMemory | None = None,
        *,
        in_database: bool = False,
    ) -> None:
        self.conversations = conversations
        self.replies: ReplyMemory = replies if replies is not None else Replies()
        self.in_database = in_database

    @classmethod
    def of(cls, settings: Settings) -> Memory:
        """In the database when ``database_url`` is set (shared by replicas), else here."""
        turns, ttl = settings.context_turns, settings.context_minutes * 60
        if settings.database_url:
            from ..pgmemory import PgConversations, PgReplies

            url = settings.database_url
            return cls(PgConversations(url, turns, ttl), PgReplies(url), in_database=True)
        return cls(Conversations(turns, ttl))

    async def _call(self, call: Callable[..., _T], *args: object) -> _T:
        return await asyncio.to_thread(call, *args) if self.in_database else call(*args)

    async def history(self, message: Message, user_id: int) -> list[Turn]:
        """The turns ``message`` is read with: a replied-to answer's, else the user's own."""
        replied = message.reply_to_message
        if replied is not None:
            turn = await self._call(self.replies.get, message.chat_id, replied.message_id)
            if turn is not None:
                return [turn]
        return await self._call(self.conversations.history, (message.chat_id, user_id))

    async def remember(self, message: Message, user_id: int, answer: Answer) -> Turn:
        """Keep the question (and what answered it) in the user's conversation."""
        turn = turn_of(answer)
        await self._call(self.conversations.remember, (message.chat_id, user_id), turn)
        return turn

    async def sent(self, chat_id: int, message_id: int, turn: Turn) -> None:
        """Note that message ``message_id`` answered ``turn``, for replies to it."""
        await self._call(self.replies.add, chat_id, message_id, turn)

    async def forget(self, chat_id: int, user_id: int) -> None:
        """Start the user's conversation in this chat afresh."""
        await self._call(self.conversations.forget, (chat_id, user_id))


def context_note(answer: Answer, history: list[Turn]) -> str | None:
    """A line saying which earlier question the answer was read with, if one was."""
    if not answer.context_used or not history:
        return None
    question = history[-1].question
    if len(question) > _NOTE_QUOTE:
        question = question[: _NOTE_QUOTE - 1] + "…"
    return CONTEXT_NOTE.format(question=question)


async def new_conversation(update: Update, context: BotContext) -> None:
    """`/new`: forget this user's conversation in this chat."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    who = user.id if user else message.chat_id
    await context.bot_data.memory.forget(message.chat_id, who)
    await message.reply_text(render.plain_html(NEW_CONVERSATION))
