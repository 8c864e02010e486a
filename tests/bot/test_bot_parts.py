"""The bot's small parts: rate limit, answer store, salt, log redaction, question cut, settings."""

from __future__ import annotations

import logging
import stat
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.app import REDACTED, bot_api_url, protect_logs, webhook_secret
from bot.handlers import MAX_QUESTION_CHARS, first_part
from bot.quota import WINDOW, QuestionQuota, Verdict
from bot.recent_answers import RecentAnswers
from bot.salt import SALT_FILE, hash_salt
from bot.settings import BotSettings
from index import Answer, Settings
from index.atomic import create_once
from index.settings import SettingsError
from tests.support.server import DEFAULT_TOKEN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_warns_once_then_stays_silent_until_the_window_frees() -> None:
    clock = Clock()
    quota = QuestionQuota(3, clock)
    assert [quota.check(1) for _ in range(3)] == [Verdict.ALLOW] * 3
    assert quota.check(1) is Verdict.WARN
    assert quota.check(1) is Verdict.SILENT
    assert quota.check(2) is Verdict.ALLOW  # other users are not affected
    clock.now += WINDOW
    assert quota.check(1) is Verdict.ALLOW
    assert QuestionQuota(0, clock).check(1) is Verdict.ALLOW  # 0 = no limit


def test_answer_store_is_bounded_and_rejects_unknown_keys() -> None:
    store = RecentAnswers(per_chat=2, max_chats=2)
    answers = [Answer(f"q{n}", True, "t", "s", 0.9) for n in range(3)]
    keys = [store.put(1, a) for a in answers]
    assert store.get(1, keys[0]) is None  # pushed out by newer answers
    assert store.get(1, keys[2]).answer is answers[2]
    assert store.get(1, "forged") is None and store.get(99, keys[2]) is None
    store.put(2, answers[0])
    store.put(3, answers[0])
    assert store.get(1, keys[2]) is None  # the quietest chat was forgotten
    assert all(len(k) == 8 for k in keys)


def test_salt_is_made_once_and_kept_private(tmp_path) -> None:
    settings = BotSettings(engine=Settings(cache_dir=tmp_path))
    salt = hash_salt(settings)
    assert hash_salt(settings) == salt and len(salt) == 32  # a restart keeps the salt
    assert stat.S_IMODE((tmp_path / SALT_FILE).stat().st_mode) == 0o600
    assert (
        hash_salt(settings.model_copy(update={"hash_salt": "pepper-of-16-chars"}))
        == "pepper-of-16-chars"
    )


def test_a_short_or_empty_salt_is_refused_not_used(tmp_path) -> None:
    with pytest.raises(SettingsError, match="DGBOT_HASH_SALT: the hash salt must be at least 16"):
        hash_salt(BotSettings(engine=Settings(cache_dir=tmp_path), hash_salt="pepper"))
    (tmp_path / SALT_FILE).write_text("")  # what a crash between create and write used to leave
    with pytest.raises(
        SettingsError, match=r"feedback.salt: .* at least 16 characters \(it has 0\)"
    ):
        hash_salt(BotSettings(engine=Settings(cache_dir=tmp_path)))


def test_racing_creators_of_a_file_agree_on_one_whole_content(tmp_path) -> None:
    target = tmp_path / "once"
    start = threading.Barrier(8)

    def make(n: int) -> bool:
        start.wait()
        return create_once(target, f"writer {n} ".encode() * 1000)

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(make, range(8)))
    assert won.count(True) == 1
    assert target.read_bytes() == f"writer {won.index(True)} ".encode() * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["once"]  # no temporary file left


def test_logs_never_show_the_token(caplog) -> None:
    protect_logs([DEFAULT_TOKEN])
    url = f"https://api.telegram.org/bot{DEFAULT_TOKEN}/getMe"
    with caplog.at_level(logging.INFO):
        logging.getLogger("dgbot.test").info("HTTP Request: POST %s", url)
        try:
            raise RuntimeError(f"failed: {url}")
        except RuntimeError:
            logging.getLogger("dgbot.test").exception("boom")
        logging.getLogger("httpx").info("hidden: %s", url)
    assert DEFAULT_TOKEN not in caplog.text
    assert DEFAULT_TOKEN.split(":")[1] not in caplog.text
    assert REDACTED in caplog.text and "hidden" not in caplog.text


def test_long_questions_are_cut_at_a_word_gap() -> None:
    assert first_part("  ถาม   สั้น ๆ \n") == ("ถาม สั้น ๆ", False)
    text, cut = first_part(" ".join(f"คำ{n}" for n in range(600)))
    assert cut and len(text) <= 1000 and text.endswith(f"คำ{text.count(' ')}")


