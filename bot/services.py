"""What the handlers share: the engine, its worker threads, the record and small memories.

Answering is CPU work (embedding, search) that would freeze the event loop; it runs on a few
worker threads so buttons, commands and other questions keep flowing meanwhile. The engine is
read once per question, so a reindex can replace it at any moment: a question already started
finishes on the engine it began with.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from index import Answer, CorpusInfo, Engine

from .followup import Conversations
from .journal import Journal
from .outbox import Outbox, Receipt
from .quota import QuestionQuota
from .recent_answers import RecentAnswers
from .records import Forgotten, Records, utcnow
from .settings import BotSettings

log = logging.getLogger(__name__)

KEY = "dgbot"
ANSWER_WORKERS = 4
INLINE_FACTOR = 3
PURGE_EVERY = 3600.0  # seconds between DGBOT_RETENTION_DAYS clean-ups
# How long a /forget keeps refusing that user's writes stamped before it: far longer than a
# question takes to answer and record; writes held for the database are dropped at once.
FORGET_WINDOW = dt.timedelta(minutes=10)


@dataclass
class Services:
    """The bot's shared state; the memories are only touched on the event loop, so no locks."""

    settings: BotSettings  # the engine's are settings.engine
    records: Records
    engine: Engine | None = None  # loaded in post_init unless given
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="answer")
    )
    answers: RecentAnswers = field(default_factory=RecentAnswers)
    outbox: Outbox = field(default_factory=Outbox)
    journal: Journal = field(init=False)
    conversations: Conversations = field(init=False)
    quota: QuestionQuota = field(init=False)
    inline_quota: QuestionQuota = field(init=False)
    staff_chats: set[int] = field(init=False)  # the settings' staff chats that work, as followed
    forgotten: dict[str, dt.datetime] = field(default_factory=dict)  # user hash → /forget time
    notices: dict[str, float] = field(default_factory=dict)  # staff notice → when last sent
    backlog: Counter[int] = field(default_factory=Counter)  # chat → replies waiting to be sent
    told_busy: set[int] = field(default_factory=set)  # chats told their backlog is full
    background: set[asyncio.Task] = field(default_factory=set)  # staff notices on their way
    reindexing: bool = False  # set and cleared on the event loop: one reindex at a time
    _purged_at: float = 0.0

    def __post_init__(self) -> None:
        self.journal = Journal(self.records, self.outbox)
        self.staff_chats = set(self.settings.staff_chat_ids)
        self.conversations = Conversations(self.settings.followup_seconds)
        self.quota = QuestionQuota(self.settings.user_rate_per_minute)
        # Inline queries arrive as the user types, several per question: a looser limit.
        self.inline_quota = QuestionQuota(self.settings.user_rate_per_minute * INLINE_FACTOR)

    def loaded(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("the engine is not loaded yet (post_init has not run)")
        return self.engine

    async def answer(self, question: str, reference_year: int | None = None) -> Answer:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor,
            self.loaded().answer,
            question,
            self.settings.engine.top_k,
            reference_year,
        )

    async def record(
        self,
        answer: Answer,
        chat_type: str,
        user_id: int,
        latency_ms: float,
        asked_at: dt.datetime | None = None,
    ) -> Receipt:
        """Keep the question (asked at ``asked_at``, UTC) in the record, now or once the
        database is back (see Outbox); the receipt gets the question's id when it is written."""
        receipt = Receipt()
        row = self.records.question_row(answer, chat_type, user_id, latency_ms, asked_at)

        def write() -> None:
            if not self._was_forgotten(row):
                receipt.id = self.records.insert_question(row)

        await self.outbox.write("a question", write, owner=row["user_hash"])
        if time.monotonic() - self._purged_at > PURGE_EVERY:
            self._purged_at = time.monotonic()
            await self.outbox.write("the retention clean-up", self._purge)
        return receipt

    async def record_vote(self, user_id: int, helpful: bool, receipt: Receipt) -> None:
        """A 👍/👎; on a question still waiting for the database it waits behind it."""
        row = self.records.vote_row(user_id, helpful)

        def write() -> None:
            if self._was_forgotten(row):
                return
            if receipt.id is None:
                raise LookupError("the question it is about was never recorded")
            self.records.insert_vote(row, receipt.id)

        if receipt.id is None:
            self.outbox.later("a vote", write, owner=row["user_hash"])
        else:
            await self.outbox.write("a vote", write, owner=row["user_hash"])

    async def forget(self, user_id: int, chat_id: int) -> Forgotten | None:
        """/forget: everything of this user goes, in order with the record's other writes.

        Their writes held for the database are dropped, any of theirs still in flight (stamped
        before now) is refused when it comes, and what the bot keeps in memory of them (the
        follow-up context, a private chat's answers behind buttons) is cleared; then the
        record is deleted from, now, or once the database is back (None: not yet)."""
        mine = self.records.user_hash(user_id)
        now = utcnow()
        self.forgotten = {h: t for h, t in self.forgotten.items() if now - t < FORGET_WINDOW}
        self.forgotten[mine] = now
        self.outbox.drop(mine)
        self.conversations.forget_user(user_id)
        if chat_id == user_id:
            self.answers.forget_chat(chat_id)
        done: list[Forgotten] = []
        await self.outbox.write("a /forget", lambda: done.append(self.records.forget(user_id)))
        return done[0] if done else None

    def _was_forgotten(self, row: dict) -> bool:
        """A row of a user who asked to be forgotten after it was stamped."""
        since = self.forgotten.get(row["user_hash"])
        return since is not None and row["at"] <= since

    def _purge(self) -> None:
        self.records.purge(self.settings.retention_days)
        self.records.prune_journal()

    def corpus(self) -> CorpusInfo:
        return self.loaded().info()


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[KEY]
