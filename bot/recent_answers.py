"""Recent answers per chat, under short random keys that fit in a button's callback data.

Telegram allows 64 bytes of callback data, far too little for an answer; the button carries a
key and the answer waits here. Memory is bounded: old answers and quiet chats are dropped, and
their buttons then get a polite "expired" note.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from index import Answer

from .outbox import Receipt

PER_CHAT = 50
MAX_CHATS = 5_000


@dataclass
class Stored:
    answer: Answer
    receipt: Receipt = field(default_factory=Receipt)  # its row in the record, once written
    voters: set[int] = field(default_factory=set)  # who has voted on it already
    more_shown: bool = False


class RecentAnswers:
    def __init__(self, per_chat: int = PER_CHAT, max_chats: int = MAX_CHATS) -> None:
        self.per_chat, self.max_chats = per_chat, max_chats
        self._chats: OrderedDict[int, OrderedDict[str, Stored]] = OrderedDict()

    def put(self, chat_id: int, answer: Answer, receipt: Receipt | None = None) -> str:
        """Keep ``answer`` and return its key (8 URL-safe characters)."""
        answers = self._chats.setdefault(chat_id, OrderedDict())
        self._chats.move_to_end(chat_id)
        key = secrets.token_urlsafe(6)
        answers[key] = Stored(answer, receipt or Receipt())
        while len(answers) > self.per_chat:
            answers.popitem(last=False)
        while len(self._chats) > self.max_chats:
            self._chats.popitem(last=False)
        return key

    def forget_chat(self, chat_id: int) -> None:
        """Drop a chat's answers (its buttons then expire politely)."""
        self._chats.pop(chat_id, None)

    def get(self, chat_id: int, key: str) -> Stored | None:
        """The stored answer, or None for a key that expired or never existed."""
        return self._chats.get(chat_id, {}).get(key)
