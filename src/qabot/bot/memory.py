"""The bot's conversations: which earlier questions a message is read with, and `/new`.

Each user has their own conversation in each chat (in a group too), kept in memory
(:class:`qabot.memory.Conversations`: the last ``context_turns`` questions, forgotten
after ``context_minutes`` of silence; a restart forgets everything). A reply to one of
the bot's answers is read in that answer's context (its question and passage), whatever
was asked in between.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram import Message, Update

from .. import render
from ..conversation import Turn, turn_of
from ..memory import Conversations, Replies
from ..results import Answer

if TYPE_CHECKING:
    from .state import BotContext

NEW_CONVERSATION = "بدأنا محادثة جديدة: سأجيب عن سؤالك التالي دون الرجوع إلى ما سبقه."
CONTEXT_NOTE = "فهمتُ سؤالك في سياق: «{question}»"
_NOTE_QUOTE = 80  # characters of the earlier question quoted in the note


class Memory:
    """Conversations by (chat, user), and the answer messages replies may point at."""

    def __init__(self, conversations: Conversations, replies: Replies | None = None) -> None:
        self.conversations = conversations
        self.replies = replies or Replies()

    def history(self, message: Message, user_id: int) -> list[Turn]:
        """The turns ``message`` is read with: a replied-to answer's, else the user's own."""
        replied = message.reply_to_message
        if replied is not None:
            turn = self.replies.get(message.chat_id, replied.message_id)
            if turn is not None:
                return [turn]
        return self.conversations.history((message.chat_id, user_id))

    def remember(self, message: Message, user_id: int, answer: Answer) -> Turn:
        """Keep the question (and what answered it) in the user's conversation."""
        turn = turn_of(answer)
        self.conversations.remember((message.chat_id, user_id), turn)
        return turn

    def sent(self, chat_id: int, message_id: int, turn: Turn) -> None:
        """Note that message ``message_id`` answered ``turn``, for replies to it."""
        self.replies.add(chat_id, message_id, turn)


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
    context.bot_data.memory.conversations.forget((message.chat_id, who))
    await message.reply_text(render.plain_html(NEW_CONVERSATION))
