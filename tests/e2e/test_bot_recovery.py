"""The bot recovers without losing or repeating anything: a database that is away for a while
(a locked SQLite file, or a PostgreSQL database refusing connections: answers go out, records
wait and are written when it is back), and ``dgbot serve`` killed with SIGKILL while questions
are in flight (every question answered exactly once after a restart) or stopped with SIGTERM
(the answer in hand goes out and is confirmed).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from bot import texts
from bot.journal import Journal
from bot.outbox import Outbox
from bot.records import CONNECT_TIMEOUT_SECONDS, Records, feedback, handled_updates, questions
from tests.support.live_bot import (
    DBD_2020,
    WAIT,
    assert_dbd_2020_answer,
    callback,
    reply,
    running,
)
from tests.support.paths import REPO
from tests.support.postgres import postgres_url
from tests.support.users import FakeTelegram

STAFF_CHAT = -1009990001
USERS = (6001, 6002, 6003)


def rows(settings, table: sa.Table) -> list:
    records = Records(settings.database, settings.hash_salt)
    try:
        with records.db.connect() as conn:
            return conn.execute(sa.select(table)).all()
    finally:
        records.close()


Outage = Callable[[str], AbstractContextManager[Callable[[], int]]]


@contextmanager
def sqlite_locked(url: str) -> Iterator[Callable[[], int]]:
    """Another program holds the SQLite file's write lock; it can still count the questions."""
    lock = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield lambda: lock.execute("SELECT count(*) FROM questions").fetchone()[0]
    finally:
        lock.execute("ROLLBACK")
        lock.close()


