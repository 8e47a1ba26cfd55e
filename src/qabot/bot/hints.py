"""The "typing…" hint: sent while an answer is being found, never after the answer.

It goes out beside the search rather than before it (before, it cost a round trip to
Telegram per answer), and the answer waits a moment for it so the two arrive in order. With
many updates in hand it is left out: every hint spends Telegram's 30 messages/s, which the
answers need then.
"""

from __future__ import annotations

import asyncio
import contextlib

from telegram.constants import ChatAction
from telegram.error import TelegramError

from .state import BotContext

#: How long an answer that is ready waits for its hint to reach Telegram first.
TYPING_GRACE = 0.2
#: Updates in hand (all chats) up to which questions get the hint.
TYPING_UNTIL = 8


def start_typing(context: BotContext, chat_id: int) -> asyncio.Task[None] | None:
    """Send the hint to ``chat_id`` in the background; None when it is left out."""
    if context.application.update_processor.current_concurrent_updates > TYPING_UNTIL:
        return None
    return asyncio.create_task(_typing(context, chat_id))


async def _typing(context: BotContext, chat_id: int) -> None:
    with contextlib.suppress(TelegramError):  # the hint is nice to have, no more
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)


async def settle(typing: asyncio.Task[None] | None) -> None:
    """Let the hint arrive before the reply it announces, if it is quick; else drop it (a
    hint arriving after the reply would show "typing…" with nothing to come)."""
    if typing is not None and not typing.done():
        await asyncio.wait({typing}, timeout=TYPING_GRACE)
        typing.cancel()