def test_a_word_repeated_in_a_row_is_said_once() -> None:
    question = "กรมพัฒน์ได้รางวัลอะไร"
    assert first_part(question + " ขอบคุณมาก" * 150) == (question + " ขอบคุณมาก", False)
    assert first_part("มาก มาก ดี ดี") == ("มาก มาก ดี ดี", False)  # twice is how people talk
    assert first_part("ปี 2563 2563 2563 ล่ะ") == ("ปี 2563 ล่ะ", False)
    assert first_part("กขค ค ค") == ("กขค ค ค", False)  # a word's tail is not a word


def test_a_huge_message_without_spaces_is_cut_hard() -> None:
    """(50,000 letters without a space once held the bot's event loop for 27 s in a
    backtracking pattern; the end-to-end bad-input test sends one among other chats.)"""
    assert first_part("ก" * 50_000) == ("ก" * MAX_QUESTION_CHARS, True)


def test_bot_settings_come_from_the_environment() -> None:
    environ = {
        "DGBOT_WEBHOOK_LISTEN": "0.0.0.0",
        "DGBOT_WEBHOOK_PORT": "9000",
        "DGBOT_WEBHOOK_SECRET": "s3cret",
        "DGBOT_USER_RATE_PER_MINUTE": "5",
        "DGBOT_FOLLOWUP_SECONDS": "60",
        "DGBOT_HASH_SALT": "pepper",
        "DGBOT_STAFF_CHAT_IDS": "-1001, 42",
        "DGBOT_STAFF_USER_IDS": "7",
        "DGBOT_RETENTION_DAYS": "90",
        "DGBOT_REINDEX_TOLERANCE": "1.5",
        "DGBOT_GOLD_QUESTIONS": "gold.jsonl",
    }
    settings = BotSettings.load(environ, env_file=None)
    assert (settings.webhook_listen, settings.webhook_port) == ("0.0.0.0", 9000)
    assert (settings.user_rate_per_minute, settings.followup_seconds) == (5, 60)
    assert (settings.webhook_secret, settings.hash_salt) == ("s3cret", "pepper")
    assert (settings.staff_chat_ids, settings.staff_user_ids) == ((-1001, 42), (7,))
    assert (settings.retention_days, settings.reindex_tolerance) == (90, 1.5)
    assert settings.gold_questions.name == "gold.jsonl"
    defaults = BotSettings.load({}, env_file=None)
    assert (defaults.webhook_listen, defaults.webhook_port) == ("127.0.0.1", 8443)
    assert (defaults.user_rate_per_minute, defaults.followup_seconds) == (20, 300)
    assert defaults.database == f"sqlite:///{defaults.cache_dir / 'dgbot.sqlite3'}"


def test_webhook_secret_is_checked_or_made_up() -> None:
    made_up = webhook_secret(BotSettings())
    assert made_up != webhook_secret(BotSettings()) and len(made_up) >= 32
    chosen = "a-webhook-secret-of-exactly-40-chars-xyz"
    assert webhook_secret(BotSettings(webhook_secret=chosen)) == chosen
    with pytest.raises(SettingsError, match="DGBOT_WEBHOOK_SECRET"):
        webhook_secret(BotSettings(webhook_secret="not allowed!"))
    with pytest.raises(SettingsError, match="at least 32 characters \\(it has 6\\)"):
        webhook_secret(BotSettings(webhook_secret="s3cret"))


@pytest.mark.parametrize(
    "url",
    [
        "https://api.telegram.org/bot",
        "http://127.0.0.1:8081/bot",
        "http://localhost:8081/bot",
        "http://[::1]:8081/bot",
    ],
)
def test_the_bot_api_is_reached_over_https_or_on_this_host(url) -> None:
    assert bot_api_url(BotSettings(telegram_base_url=url)) == url


@pytest.mark.parametrize(
    "url", ["http://api.telegram.org/bot", "http://10.0.0.5:8081/bot", "ftp://127.0.0.1/bot"]
)
def test_a_clear_text_bot_api_elsewhere_is_refused(url) -> None:
    with pytest.raises(SettingsError, match="DGBOT_TELEGRAM_BASE_URL"):
        bot_api_url(BotSettings(telegram_base_url=url))


def test_one_backoff_schedule_doubles_up_to_its_cap() -> None:
    from bot.backoff import SCHEDULE, Backoff

    assert [SCHEDULE.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert Backoff(first=0.1, cap=0.2).delay(5) == 0.2
