"""Follow-up questions: a short question right after an answer continues that conversation.

What a follow-up means is the engine's Thai-text rule (``index.merge_followup``); this module
keeps who asked what last, and for how long a short question still continues it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from index import merge_followup

MAX_CHATS = 10_000  # conversations remembered at once; the oldest are forgotten first


@dataclass(frozen=True)
class Turn:
    """The last answered question of a chat and the year of the article that answered it."""

    question: str
    year: int | None
    at: float


@dataclass(frozen=True)
class Reading:
    """How to ask the engine: the question to ask, whether it was merged, the reference year."""

    question: str
    merged: bool
    reference_year: int | None


class Conversations:
    """Per-person memory of the last answer in each chat, kept for ``window`` seconds.

    Keyed by chat and asker: in a group, one member's short question continues their own last
    question, never another member's (whose words would then be recorded under their name)."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window, self.clock = window, clock
        self._turns: OrderedDict[tuple[int, int], Turn] = OrderedDict()

    def read(self, chat_id: int, user_id: int, text: str) -> Reading:
        turn = self._turns.get((chat_id, user_id))
        if turn is None or self.clock() - turn.at > self.window:
            return Reading(text, False, None)
        merged = merge_followup(turn.question, text)
        return Reading(merged or text, merged is not None, turn.year)

    def remember(self, chat_id: int, user_id: int, question: str, year: int | None) -> None:
        key = (chat_id, user_id)
        self._turns[key] = Turn(question, year, self.clock())
        self._turns.move_to_end(key)
        while len(self._turns) > MAX_CHATS:
            self._turns.popitem(last=False)

    def forget(self, chat_id: int, user_id: int) -> None:
        self._turns.pop((chat_id, user_id), None)

    def forget_user(self, user_id: int) -> None:
        """Everything remembered of one person, in every chat (/forget)."""
        for key in [k for k in self._turns if k[1] == user_id]:
            del self._turns[key]
