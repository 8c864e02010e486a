"""Telegram failing on the way, end to end: the fake Bot API server answers the real bot with
429s, 5xx, connection resets, slow replies and unreadable updates; every question is still
answered exactly once, and one broken update does not stop the others."""

from __future__ import annotations

import time

import pytest

import bot.polling
import bot.send
from bot import texts
from bot.backoff import Backoff
from tests.support.live_bot import (
    CHAT,
    DBD_2020,
    WAIT,
    assert_dbd_2020_answer,
    free_port,
    reply,
    running,
)
from tests.support.users import FakeTelegram


def to_chat(chat_id: int):
    return lambda params: params.get("chat_id") == chat_id


def delivered_to(tg: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in tg.sent_messages(chat_id)]


def test_429_is_waited_out_then_the_answer_is_delivered_once(tg, bot_settings, engine) -> None:
    tg.inject_fault("sendMessage", status=429, retry_after=1, when=to_chat(CHAT))
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
    sends = [r for r in tg.history if r.method == "sendMessage"]
    assert [r.status for r in sends] == [429, 200]
    assert len(delivered_to(tg, CHAT)) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "times": 2},
        {"status": 502, "times": 3},
        {"reset_connection": True, "times": 2},
    ],
    ids=["500", "502", "reset"],
)
def test_failed_sends_are_retried_and_delivered_once(tg, bot_settings, engine, fault) -> None:
    tg.inject_fault("sendMessage", when=to_chat(CHAT), **fault)
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
    assert len(delivered_to(tg, CHAT)) == 1
    assert len([c for c in tg.faulted_calls if c.method == "sendMessage"]) == fault["times"]


def test_a_send_that_never_gets_through_is_given_up_and_reported(
    tg,
    bot_settings,
    engine,
    caplog,
) -> None:
    tg.inject_fault("sendMessage", status=502, times=bot.send.ATTEMPTS, when=to_chat(CHAT))
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        assert reply(tg)["text"] == texts.ERROR  # the apology gets through afterwards
    faulted = [c for c in tg.faulted_calls if c.method == "sendMessage"]
    assert len(faulted) == bot.send.ATTEMPTS
    assert "error while handling an update" in caplog.text


def test_slow_replies_and_a_send_timeout_never_duplicate(tg, bot_settings, engine) -> None:
    """A sendMessage Telegram received but answered too late most likely arrived: it is not
    sent again, and the user gets no error message after the answer."""
    tg.inject_fault("sendChatAction", delay=1.0, when=to_chat(CHAT))  # slow but in time
    tg.inject_fault("sendMessage", delay=6.5, when=to_chat(CHAT))  # PTB's read timeout is 5 s
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
        tg.send_text(CHAT, DBD_2020)  # the next question is answered normally
        assert_dbd_2020_answer(reply(tg))
    assert len(delivered_to(tg, CHAT)) == 2
    assert texts.ERROR not in delivered_to(tg, CHAT)


def test_get_updates_failures_are_retried_without_losing_updates(
    tg,
    bot_settings,
    engine,
    monkeypatch,
) -> None:
    monkeypatch.setattr(bot.polling, "POLL_TIMEOUT", 1)
    monkeypatch.setattr(bot.polling, "READ_SLACK", 1.0)
    monkeypatch.setattr(bot.polling, "BACKOFF", Backoff(first=0.1, cap=0.2))
    tg.send_text(CHAT, DBD_2020)  # waiting before the bot starts
    for fault in (
        {"status": 429, "retry_after": 1},
        {"status": 500},
        {"status": 502},
        {"reset_connection": True},
        {"delay": 3.0},  # longer than the poll's read timeout: the bot gives up and asks again
    ):
        tg.inject_fault("getUpdates", **fault)
    with running(bot_settings, engine):
        assert_dbd_2020_answer(reply(tg))
        tg.send_text(CHAT + 1, DBD_2020)
        assert_dbd_2020_answer(reply(tg, CHAT + 1))

    def faulted() -> list[str]:
        return [r.fault for r in tg.history if r.method == "getUpdates" and r.fault]

    deadline = time.monotonic() + WAIT  # the slow poll is recorded once the fake answers it
    while len(faulted()) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(faulted()) == 5
    assert len(delivered_to(tg, CHAT)) == 1 and len(delivered_to(tg, CHAT + 1)) == 1
    assert tg.pending_updates() == []


@pytest.mark.parametrize(
    "broken",
    [
        {"message": {"message_id": 1, "text": "ไม่มีวันที่และแชต"}},  # required fields missing
        {"message": "ไม่ใช่ออบเจกต์"},  # a string where an object belongs
        {"callback_query": {"id": "1", "data": "x"}},  # no sender, no chat instance
    ],
    ids=["missing-fields", "wrong-type", "bad-callback"],
)
def test_an_unreadable_update_does_not_stop_the_others(
    tg,
    bot_settings,
    engine,
    caplog,
    broken,
) -> None:
    before = tg.push_update(broken)
    tg.send_text(CHAT, DBD_2020)
    with running(bot_settings, engine):
        assert_dbd_2020_answer(reply(tg))
        after = tg.push_update(broken)
        tg.send_text(CHAT + 1, DBD_2020)
        assert_dbd_2020_answer(reply(tg, CHAT + 1))
    assert tg.pending_updates() == []  # the broken ones were confirmed too, not retried forever
    for update in (before, after):
        assert f"update {update['update_id']} could not be read" in caplog.text
    assert "ไม่มีวันที่" not in caplog.text and "ไม่ใช่ออบเจกต์" not in caplog.text


def test_webhook_redelivery_is_answered_once(tg, bot_settings, engine, caplog) -> None:
    """Telegram posts an update again when it did not see the first delivery succeed."""
    caplog.set_level("INFO", logger="bot.journal")
    port = free_port()
    settings = bot_settings.model_copy(
        update={"webhook_port": port, "webhook_secret": "s3cret-webhook-token-of-32-chars-or-more"}
    )
    local = f"http://127.0.0.1:{port}/dgbot"
    with running(settings, engine, webhook_url="https://bot.example/dgbot"):
        tg.wait_for("setWebhook", timeout=WAIT)
        update = {"update_id": 777, **tg_message(DBD_2020)}
        assert tg.post_update_to(local, update, "s3cret-webhook-token-of-32-chars-or-more") == 200
        assert_dbd_2020_answer(reply(tg))
        assert tg.post_update_to(local, update, "s3cret-webhook-token-of-32-chars-or-more") == 200
        tg.forward_webhook_to(local)
        tg.send_text(CHAT, "สวัสดี")  # a later update is still answered
        reply(tg)
        assert "update 777 was handled before" in caplog.text
    assert len(delivered_to(tg, CHAT)) == 2


def tg_message(text: str) -> dict:
    """A private message from CHAT, shaped as Telegram sends it (without queueing it)."""
    user = {"id": CHAT, "is_bot": False, "first_name": "Tester"}
    chat = {"id": CHAT, "type": "private", "first_name": "Tester"}
    return {"message": {"message_id": 1, "date": 1, "chat": chat, "from": user, "text": text}}
