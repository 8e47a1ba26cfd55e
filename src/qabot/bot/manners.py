"""Messages that are no question: unknown commands, stickers and the like, joining a group.

Each gets at most one short line, and none in a group unless it was meant for the bot.
"""

from __future__ import annotations

from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus, ChatType

from .. import render
from .handlers import reply_line
from .state import BotContext

UNKNOWN_COMMAND = "لا أعرف هذا الأمر. اكتب ‎/help لعرض الأوامر المتاحة."
TEXT_ONLY = "أجيب عن الأسئلة المكتوبة فقط: اكتب سؤالك نصًّا."
GROUP_GREETING = (
    "مرحبًا! أجيب عن الأسئلة من المقالات الإخبارية التي قرأتها. للسؤال هنا اذكرني {mention} "
    "أو رُدّ على إحدى رسائلي أو اكتب ‎/ask سؤالك."
)


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command the bot does not have: point to /help (in groups, only if it was ours)."""
    message = update.effective_message
    if message is None or not message.text:
        return
    command = message.text.split()[0]
    target = command.partition("@")[2].lower()
    ours = target == (context.bot.username or "").lower()
    if message.chat.type == ChatType.PRIVATE or ours:
        await reply_line(update, UNKNOWN_COMMAND)


async def not_text(update: Update, context: BotContext) -> None:
    """A sticker, voice note, location…: one short note in private chats, silence in groups."""
    message = update.effective_message
    if message is not None and message.chat.type == ChatType.PRIVATE:
        await reply_line(update, TEXT_ONLY)


async def joined(update: Update, context: BotContext) -> None:
    """Added to a group: one greeting that says how to ask there."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None or change.chat.type == ChatType.PRIVATE:
        return
    outside = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
    inside = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
    if change.old_chat_member.status in outside and change.new_chat_member.status in inside:
        mention = render.isolate(f"@{context.bot.username}")
        text = render.plain_html(GROUP_GREETING.format(mention=mention))
        await context.bot.send_message(change.chat.id, text)
