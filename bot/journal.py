"""Each update answered once, even when Telegram delivers it again.

Telegram delivers an update again when the bot did not confirm it: after a crash in long
polling (bot/polling.py confirms only handled updates), or when a webhook request failed or
timed out. The journal in the record (``handled_updates``) says which updates were already
answered, so a second delivery is skipped instead of answered twice. It is written right after
an update's handlers finish; a crash in the few milliseconds between a sent answer and that
write is the one window left, and there the update is answered again rather than lost.

Only updates the bot replied to are written: a sticker in a group, side talk the bot was not
addressed in or an inline keystroke would otherwise each cost a database write, and handling
one of those twice sends nothing twice. They are remembered in memory only.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from contextvars import ContextVar

from telegram import Update
from telegram.ext import Application

from .outbox import Outbox
from .records import Records, utcnow

log = logging.getLogger(__name__)

REMEMBERED = 10_000  # recent update ids also kept in memory, for when the database is away
_REPLIED: ContextVar[list[bool] | None] = ContextVar("replied", default=None)


def note_reply() -> None:
    """Mark the update being handled as one the bot sent a message for (bot.send calls it)."""
    replied = _REPLIED.get()
    if replied is not None:
        replied[0] = True


class Journal:
    def __init__(self, records: Records, outbox: Outbox) -> None:
        self.records, self.outbox = records, outbox
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._running: set[int] = set()

    async def begin(self, bot_id: int, update_id: int) -> bool:
        """True if the update is new and now being handled; False to skip it."""
        if update_id in self._recent or update_id in self._running:
            return False
        self._running.add(update_id)
        seen: set[int] = set()
        # While the database is known to be away, memory is all there is: asking it again for
        # every update would make each answer wait for a connection attempt to fail.
        if not self.outbox.away:
            try:
                seen = await asyncio.to_thread(self.records.handled, bot_id, [update_id])
            except Exception as exc:  # the database is away: handle it rather than lose it
                log.warning("could not read the update journal (%s)", exc.__class__.__name__)
        if seen:
            self._running.discard(update_id)
            self._remember(update_id)
            return False
        return True

    async def done(self, bot_id: int, update_id: int, replied: bool = True) -> None:
        """Note the update as handled: in memory, and in the record (held while the database
        is away) when the bot replied to it."""
        self._running.discard(update_id)
        self._remember(update_id)
        if not replied:
            return
        at = utcnow()
        await self.outbox.write(
            f"update {update_id} as handled",
            lambda: self.records.mark_handled(bot_id, update_id, at),
        )

    def _remember(self, update_id: int) -> None:
        self._recent[update_id] = None
        while len(self._recent) > REMEMBERED:
            self._recent.popitem(last=False)


class JournaledApplication(Application):
    """PTB's Application, skipping updates the journal knows; polling and webhook alike."""

    journal: Journal | None = None  # set by bot.app.build_application

    async def process_update(self, update: object) -> None:
        journal = self.journal
        if journal is None or not isinstance(update, Update):
            await super().process_update(update)
            return
        if not await journal.begin(self.bot.id, update.update_id):
            log.info("update %d was handled before; not answered again", update.update_id)
            return
        replied = [False]  # shared with any task the handlers start (they copy the context)
        token = _REPLIED.set(replied)
        try:
            await super().process_update(update)
        finally:
            _REPLIED.reset(token)
            await journal.done(self.bot.id, update.update_id, replied[0])
