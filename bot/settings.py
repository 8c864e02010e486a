"""The bot's settings: Telegram, webhook, per-user limits, staff tools and the record.

They are read like the engine's (``DGBOT_*`` variables and ``.env``, one ``dgbot: error:`` line
for a bad value) and carry the engine settings the bot runs, so one object says how the whole
bot is set up while the engine never sees a Telegram field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Self

from pydantic import Field

from index import CsvInts, EnvSettings, Settings


class BotSettings(EnvSettings):
    """What the bot reads; README.md documents each variable."""

    engine: Settings = Field(default_factory=Settings)  # for Engine.open; not a variable itself
    telegram_token: str = ""
    telegram_base_url: str = "https://api.telegram.org/bot"
    log_level: str = "INFO"
    # Webhook mode, per-user limits, follow-ups, feedback.
    webhook_listen: str = "127.0.0.1"  # a reverse proxy in front terminates HTTPS
    webhook_port: int = 8443
    webhook_secret: str = ""  # empty: a random secret per run
    user_rate_per_minute: int = 20  # questions per user per minute; 0 = no limit
    followup_seconds: int = 300  # a short question this soon after an answer continues it
    hash_salt: str = ""  # salts user-id hashes in the record; empty: random, kept in cache_dir
    # Staff tools and the record of questions and answers.
    staff_chat_ids: CsvInts = ()  # chats where staff commands and debug blocks work
    staff_user_ids: CsvInts = ()  # users allowed to run them (in those chats only)
    database_url: str = ""  # empty: SQLite file <cache_dir>/dgbot.sqlite3
    retention_days: int = 0  # questions older than this are deleted; 0 = keep them
    gold_questions: Path = Path("tests/data/gold_questions.jsonl")  # /eval and reindex checks
    reindex_tolerance: float = 2.0  # percentage points a new index may lose on the gold set

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Self:
        """The bot's variables and the engine's, from ``.env`` overlaid by the environment."""
        engine = Settings.load(environ, env_file)
        return cls(**{**cls.read(environ, env_file), "engine": engine})

    @property
    def cache_dir(self) -> Path:
        """The engine's cache folder; the record and the salt file live there too."""
        return self.engine.cache_dir

    @property
    def database(self) -> str:
        """DGBOT_DATABASE_URL, or the embedded SQLite file beside the model and index."""
        return self.database_url or f"sqlite:///{self.cache_dir / 'dgbot.sqlite3'}"
