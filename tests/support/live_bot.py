"""The real bot under test: ``serve`` run in a thread against the fake Telegram server, and the
questions, waits and checks the end-to-end tests share."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from telegram.ext import Application

from bot.app import build_application, serve
from index import Answer, CorpusInfo, Engine, Settings
from tests.support.entities import JSON
from tests.support.users import FakeTelegram

CHAT = 4242
DBD_2020 = "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563"
OUT_OF_SCOPE = "สูตรต้มยำกุ้ง"
WAIT = 30.0  # generous: the engine shares this machine's CPUs with everything else


@contextmanager
def running(settings: Settings, engine: Engine, webhook_url: str | None = None) -> Iterator[None]:
    """``serve`` in a thread with its own event loop, exactly as ``dgbot serve`` runs it."""
    app: Application = build_application(settings, engine, webhook=webhook_url is not None)
    loop = asyncio.new_event_loop()
    failures: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            serve(app, webhook_url, stop_signals=None)
        except BaseException as exc:  # surfaced in the test thread below
            failures.append(exc)

    thread = threading.Thread(target=run, name="dgbot-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not app.running and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert app.running, f"the bot did not start: {failures}"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(app.stop_running)
        thread.join(timeout=WAIT)
        assert not thread.is_alive(), "the bot did not stop"
        assert not failures, failures


def reply(tg: FakeTelegram, chat_id: int = CHAT) -> JSON:
    return tg.wait_for_message(chat_id, timeout=WAIT)


def callback(message: JSON, prefix: str) -> str:
    """The callback data of the message's button whose data starts with ``prefix``."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return next(b["callback_data"] for row in rows for b in row if b["callback_data"][:2] == prefix)


def lines(message: JSON, marker: str) -> list[str]:
    return [line for line in message["text"].splitlines() if line.startswith(marker)]


def assert_dbd_2020_answer(message: JSON) -> None:
    """Found, bold answer first, and sourced from a 2020 article about the DBD, with its link."""
    first = message["entities"][0]
    assert first["type"] == "bold" and first["offset"] == 0
    (title,) = lines(message, "📰")
    (date,) = lines(message, "📅")
    (link,) = lines(message, "🔗")
    assert "กรมพัฒนาธุรกิจการค้า" in title
    assert date.endswith("2563")
    assert re.fullmatch(r"🔗 https://\S+", link)


class NeverSure:
    """The real engine, except that it never finds an answer: the not-found reply (which
    repeats the question) without depending on where the threshold is calibrated."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def answer(self, question: str, k: int = 5, reference_year: int | None = None) -> Answer:
        found = self.engine.answer(question, k, reference_year)
        return replace(found, found=False, text="", sentence="", confidence=0.0)

    def info(self) -> CorpusInfo:
        return self.engine.info()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