def postgres_server() -> sa.Engine:
    """The test server's own database, for creating, closing and dropping others."""
    return sa.create_engine(postgres_url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A database of this test's own, dropped afterwards: tests/bot/test_records.py keeps using the
    server's default one, which this test never shuts off."""
    name = f"dgbot_outage_{secrets.token_hex(4)}"
    server = postgres_server()
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:  # FORCE: also if a failed test left it closed or in use
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_refusing(url: str) -> Iterator[Callable[[], int]]:
    """The bot's PostgreSQL database refuses new connections and its open ones are cut, as in a
    server restart; one connection opened before stays, to count the questions meanwhile."""
    name = sa.make_url(url).database
    watch = sa.create_engine(url, poolclass=NullPool)
    with postgres_server().connect() as admin, watch.connect() as reader:
        keep = reader.scalar(sa.text("SELECT pg_backend_pid()"))
        admin.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            cut = admin.scalars(  # waits (up to 10 s each) until the backends are gone
                sa.text(
                    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> :keep"
                ),
                {"name": name, "keep": keep},
            ).all()
            assert cut and all(cut), "the bot's connections were not cut"
            yield lambda: reader.scalar(sa.select(sa.func.count()).select_from(questions))
        finally:
            admin.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def answers_go_out_and_records_follow(
    outage: Outage, reason: str, tg, settings, engine, caplog
) -> None:
    """While ``outage`` keeps the database away, three questions are answered and one answer is
    voted on; once it is back, every question and the vote are written exactly once."""
    caplog.set_level("INFO", logger="bot.outbox")
    settings = settings.model_copy(
        update={"staff_chat_ids": (STAFF_CHAT,), "user_rate_per_minute": 0}
    )
    with running(settings, engine):
        tg.wait_for("setMyCommands", timeout=WAIT)  # the database exists, migrated
        with outage(settings.database) as recorded:
            for user in USERS:
                tg.send_text(user, DBD_2020)
            answers = [reply(tg, user) for user in USERS]
            for answer in answers:
                assert_dbd_2020_answer(answer)
            held = tg.wait_for_message(STAFF_CHAT, timeout=WAIT)
            assert held["text"].startswith(texts.RECORDS_HELD.split("(")[0])
            tg.press_button(answers[0], callback(answers[0], "v:"))  # a vote while it is away
            assert tg.wait_for("answerCallbackQuery", timeout=WAIT)["text"] == texts.VOTE_THANKS
            assert recorded() == 0
        written = tg.wait_for_message(STAFF_CHAT, timeout=WAIT)
        assert written["text"].startswith(texts.RECORDS_WRITTEN.split("{")[0])
    assert sorted(r.question for r in rows(settings, questions)) == [DBD_2020] * len(USERS)
    (vote,) = rows(settings, feedback)
    assert vote.helpful is True
    # The questions were replied to; the vote got a toast, and a second one would not count.
    assert len(rows(settings, handled_updates)) == len(USERS)
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.outbox"]
    (away,) = [m for m in logged if m.startswith("the database is unavailable (")]  # told once
    assert reason in away
    assert any(m.startswith("the database is back: wrote") for m in logged)


def test_answers_go_out_while_the_database_is_locked_and_records_follow(
    tg, bot_settings, engine, caplog
) -> None:
    answers_go_out_and_records_follow(
        sqlite_locked, "database is locked", tg, bot_settings, engine, caplog
    )


def test_answers_go_out_while_postgresql_refuses_connections_and_records_follow(
    tg, bot_settings, engine, caplog, postgres_database
) -> None:
    settings = bot_settings.model_copy(update={"database_url": postgres_database})
    name = sa.make_url(postgres_database).database
    refused = f'database "{name}" is not currently accepting connections'
    answers_go_out_and_records_follow(postgres_refusing, refused, tg, settings, engine, caplog)


def test_a_postgresql_server_that_never_answers_fails_the_connection_instead_of_hanging() -> None:
    """A host that accepts TCP but says nothing (a hung server, a half-dead network): libpq
    would wait forever by default, and every answer would wait with it."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    outcome: list[BaseException] = []

    def connect() -> None:
        try:
            Records(f"postgresql+psycopg://dgbot@127.0.0.1:{port}/dgbot", "salt")
        except BaseException as exc:  # whatever it is, the test reports it
            outcome.append(exc)

    trying = threading.Thread(target=connect, daemon=True)
    trying.start()
    trying.join(timeout=WAIT + CONNECT_TIMEOUT_SECONDS)
    silent.close()
    assert not trying.is_alive(), "connecting to a silent server hung"
    assert outcome and isinstance(outcome[0], sa.exc.OperationalError), outcome


def test_the_journal_does_not_ask_a_database_known_to_be_away(tmp_path) -> None:
    """Once a write found the database away, updates are checked against memory only, so an
    answer never waits for another connection attempt to fail; when it is back, it is asked."""
    records = Records(f"sqlite:///{tmp_path / 'bot.db'}", "salt")
    asked: list[str] = []
    sa.event.listen(records.db, "before_cursor_execute", lambda *a: asked.append(a[2]))
    outbox = Outbox()
    journal = Journal(records, outbox)
    failures = [sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))]

    def write() -> None:
        if failures:
            raise failures.pop()

    async def scenario() -> tuple[bool, bool, bool, bool]:
        await outbox.write("a record", write)
        away, first = outbox.away, await journal.begin(1, 100)
        await outbox.flush()
        return away, first, outbox.away, await journal.begin(1, 101)

    away, first, still_away, second = asyncio.run(scenario())
    records.close()
    assert away and first and not still_away and second
    assert sum("handled_updates" in sql for sql in asked) == 1  # only for update 101


# --------------------------------------------------------------------------- kill and restart

STUCK = (6101, 6102)  # their answers fail with 502 until the kill: in flight
DONE = (6201, 6202, 6203)  # answered (and journaled) before the kill, but not yet confirmed


def serve(tg: FakeTelegram, settings, model_cache: Path, log: Path) -> subprocess.Popen:
    """``dgbot serve`` in a process of its own, with this test's record and fake Telegram."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGBOT_")}
    env.update(
        DGBOT_CACHE_DIR=str(model_cache),
        DGBOT_CORPUS_DIR=str(settings.engine.corpus_dir),
        DGBOT_INDEX_DIR=str(settings.engine.index_path),
        DGBOT_DATABASE_URL=settings.database,
        DGBOT_HASH_SALT=settings.hash_salt,
        DGBOT_TELEGRAM_TOKEN=tg.token,
        DGBOT_TELEGRAM_BASE_URL=tg.base_url,
        DGBOT_USER_RATE_PER_MINUTE="0",
    )
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], cwd=REPO, env=env, stderr=out
        )


