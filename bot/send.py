"""Delivering HTML to Telegram: long messages in parts, plain text if Telegram rejects markup."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from . import render

log = logging.getLogger(__name__)


async def send_html(
    bot: Bot,
    chat_id: int,
    markup: str,
    *,
    keyboard: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> Message:
    """Send ``markup`` (split as needed); the first part replies, the last carries the buttons."""
    parts = render.split_html(markup)
    sent: Message | None = None
    for n, part in enumerate(parts):
        sent = await _send_part(
            bot,
            chat_id,
            part,
            keyboard if n == len(parts) - 1 else None,
            ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to and n == 0
            else None,
        )
    if sent is None:
        raise ValueError("nothing to send: the message is empty")
    return sent


async def _send_part(
    bot: Bot,
    chat_id: int,
    part: str,
    keyboard: InlineKeyboardMarkup | None,
    reply: ReplyParameters | None,
) -> Message:
    try:
        return await bot.send_message(chat_id, part, reply_markup=keyboard, reply_parameters=reply)
    except BadRequest as exc:
        if "can't parse entities" not in exc.message.lower():
            raise
        log.warning("Telegram rejected our HTML (%s); sending plain text instead", exc.message)
        return await bot.send_message(
            chat_id,
            render.plain_text(part),
            parse_mode=None,
            reply_markup=keyboard,
            reply_parameters=reply,
        )


async def typing(bot: Bot, chat_id: int) -> None:
    """Show "typing…" while the answer is prepared; a failure here must not lose the answer."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as exc:
        log.debug("chat action failed: %s", exc)
