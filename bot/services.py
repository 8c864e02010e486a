"""What the handlers share: the engine, its worker threads, the record and small memories.

Answering is CPU work (embedding, search) that would freeze the event loop; it runs on a few
worker threads so buttons, commands and other questions keep flowing meanwhile. The engine is
read once per question, so a reindex can replace it at any moment: a question already started
finishes on the engine it began with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from index import Answer, CorpusInfo, Engine, Settings

from .followup import Conversations
from .journal import Journal
from .limits import RateLimiter
from .outbox import Outbox, Receipt
from .records import Records
from .store import AnswerStore

log = logging.getLogger(__name__)

KEY = "dgbot"
ANSWER_WORKERS = 4
INLINE_FACTOR = 3
PURGE_EVERY = 3600.0  # seconds between DGBOT_RETENTION_DAYS clean-ups


@dataclass
class Services:
    """The bot's shared state; the memories are only touched on the event loop, so no locks."""

    settings: Settings
    records: Records
    engine: Engine | None = None  # loaded in post_init unless given
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="answer")
    )
    answers: AnswerStore = field(default_factory=AnswerStore)
    outbox: Outbox = field(default_factory=Outbox)
    journal: Journal = field(init=False)
    conversations: Conversations = field(init=False)
    limiter: RateLimiter = field(init=False)
    inline_limiter: RateLimiter = field(init=False)
    staff_chats: set[int] = field(init=False)  # the settings' staff chats that work, as followed
    reindexing: bool = False  # set and cleared on the event loop: one reindex at a time
    _purged_at: float = 0.0

    def __post_init__(self) -> None:
        self.journal = Journal(self.records, self.outbox)
        self.staff_chats = set(self.settings.staff_chat_ids)
        self.conversations = Conversations(self.settings.followup_seconds)
        self.limiter = RateLimiter(self.settings.user_rate_per_minute)
        # Inline queries arrive as the user types, several per question: a looser limit.
        self.inline_limiter = RateLimiter(self.settings.user_rate_per_minute * INLINE_FACTOR)

    def loaded(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the engine is not loaded yet (post_init has not run)")
        return self.engine

    async def answer(self, question: str, reference_year: int | None = None) -> Answer:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.loaded().answer, question, self.settings.top_k, reference_year
        )

    async def record(
        self, answer: Answer, chat_type: str, user_id: int, latency_ms: float
    ) -> Receipt:
        """Keep the question in the record, now or once the database is back (see Outbox);
        the receipt gets the question's id when it is written."""
        receipt = Receipt()
        row = self.records.question_row(answer, chat_type, user_id, latency_ms)

        def write() -> None:
            receipt.id = self.records.insert_question(row)

        await self.outbox.write("a question", write)
        if time.monotonic() - self._purged_at > PURGE_EVERY:
            self._purged_at = time.monotonic()
            await self.outbox.write("the retention clean-up", self._purge)
        return receipt

    async def record_vote(self, user_id: int, helpful: bool, receipt: Receipt) -> None:
        """A 👍/👎; on a question still waiting for the database it waits behind it."""
        row = self.records.vote_row(user_id, helpful)

        def write() -> None:
            if receipt.id is None:
                raise LookupError("the question it is about was never recorded")
            self.records.insert_vote(row, receipt.id)

        if receipt.id is None:
            self.outbox.later("a vote", write)
        else:
            await self.outbox.write("a vote", write)

    def _purge(self) -> None:
        self.records.purge(self.settings.retention_days)
        self.records.prune_journal()

    def corpus(self) -> CorpusInfo:
        return self.loaded().info()


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[KEY]
