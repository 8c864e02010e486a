"""Long polling that confirms an update to Telegram only after it has been handled.

PTB's own polling confirms a batch (by asking for the next offset) as soon as it has fetched it,
so questions still being answered when the process is killed are never delivered again. Here
the offset moves past an update only once its handlers have finished; updates are handled
concurrently, and updates fetched again while an older one is still running are not started
twice. An update Telegram delivers again after a crash that had already been answered is
skipped by the journal (bot/journal.py). Failures of getUpdates (429, 5xx, resets, timeouts,
a competing poll) are retried with backoff; an update PTB cannot read is logged and confirmed,
so it cannot block the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from .backoff import SCHEDULE
from .ptbcompat import raw_updates, retry_after_seconds

log = logging.getLogger(__name__)

POLL_TIMEOUT = 10  # seconds Telegram holds a long poll open when there is nothing new
READ_SLACK = 5.0  # seconds beyond that to wait for its reply before asking again
BUSY_WAIT = 0.1  # seconds to wait for a running update to finish before polling again
BATCH = 100  # Telegram's maximum per getUpdates
MAX_RUNNING = 32  # updates handled at once; the engine has 4 threads, the rest wait for them
BACKOFF = SCHEDULE  # after consecutive failed polls
STOP_WAIT = 15.0  # seconds a stop waits for running updates before leaving them to redelivery


class Poller:
    """Fetches updates and hands each to ``app.process_update``; confirms only finished ones."""

    def __init__(self, app: Application, allowed_updates: Sequence[str] | None = None) -> None:
        self.app = app
        self.allowed_updates = list(allowed_updates) if allowed_updates is not None else None
        self._running: dict[int, asyncio.Task] = {}
        self._finished: set[int] = set()  # done, but an older update still runs
        self._offset = 0  # the oldest update not known to be handled
        self._newest = -1
        self._progress = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False  # checked by the loop too: a cancel alone can be lost (below)

    async def start(self) -> asyncio.Task:
        """Leave webhook mode (keeping pending updates) and poll in a background task."""
        await self.app.bot.delete_webhook(drop_pending_updates=False)
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="dgbot-polling")
        return self._task

    async def stop(self) -> None:
        """Stop fetching, let running updates finish (bounded), then confirm what finished."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=STOP_WAIT)
        if self._running:
            log.warning(
                "stopping with %d updates unfinished; Telegram will send them again",
                len(self._running),
            )
        if self._offset > 0:
            try:  # a short poll with the new offset is how Telegram learns what was handled
                await self._fetch(self._offset, timeout=0, limit=1)
            except Exception as exc:
                log.info(
                    "could not confirm the last updates (%s); the journal skips them "
                    "if they come again",
                    exc.__class__.__name__,
                )

    async def _poll(self) -> None:
        failures = 0
        while not self._stopping:
            room = MAX_RUNNING - len(self._running)
            if room <= 0:  # enough to do: the rest waits at Telegram, not in memory
                await self._wait_for_progress()
                continue
            # Unconfirmed updates come back first on every poll: ask for those and room more.
            limit = min(BATCH, len(self._running) + len(self._finished) + room)
            try:
                raw = await self._fetch(
                    self._offset, POLL_TIMEOUT if not self._running else 0, limit
                )
            except InvalidToken:
                raise
            except RetryAfter as exc:
                delay = retry_after_seconds(exc)
            except TimedOut:
                delay = 0.0 if failures == 0 else BACKOFF.delay(failures)  # one slow poll: again
            except (NetworkError, Conflict) as exc:
                delay = BACKOFF.delay(failures + 1)
                log.warning(
                    "getUpdates failed (%s: %s); again in %.1f s",
                    exc.__class__.__name__,
                    exc.message,
                    delay,
                )
            else:
                failures = 0
                if not self._start(raw) and self._running:
                    await self._wait_for_progress()
                continue
            failures += 1
            await asyncio.sleep(delay)

    async def _fetch(self, offset: int, timeout: float, limit: int = BATCH) -> list:
        """The raw updates: parsed one by one later, so one unreadable update cannot fail
        the batch (``Bot.get_updates`` parses them all or raises)."""
        data: dict = {"offset": offset, "timeout": timeout, "limit": limit}
        if self.allowed_updates is not None:
            data["allowed_updates"] = self.allowed_updates
        return await raw_updates(self.app.bot, data, timeout + READ_SLACK)

    def _start(self, raw: list) -> bool:
        """Start handling the updates not seen before; True if there were any."""
        started = False
        for data in raw:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            if not isinstance(update_id, int):
                log.warning("getUpdates returned an item without an update_id; ignored")
                continue
            if update_id < self._offset or update_id in self._running:
                continue
            if update_id in self._finished:
                continue
            self._newest = max(self._newest, update_id)
            started = True
            try:
                update = Update.de_json(data, self.app.bot)
            except Exception as exc:  # never log the content: it is a user's message
                log.warning(
                    "update %d could not be read (%s: %s); skipped",
                    update_id,
                    exc.__class__.__name__,
                    exc,
                )
                self._finish(update_id)
                continue
            task = asyncio.get_running_loop().create_task(self._handle(update))
            self._running[update_id] = task
        return started

    async def _handle(self, update: Update) -> None:
        try:
            await self.app.process_update(update)
        except Exception:
            log.exception("update %d failed outside its handlers", update.update_id)
        finally:
            self._running.pop(update.update_id, None)
            self._finish(update.update_id)

    def _finish(self, update_id: int) -> None:
        self._finished.add(update_id)
        self._offset = min(self._running) if self._running else self._newest + 1
        self._finished = {done for done in self._finished if done >= self._offset}
        self._progress.set()

    async def _wait_for_progress(self) -> None:
        """Nothing new arrived and older updates still run: do not ask Telegram in a loop."""
        self._progress.clear()
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancel that arrives
        # as the awaited event is set, and polling then never stopped.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(BUSY_WAIT):
                await self._progress.wait()
