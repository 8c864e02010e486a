"""The places dgbot reaches below python-telegram-bot's documented API, in one module, so a PTB
upgrade is checked here and nowhere else.

- ``RetryAfter.retry_after`` is deprecated (seconds now, a ``timedelta`` in a coming major
  version); PTB's own ``AIORateLimiter`` reads the private ``_retry_after``, and so does this,
  which keeps the deprecation warning out of the log.
- ``Bot.get_updates`` parses a whole batch or raises; the poller needs the raw JSON so that one
  unreadable update cannot fail the others, so it posts ``getUpdates`` itself.
"""

from __future__ import annotations

import datetime as dt

from telegram import Bot
from telegram.error import RetryAfter


def retry_after_seconds(exc: RetryAfter) -> float:
    """How long Telegram asked to wait, in seconds, whichever type PTB keeps it as."""
    wait = exc._retry_after
    return wait.total_seconds() if isinstance(wait, dt.timedelta) else float(wait)


async def raw_updates(bot: Bot, data: dict, read_timeout: float) -> list:
    """``getUpdates`` with ``data``, unparsed (an empty list for an unexpected answer)."""
    result = await bot._post("getUpdates", data, read_timeout=read_timeout)
    return result if isinstance(result, list) else []
