"""👍/👎 votes and the salt that keeps voters (and askers) anonymous in the record.

Handlers hand a ``Vote`` to the record (``bot.records.Records``) and never see how it is kept.
A user is stored only as a salted hash: enough to count distinct users, useless
for finding the person.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from index import Settings

SALT_FILE = "feedback.salt"


@dataclass(frozen=True)
class Vote:
    user_id: int  # hashed by the sink, never stored
    helpful: bool
    question_id: int  # the recorded question the answer belongs to


def hash_salt(settings: Settings) -> str:
    """DGBOT_HASH_SALT, or a random salt created once and kept in the cache folder."""
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
