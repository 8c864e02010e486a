"""What the handlers share: the engine, its worker threads and the bot's small memories.

Answering is CPU work (embedding, search) that would freeze the event loop; it runs on a few
worker threads so buttons, commands and other questions keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from telegram.ext import ContextTypes

from index import Answer, CorpusInfo, Engine, Settings

from .feedback import FeedbackSink
from .followup import Conversations
from .limits import RateLimiter
from .store import AnswerStore

KEY = "dgbot"
ANSWER_WORKERS = 4
INLINE_FACTOR = 3


@dataclass
class Services:
    """The bot's shared state; the memories are only touched on the event loop, so no locks."""

    settings: Settings
    feedback: FeedbackSink
    engine: Engine | None = None  # loaded in post_init unless given
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="answer")
    )
    answers: AnswerStore = field(default_factory=AnswerStore)
    conversations: Conversations = field(init=False)
    limiter: RateLimiter = field(init=False)
    inline_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
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

    def corpus(self) -> CorpusInfo:
        return self.loaded().info()


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[KEY]
