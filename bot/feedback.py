"""👍/👎 votes, kept durably so answers can be improved, without keeping who voted.

Votes go through the small ``FeedbackSink`` interface; today an append-only JSONL file under
the cache folder, later a database, without the handlers noticing. A user is stored only as a
salted hash: enough to count distinct voters, useless for finding the person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from index import Settings

FILE_NAME = "feedback.jsonl"
SALT_FILE = "feedback.salt"


@dataclass(frozen=True)
class Vote:
    user_id: int
    helpful: bool
    question: str
    article_id: str
    confidence: float
    chat_type: str


class FeedbackSink(Protocol):
    def record(self, vote: Vote) -> None: ...


class JsonlFeedback:
    """One JSON object per line, appended and flushed; safe to call from several threads."""

    def __init__(self, path: Path, salt: str) -> None:
        self.path, self._salt = path, salt
        self._lock = threading.Lock()

    def user_hash(self, user_id: int) -> str:
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()[:32]

    def record(self, vote: Vote) -> None:
        row = {k: v for k, v in asdict(vote).items() if k != "user_id"}
        row.update(
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            user=self.user_hash(vote.user_id),
        )
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)


def _salt(settings: Settings) -> str:
    """DGBOT_HASH_SALT, or a random salt created once and kept beside the votes."""
    if settings.hash_salt:
        return settings.hash_salt
    path = settings.cache_dir / SALT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # created readable by the owner only, and only once even with two bots starting
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(16))
    return path.read_text(encoding="utf-8").strip()


def open_feedback(settings: Settings) -> JsonlFeedback:
    return JsonlFeedback(settings.cache_dir / FILE_NAME, _salt(settings))
