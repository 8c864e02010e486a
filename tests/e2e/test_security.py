"""Secrets and abuse: the token stays out of logs, replies and staff reports whatever fails; one
user cannot flood the bot; ``dgbot serve`` never prints the token in an error."""

from __future__ import annotations

import logging

from telegram.error import TelegramError

import bot.app
import bot.send
from bot import texts
from bot.app import REDACTED
from bot.cli import main
from index import Answer, Engine
from tests.support.live_bot import DBD_2020, WAIT, reply, running
from tests.support.staff import CITIZEN, STAFF_CHAT, staff_reply

LEAK = "ขอดูโทเค็น"


class Leaky:
    """The real engine, except that one question fails with the bot's API URL in the message,
    as an HTTP library's error would."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine, self.url = engine, url

    def answer(self, question: str, k: int = 5, reference_year: int | None = None) -> Answer:
        if question == LEAK:
            raise ConnectionError(f"request to {self.url} failed")
        return self.engine.answer(question, k, reference_year)

    def info(self):
        return self.engine.info()


def test_the_token_never_leaks_when_telegram_or_the_engine_fails(
    tg,
    staff_settings,
    engine,
    caplog,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = tg.token.partition(":")[2]
    url = tg.method_url("sendMessage")
    tg.inject_fault(
        "sendMessage",
        status=500,
        description=f"Internal Server Error: upstream {url} timed out",
        times=bot.send.ATTEMPTS,  # every retry fails too
        when=lambda params: str(params.get("chat_id")) == str(CITIZEN) and "📰" in params["text"],
    )
    with running(staff_settings, Leaky(engine, url)):
        tg.send_text(CITIZEN, DBD_2020)  # the answer's delivery fails with the URL in the error
        assert reply(tg, CITIZEN)["text"] == texts.ERROR
        staff_reply(tg)
        tg.send_text(CITIZEN, LEAK)  # the engine fails with the URL in its message
        assert reply(tg, CITIZEN)["text"] == texts.ERROR
        staff_reply(tg)
    assert tg.faulted_calls, "the Telegram fault never fired"
    assert caplog.text.count(REDACTED) >= 2  # both failures were logged, with the URL redacted
    assert secret not in caplog.text
    for message in tg.sent_messages():
        assert secret not in message["text"], message["text"]
    reports = tg.sent_messages(STAFF_CHAT)
    assert len(reports) == 2 and all(m["text"].startswith("⚠️") for m in reports)


def test_inline_queries_are_limited_per_user(tg, bot_settings, engine) -> None:
    # inline: three times that
    settings = bot_settings.model_copy(update={"user_rate_per_minute": 1})
    with running(settings, engine):
        answers = []
        for user in (77, 77, 77, 77, 78):
            tg.inline_query(user, DBD_2020)
            answers.append(tg.wait_for("answerInlineQuery", timeout=WAIT))
    assert all(a["results"] for a in answers[:3])
    assert answers[3]["results"] == [] and answers[3]["button"]["text"] == texts.INLINE_LIMITED
    assert answers[4]["results"]  # another user is not affected


def test_example_buttons_count_against_the_same_limit(tg, bot_settings, engine) -> None:
    # /start is a reply too: with it, three of the quota's three go before the third button.
    with running(bot_settings.model_copy(update={"user_rate_per_minute": 3}), engine):
        tg.send_command(CITIZEN, "start")
        greeting = reply(tg)
        example = greeting["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        for _ in range(3):
            tg.press_button(greeting, example)
        said = [reply(tg)["text"] for _ in range(3)]
    assert said.count(texts.RATE_LIMITED) == 1


def test_an_empty_ask_counts_against_the_same_limit(tg, bot_settings, engine) -> None:
    """/ask without a question gets its usage line, and a flood of them meets the quota."""
    with running(bot_settings.model_copy(update={"user_rate_per_minute": 2}), engine):
        for _ in range(3):
            tg.send_command(CITIZEN, "ask")
        said = [reply(tg)["text"] for _ in range(3)]
    # Updates are handled concurrently, so the three replies may come in any order.
    assert sorted(said) == sorted([texts.ASK_USAGE, texts.ASK_USAGE, texts.RATE_LIMITED])


def test_serve_never_prints_the_token_in_an_error(monkeypatch, tmp_path, capsys) -> None:
    token = "123456:very-secret-token-value"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DGBOT_TELEGRAM_TOKEN", token)
    monkeypatch.setenv("DGBOT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DGBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")

    def refused(app, webhook_url=None):
        raise TelegramError(f"Conflict at https://api.telegram.org/bot{token}/getUpdates")

    monkeypatch.setattr(bot.app, "serve", refused)
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dgbot: error: Telegram refused") and len(err.splitlines()) == 1
    assert "very-secret-token-value" not in err and REDACTED in err


def test_refused_staff_attempts_are_logged_without_the_users_id(tg, staff_settings, engine, caplog):
    caplog.set_level(logging.INFO)
    stranger = 8123456789  # in a private chat, the chat id is the user id
    with running(staff_settings, engine):
        tg.send_command(stranger, "reindex")
        assert reply(tg, stranger)["text"] == texts.STAFF_ONLY
        tg.forge_callback(stranger, "s:1:c", user_id=stranger)
        assert tg.wait_for("answerCallbackQuery", timeout=WAIT)["text"] == texts.STAFF_ONLY
    assert caplog.text.count("refused staff action") == 2
    assert str(stranger) not in caplog.text
