"""The salt that keeps askers and voters anonymous in the record.

A user is stored only as a salted hash: enough to count distinct users, useless
for finding the person.
"""

from __future__ import annotations

import secrets

from index import SettingsError, create_once

from .settings import BotSettings

SALT_FILE = "feedback.salt"
MIN_SALT = 16  # characters: a shorter salt is guessed along with the ids it hides


def hash_salt(settings: BotSettings) -> str:
    """DGBOT_HASH_SALT, or a random salt created once (whole, readable by its owner only, one
    winner if two bots start together) and kept in the cache folder. A salt under ``MIN_SALT``
    characters, set or found, is refused: with an empty one every hash is sha256(":" + id)."""
    if settings.hash_salt:
        salt, where = settings.hash_salt, "DGBOT_HASH_SALT"
    else:
        path = settings.cache_dir / SALT_FILE
        create_once(path, secrets.token_hex(16).encode())
        salt, where = path.read_text(encoding="utf-8").strip(), str(path)
    if len(salt) < MIN_SALT:
        raise SettingsError(
            f"{where}: the hash salt must be at least {MIN_SALT} characters (it has {len(salt)})"
        )
    return salt
