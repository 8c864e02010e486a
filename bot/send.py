"""Delivering HTML to Telegram: long messages in parts, plain text if Telegram rejects markup,
and a few patient retries when Telegram or the network fails on the way.

Retries must not send an answer twice, and the Bot API has no way to ask whether a message
arrived. So a send is retried only when it surely did not reach Telegram, or almost surely:
Telegram answered with an error (429 after PTB's own retries, 5xx), the connection could not be
made or the request not written, or the connection was dropped before any reply (in practice a
stale kept-alive connection or a restarting proxy, before Telegram read the request). When the
request was sent and the reply is merely slow (a read timeout), Telegram has most likely
delivered it or will: that is not retried, and not reported to the user as an error either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx
from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from . import render
from .backoff import SCHEDULE
from .journal import note_reply
from .ptbcompat import retry_after_seconds

log = logging.getLogger(__name__)

ATTEMPTS = 5  # with the shared schedule: 0.5, 1, 2 and 4 s between them (7.5 s in all)
# httpx failures that prove the request never reached Telegram's API
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)


def _retry_delay(exc: TelegramError, backoff: float) -> float | None:
    """Seconds to wait before sending again, or None when a retry could duplicate."""
    if isinstance(exc, RetryAfter):  # PTB has already waited and retried per AIORateLimiter
        return retry_after_seconds(exc)
    if isinstance(exc, TimedOut):
        return backoff if isinstance(exc.__cause__, _NOT_SENT) else None
    if type(exc) is NetworkError:  # a 5xx answer, or a connection failure
        return backoff if exc.__cause__ is None or isinstance(exc.__cause__, _NOT_SENT) else None
    return None  # BadRequest, Forbidden, ...: sending again would fail the same way


async def patiently(send: Callable[[], Awaitable[Message]], what: str) -> Message | None:
    """``send()``, retried with backoff while it surely failed; None when Telegram did not
    answer in time after receiving it (the message most likely arrived)."""
    for attempt in range(1, ATTEMPTS + 1):
        backoff = SCHEDULE.delay(attempt)
        try:
            return await send()
        except TelegramError as exc:
            delay = _retry_delay(exc, backoff)
            if isinstance(exc, TimedOut) and delay is None:
                log.warning("Telegram did not answer %s in time; not sent again", what)
                return None
            if delay is None or attempt == ATTEMPTS:
                raise
            log.warning(
                "%s failed (%s: %s); attempt %d of %d in %.1f s",
                what,
                exc.__class__.__name__,
                exc.message,
                attempt + 1,
                ATTEMPTS,
                delay,
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def send_html(
    bot: Bot,
    chat_id: int,
    markup: str,
    *,
    keyboard: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> Message | None:
    """Send ``markup`` (split as needed); the first part replies, the last carries the buttons.

    Returns the last part as Telegram confirmed it, or None when Telegram took too long to
    confirm it (see ``patiently``)."""
    parts = render.split_html(markup)
    if not parts:
        raise ValueError("nothing to send: the message is empty")
    note_reply()
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
    return sent


async def _send_part(
    bot: Bot,
    chat_id: int,
    part: str,
    keyboard: InlineKeyboardMarkup | None,
    reply: ReplyParameters | None,
) -> Message | None:
    try:
        return await patiently(
            lambda: bot.send_message(chat_id, part, reply_markup=keyboard, reply_parameters=reply),
            "sendMessage",
        )
    except BadRequest as exc:
        if "can't parse entities" not in exc.message.lower():
            raise
        log.warning("Telegram rejected our HTML (%s); sending plain text instead", exc.message)
        return await patiently(
            lambda: bot.send_message(
                chat_id,
                render.plain_text(part),
                parse_mode=None,
                reply_markup=keyboard,
                reply_parameters=reply,
            ),
            "sendMessage",
        )


async def typing(bot: Bot, chat_id: int) -> None:
    """Show "typing…" while the answer is prepared; a failure here must not lose the answer."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as exc:
        log.debug("chat action failed: %s", exc)