def until(condition, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sigkill_mid_stream_loses_nothing_and_repeats_nothing(
    tg, bot_settings, settings, engine, tmp_path
) -> None:
    """SIGKILL while two answers are still being sent and three are sent but not confirmed to
    Telegram: after a restart the two are answered and the three are not answered again."""
    run = bot_settings
    log = tmp_path / "serve.log"
    stuck = set(STUCK)
    # Their "typing…" takes 4 s (in time), then every send fails: in flight for over 10 s.
    tg.inject_fault("sendChatAction", delay=4.0, times=2, when=lambda p: p["chat_id"] in stuck)
    tg.inject_fault("sendMessage", status=502, times=1000, when=lambda p: p["chat_id"] in stuck)
    for chat in (*STUCK, *DONE):
        tg.send_text(chat, DBD_2020)
    ids = {u["message"]["chat"]["id"]: u["update_id"] for u in tg.pending_updates()}
    first = serve(tg, run, settings.cache_dir, log)
    try:
        for chat in DONE:
            assert_dbd_2020_answer(tg.wait_for_message(chat, timeout=60))
        journal = sa.create_engine(run.database)

        def journaled() -> set[int]:
            with journal.connect() as conn:  # a fresh read each time: SQLite reads a snapshot
                return set(conn.scalars(sa.select(handled_updates.c.update_id)))

        until(lambda: {ids[c] for c in DONE} <= journaled(), "the journal")
        journal.dispose()

        def retrying() -> set[int]:
            return {c.params["chat_id"] for c in tg.faulted_calls if c.method == "sendMessage"}

        until(lambda: retrying() == stuck, "both stuck answers to be retrying")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=WAIT)
    pending = {u["update_id"] for u in tg.pending_updates()}
    assert set(ids.values()) <= pending  # nothing confirmed past the stuck ones
    tg.clear_faults()
    second = serve(tg, run, settings.cache_dir, log)
    try:
        for chat in STUCK:
            assert_dbd_2020_answer(tg.wait_for_message(chat, timeout=60))
        until(lambda: tg.pending_updates() == [], "every update confirmed")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=WAIT)
    for chat in (*STUCK, *DONE):
        assert len(tg.sent_messages(chat)) == 1, (chat, log.read_text())
    text = log.read_text()
    for chat in DONE:
        assert f"update {ids[chat]} was handled before" in text


def test_sigterm_mid_answer_finishes_it_and_confirms_it(
    tg, bot_settings, settings, tmp_path
) -> None:
    """A graceful stop: SIGTERM while an answer is being sent lets it go out, confirms its
    update to Telegram, and exits cleanly."""
    chat = 6301
    tg.inject_fault("sendMessage", delay=3.0, when=lambda p: p["chat_id"] == chat)
    tg.send_text(chat, DBD_2020)
    log = tmp_path / "serve.log"
    bot = serve(tg, bot_settings, settings.cache_dir, log)
    try:
        until(lambda: tg.calls_of("sendChatAction"), "the answer to be under way", timeout=60)
    finally:
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=WAIT) == 0, log.read_text()
    assert_dbd_2020_answer(tg.sent_messages(chat)[0])
    assert len(tg.sent_messages(chat)) == 1
    assert tg.pending_updates() == []
    assert "stop signal received" in log.read_text()


def test_forget_while_the_database_is_away_forgets_held_and_late_writes(tmp_path) -> None:
    """/forget once deleted straight from the database: questions held during an outage, or
    still being answered, were written after it; votes on their buttons were kept too."""
    from bot.services import Services
    from bot.settings import BotSettings
    from index import Answer, Settings

    salt = "a-recovery-test-salt-value"
    records = Records(f"sqlite:///{tmp_path / 'bot.db'}", salt)
    svc = Services(BotSettings(engine=Settings(cache_dir=tmp_path), hash_salt=salt), records)
    me, other = 6101, 6102
    away = [True]
    insert = records.insert_question

    def flaky(row: dict) -> int:
        if away[0]:
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        return insert(row)

    records.insert_question = flaky
    ask = lambda text: Answer(text, False, "", "", 0.1)  # noqa: E731

    async def scenario():
        before = records.question_row(ask("x"), "private", me, 1)["at"]
        await svc.record(ask("ของฉันที่ค้างไว้"), "private", me, 1.0)  # held: the database is away
        theirs = await svc.record(ask("ของคนอื่น"), "private", other, 1.0)
        forgotten = await svc.forget(me, chat_id=me)  # held too, behind what waits
        # A question of mine asked before /forget and answered only now (in flight).
        await svc.record(ask("ของฉันที่ยังตอบอยู่"), "private", me, 1.0, asked_at=before)
        away[0] = False
        await svc.outbox.flush()
        return forgotten, theirs

    forgotten, theirs = asyncio.run(scenario())
    assert forgotten is None  # the reply said it will be done once the database is back
    with records.db.connect() as conn:
        assert conn.execute(sa.select(questions.c.question)).scalars().all() == ["ของคนอื่น"]
    # A vote on a forgotten question (a button still on someone's screen) is refused.
    asyncio.run(svc.forget(other, chat_id=other))
    assert not records.insert_vote(records.vote_row(me, True), theirs.id)
    with records.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar() == 0
    records.close()
