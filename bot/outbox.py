"""Writes to the record that wait while the database is away, so answers never have to.

A citizen's answer must not depend on the database. When a write fails because the database
cannot be reached (locked, read-only, server down), it is kept here in memory, in order, and a
background task retries it until the database is back. Staff hear once when writes start
waiting and once when they have been written. The wait is bounded: past ``limit`` writes the
oldest is dropped, and every drop is logged as an error and reported, never lost quietly.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import sqlalchemy as sa

from . import texts

log = logging.getLogger(__name__)

MAX_HELD = 20_000  # about a day of questions for a busy deployment, a few MB of memory
RETRY_SECONDS = 2.0
# The database is away, not the write wrong: worth holding and retrying.
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)

Write = Callable[[], object]
Notify = Callable[[str], Awaitable[None]]


@dataclass
class Receipt:
    """A question's id in the record, known once its row is written (None until then)."""

    id: int | None = None


class Outbox:
    """Record writes, done at once when the database is there and held in order when not."""

    def __init__(self, limit: int = MAX_HELD, retry_seconds: float = RETRY_SECONDS) -> None:
        self.limit, self.retry_seconds = limit, retry_seconds
        self.notify: Notify | None = None  # set once the bot can talk to the staff chats
        self.dropped = 0
        self._away = False  # a write failed and the queue has not been emptied since
        self._held: deque[tuple[str, Write, str]] = deque()  # what, how, whose (a user hash)
        self._task: asyncio.Task | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def away(self) -> bool:
        """The last write found the database away and it has not been seen back since."""
        return self._away

    async def write(self, what: str, write: Write, owner: str = "") -> bool:
        """Run ``write`` in a thread now, or hold it while the database is away (or while
        earlier writes still wait, so the order is kept); True if it was written now.
        ``owner`` (a user hash) lets ``drop`` find a held write when its user asks to be
        forgotten."""
        if not self._held and not self._away:
            try:
                await asyncio.to_thread(write)
                return True
            except UNAVAILABLE as exc:
                self._hold(what, write, owner)
                if not self._away:  # writes already under way may fail too: tell once
                    self._away = True
                    log.warning(
                        "the database is unavailable (%s); holding records in memory and "
                        "retrying every %.0f s",
                        _reason(exc),
                        self.retry_seconds,
                    )
                    await self._tell(texts.RECORDS_HELD.format(reason=html.escape(_reason(exc))))
                return False
            except Exception:
                log.exception("could not record %s; it is not kept", what)
                return False
        self._hold(what, write, owner)
        return False

    def later(self, what: str, write: Write, owner: str = "") -> None:
        """Hold ``write`` behind what already waits: it depends on a write not done yet."""
        self._hold(what, write, owner)

    def drop(self, owner: str) -> None:
        """Forget the held writes of ``owner``."""
        self._held = deque(item for item in self._held if item[2] != owner)

    def _hold(self, what: str, write: Write, owner: str = "") -> None:
        self._held.append((what, write, owner))
        if len(self._held) > self.limit:
            lost, _, _ = self._held.popleft()
            self.dropped += 1
            log.error(
                "record queue full (%d waiting): dropped the oldest (%s); %d dropped so far",
                self.limit,
                lost,
                self.dropped,
            )
            if self.dropped == 1:  # once per outage; the log counts every one
                asyncio.get_running_loop().create_task(
                    self._tell(texts.RECORDS_DROPPED.format(limit=self.limit))
                )

    async def flush(self) -> int:
        """Write what waits, oldest first, until the database fails again; how many written."""
        written = 0
        while self._held:
            item = self._held[0]
            what, write, _ = item
            try:
                await asyncio.to_thread(write)
            except UNAVAILABLE:
                break
            except Exception:
                log.exception("could not record %s after the database came back; dropped", what)
            else:
                written += 1
            if self._held and self._held[0] is item:  # ``drop`` may have taken it meanwhile
                self._held.popleft()
        if self._away and not self._held:
            self._away = False
            log.info("the database is back: wrote %d held records", written)
            await self._tell(texts.RECORDS_WRITTEN.format(count=written, dropped=self.dropped))
            self.dropped = 0
        return written

    def start(self) -> None:
        """Retry held writes in the background from now on (call on the bot's event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._retry_forever())

    async def stop(self) -> None:
        """Stop retrying, after one last try; whatever still waits is logged as lost."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.flush()
        if self._held:
            log.error("stopping with %d records not written: the database is away", self.held)

    async def _retry_forever(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            if self._held or self._away:
                await self.flush()

    async def _tell(self, text: str) -> None:
        if self.notify is not None:
            await self.notify(text)


def _reason(exc: BaseException) -> str:
    """The driver's first line, without the SQL or parameters (they may hold a question)."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).splitlines() or [original.__class__.__name__])[0][:200]
