"""Fixtures of the end-to-end tests: a fake Telegram server per test and the bot's settings
pointing at it (as a citizen's bot, and as one with a staff chat)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from bot.settings import BotSettings
from index.settings import Settings
from tests.support.paths import REPO
from tests.support.staff import GOLD_IDS, STAFF, STAFF_CHAT
from tests.support.users import FakeTelegram


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def bot_settings(settings: Settings, tg: FakeTelegram, tmp_path) -> BotSettings:
    """The session's corpus and index; this test's own record (in tmp_path) and fake Telegram."""
    return BotSettings(
        engine=settings.model_copy(
            update={"cache_dir": tmp_path, "index_dir": settings.index_path}
        ),
        telegram_token=tg.token,
        telegram_base_url=tg.base_url,
        hash_salt="the-e2e-test-salt-value",
    )


@pytest.fixture
def staff_settings(bot_settings: BotSettings, tmp_path) -> BotSettings:
    """The bot with a staff chat, a staff member, a few gold questions and no question quota."""
    gold = tmp_path / "gold.jsonl"
    lines = (REPO / "tests/data/gold_v1.jsonl").read_text(encoding="utf-8").splitlines()
    gold.write_text(
        "\n".join(line for line in lines if json.loads(line)["id"] in GOLD_IDS) + "\n",
        encoding="utf-8",
    )
    return bot_settings.model_copy(
        update={
            "staff_chat_ids": (STAFF_CHAT,),
            "staff_user_ids": (STAFF,),
            "gold_questions": gold,
            "user_rate_per_minute": 0,
        }
    )


@pytest.fixture
def own_index(staff_settings: BotSettings, settings: Settings, tmp_path) -> BotSettings:
    """A copy of the session's index and corpus, so a reindex changes neither."""
    corpus = tmp_path / "corpus"
    shutil.copytree(settings.corpus_dir, corpus)
    folder = tmp_path / "index"
    shutil.copytree(settings.index_path, folder)
    engine = staff_settings.engine.model_copy(update={"corpus_dir": corpus, "index_dir": folder})
    return staff_settings.model_copy(update={"engine": engine})
