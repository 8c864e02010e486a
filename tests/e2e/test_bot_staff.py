"""Staff tools end to end: the real bot, run by ``serve`` against the fake Telegram server.

Every staff command and button is tried by a staff member in the staff chat and by others
(a member of the staff chat who is not staff, a staff member outside the staff chat).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from bot import texts
from bot.records import Records, verdicts
from index import Answer, Engine
from index.build import reindex
from index.store.folder import open_index
from tests.support.entities import parse_html
from tests.support.live_bot import (
    DBD_2020,
    OUT_OF_SCOPE,
    WAIT,
    NeverSure,
    assert_dbd_2020_answer,
    callback,
    reply,
    running,
)
from tests.support.staff import (
    CITIZEN,
    OUTSIDER,
    STAFF,
    STAFF_CHAT,
    staff_reply,
    staff_says,
    starts,
)

NEW_ARTICLE = """---
id: test-new-article
title: "ห้องสมุดดิจิทัลทดสอบของจังหวัดสมมุติ"
date: 2026-01-02
sources:
  - https://example.org/test-new-article
---
จังหวัดสมมุติเปิดห้องสมุดดิจิทัลทดสอบให้ประชาชนยืมหนังสืออิเล็กทรอนิกส์ผ่านแอปพลิเคชันได้ตลอดวัน
"""


def toast(tg) -> str:
    return tg.wait_for("answerCallbackQuery", timeout=WAIT).get("text", "")


def test_staff_commands_refuse_everyone_else(tg, staff_settings, engine, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with running(staff_settings, engine):
        for command in ("eval", "reindex", "stats", "feedback", "unanswered"):
            staff_says(tg, command, user=OUTSIDER)  # in the staff chat, but not staff
            assert staff_reply(tg)["text"] == texts.STAFF_ONLY
            tg.send_command(STAFF, command)  # staff, but in a private chat
            assert reply(tg, STAFF)["text"] == texts.STAFF_ONLY
            tg.send_command(CITIZEN, command)
            assert reply(tg, CITIZEN)["text"] == texts.STAFF_ONLY
    assert caplog.text.count("refused staff action") == 15
    assert f" {OUTSIDER} " not in caplog.text  # the attempt is logged with a hashed user
    assert not any("กำลัง" in m["text"] for m in tg.sent_messages())  # nothing was started
    staff_menu = tg.wait_for("setMyCommands", lambda p: "scope" in p, timeout=1)
    assert staff_menu["scope"]["chat_id"] == STAFF_CHAT


def test_debug_block_and_verdict_buttons(tg, staff_settings, engine) -> None:
    with running(staff_settings, engine):
        staff_says(tg, "ask", DBD_2020)
        answer = staff_reply(tg)
        assert_dbd_2020_answer(answer)
        debug = staff_reply(tg)
        assert debug["reply_to_message"]["message_id"] == answer["message_id"]
        text = debug["text"]
        assert f"reader + retrieval vs {engine.calibration.found_at:.2f}" in text
        assert "→ found" in text
        hit_lines = [line for line in text.splitlines() if line.strip().startswith("fused")]
        assert len(hit_lines) == 5 and all("dense" in h and "lexical" in h for h in hit_lines)
        reader_lines = [line for line in text.splitlines() if line.strip().startswith("reader")]
        assert len(reader_lines) == engine.passages
        assert all("span" in r and "no-answer" in r and "margin" in r for r in reader_lines)
        assert "dg-2020-dbd" in text or "agency-dbd" in text
        assert "⏱" in text and "total" in text and "embed" in text
        right = callback(debug, "s:")
        wrong = right.removesuffix(":c") + ":w"
        tg.press_button(debug, wrong, user_id=OUTSIDER)
        assert toast(tg) == texts.STAFF_ONLY
        tg.press_button(debug, right, user_id=STAFF)
        assert toast(tg) == texts.VERDICT_SAVED
        # Forged: the verdict data sent by the staff member from outside the staff chat.
        elsewhere = {**debug, "message_id": 99_999, "chat": {"id": STAFF, "type": "private"}}
        tg.press_button(elsewhere, right)
        assert toast(tg) == texts.STAFF_ONLY
        # Forged: a question id that was never recorded, in the staff chat.
        made_up = "s:99999:c"
        keyboard = {"inline_keyboard": [[{"text": "✅", "callback_data": made_up}]]}
        tg.press_button(
            {**debug, "message_id": 99_998, "reply_markup": keyboard}, made_up, user_id=STAFF
        )
        assert toast(tg) == texts.EXPIRED
        tg.send_text(CITIZEN, DBD_2020)
        reply(tg, CITIZEN)
    assert len(tg.sent_messages(CITIZEN)) == 1  # citizens get no debug block
    records = Records(staff_settings.database, staff_settings.hash_salt)
    with records.db.connect() as conn:
        stored = conn.execute(sa.select(verdicts.c.correct, verdicts.c.user_hash)).all()
    records.close()
    assert stored == [(True, records.user_hash(STAFF))]


def test_eval_posts_metrics_then_what_got_worse(tg, staff_settings, engine) -> None:
    with running(staff_settings, engine):
        staff_says(tg, "eval")
        assert staff_reply(tg)["text"] == texts.EVAL_STARTED
        first = staff_reply(tg, starts("/eval"))["text"]
    for name in ("r@1", "mrr@10", "answer_accuracy", "out_of_scope_refusal"):
        assert name in first
    assert texts.EVAL_FIRST in first and "questions: 7" in first
    with running(staff_settings, NeverSure(engine)):  # a worse engine: answers nothing
        staff_says(tg, "eval")
        second = staff_reply(tg, starts("/eval"))["text"]
    assert texts.EVAL_WORSE.split("{")[0] in second
    assert "g001" in second and "answer wrong" in second


def test_stats_feedback_and_unanswered(tg, staff_settings, engine) -> None:
    asked = [DBD_2020, OUT_OF_SCOPE, OUT_OF_SCOPE, "วิธีทำต้มยำกุ้ง", "ราคาทองคำวันนี้"]
    with running(staff_settings, engine):
        for question in asked:
            tg.send_text(CITIZEN, question)
        answers = [reply(tg, CITIZEN) for _ in asked]
        found = next(a for a in answers if "v:" in json.dumps(a.get("reply_markup", {})))
        up = callback(found, "v:")
        tg.press_button(found, up.removesuffix(":u") + ":d", user_id=CITIZEN)
        assert toast(tg) == texts.VOTE_THANKS
        staff_says(tg, "stats")
        stats = staff_reply(tg)["text"]
        staff_says(tg, "feedback")
        bad = staff_reply(tg)["text"]
        staff_says(tg, "unanswered")
        unanswered = staff_reply(tg)["text"]
    assert "คำถามวันนี้ 5" in stats and "👎 1" in stats and "ตอบได้ 20%" in stats
    assert "👎" in bad and DBD_2020 in bad
    groups = [line for line in unanswered.splitlines() if line.startswith("•")]
    assert groups[0].startswith("• (3)") and "×2" in groups[0] and "วิธีทำต้มยำกุ้ง" in groups[0]
    assert any("ราคาทองคำวันนี้" in g and g.startswith("• (1)") for g in groups)


class Broken:
    """An engine that fails; its message quotes the question, which must not reach staff."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def answer(self, question: str, k: int = 5, reference_year: int | None = None) -> Answer:
        raise RuntimeError(f"failed on {question}")

    def info(self):
        return self.engine.info()


def test_errors_are_reported_to_the_staff_chat(tg, staff_settings, engine) -> None:
    with running(staff_settings, Broken(engine)):
        tg.send_text(CITIZEN, DBD_2020)
        assert reply(tg, CITIZEN)["text"] == texts.ERROR
        report = staff_reply(tg)["text"]
    assert report.startswith("⚠️") and "RuntimeError" in report and "message" in report
    assert DBD_2020 not in report and tg.token not in report and str(CITIZEN) not in report


def test_reindex_swaps_in_a_checked_index_without_losing_questions(
    tg,
    own_index,
    engine,
    monkeypatch,
) -> None:
    (own_index.engine.corpus_dir / "test-new-article.md").write_text(NEW_ARTICLE, encoding="utf-8")
    (own_index.engine.corpus_dir / "agency-lopburi.md").unlink()
    old_manifest = open_index(own_index.engine.index_path).manifest
    building, real_build = threading.Event(), reindex.build_with
    live_during_build = []

    def slow_build(*args, **kwargs):
        report = real_build(*args, **kwargs)
        live_during_build.append(open_index(own_index.engine.index_path).manifest.corpus_hash)
        building.set()
        time.sleep(1.5)  # questions keep coming while the new index is checked
        return report

    monkeypatch.setattr(reindex, "build_with", slow_build)
    live = Engine(engine.embedder, engine.searcher, engine.threshold)  # swapped, not the session's
    questions = 12
    with running(own_index, live):
        staff_says(tg, "reindex")
        assert staff_reply(tg)["text"] == texts.REINDEX_STARTED
        staff_says(tg, "reindex")
        assert staff_reply(tg)["text"] == texts.REINDEX_BUSY
        assert building.wait(WAIT)
        for n in range(questions):
            tg.send_text(CITIZEN + n, DBD_2020)
            time.sleep(0.1)
        done = staff_reply(tg, starts("สร้างดัชนีใหม่"))["text"]
        for n in range(questions):
            assert_dbd_2020_answer(reply(tg, CITIZEN + n))
        tg.send_text(CITIZEN, "ห้องสมุดดิจิทัลทดสอบของจังหวัดสมมุติให้ยืมหนังสืออะไร")
        after = reply(tg, CITIZEN)
    assert done.startswith("สร้างดัชนีใหม่และเปลี่ยนมาใช้แล้ว"), done
    assert "เพิ่ม 1 (test-new-article)" in done and "ลบ 1 (agency-lopburi)" in done
    assert live_during_build == [old_manifest.corpus_hash]  # disk untouched until checked
    assert "ห้องสมุดดิจิทัลทดสอบ" in after["text"]  # answered from the new index
    assert "test-new-article" in open_index(own_index.engine.index_path).manifest.articles


def test_failed_reindex_keeps_the_old_index(tg, own_index, engine) -> None:
    (own_index.engine.corpus_dir / "broken.md").write_text("no front matter", encoding="utf-8")
    before = open_index(own_index.engine.index_path).manifest.corpus_hash
    with running(own_index, engine):
        staff_says(tg, "reindex")
        failed = staff_reply(tg, starts("สร้างดัชนีใหม่ไม่สำเร็จ"))["text"]
        tg.send_text(CITIZEN, DBD_2020)
        assert_dbd_2020_answer(reply(tg, CITIZEN))
    assert "broken.md" in failed
    assert open_index(own_index.engine.index_path).manifest.corpus_hash == before
    assert not list(Path(own_index.engine.index_path).parent.glob(".*staging*"))


def test_a_staff_notice_telegram_cannot_parse_goes_again_as_plain_text(tg) -> None:
    """A database's error text with ``<`` or ``&`` once made the notice unparseable, and lost."""
    import asyncio
    from types import SimpleNamespace

    from telegram.constants import ParseMode
    from telegram.ext import Defaults, ExtBot

    from bot.staff import tell_staff

    async def tell() -> None:
        defaults = Defaults(parse_mode=ParseMode.HTML)
        async with ExtBot(tg.token, base_url=tg.base_url, defaults=defaults) as bot:
            svc = SimpleNamespace(staff_chats={STAFF_CHAT})
            await tell_staff(bot, svc, "⚠️ <b>database</b>: could not connect: x < y & <oops")

    asyncio.run(tell())
    [notice] = tg.sent_messages(STAFF_CHAT)
    assert notice["text"].startswith("⚠️ database: could not connect: x < y & ")


def test_the_database_is_away_notice_escapes_the_drivers_words() -> None:
    import asyncio

    from bot.outbox import Outbox

    told: list[str] = []

    async def notify(text: str) -> None:
        told.append(text)

    def write() -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception('host "<db>" & port 5432 refused'))

    async def hold() -> None:
        outbox = Outbox()
        outbox.notify = notify
        assert not await outbox.write("a question", write)

    asyncio.run(hold())
    [notice] = told
    text, _ = parse_html(notice)  # raises if Telegram could not parse it
    assert 'host "<db>" & port 5432 refused' in text


def test_a_stale_staff_chat_id_does_not_stop_the_bot(tg, staff_settings, engine) -> None:
    """A group upgraded to a supergroup and a chat the bot left once made set_my_commands raise
    in post_init, and the bot exited. It starts, follows the upgrade and tells staff."""
    upgraded, moved_to, kicked = -4001, -1004001, -4002
    settings = staff_settings.model_copy(update={"staff_chat_ids": (upgraded, STAFF_CHAT, kicked)})

    def menu_for(chat_id: int):
        return lambda params: (params.get("scope") or {}).get("chat_id") == chat_id

    tg.inject_fault(
        "setMyCommands",
        status=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=moved_to,
        when=menu_for(upgraded),
    )
    tg.inject_fault(
        "setMyCommands",
        status=403,
        description="Forbidden: bot was kicked from the group chat",
        when=menu_for(kicked),
    )
    with running(settings, engine):
        notices = [staff_reply(tg)["text"] for _ in range(2)]
        tg.send_text(CITIZEN, DBD_2020)  # serving
        assert_dbd_2020_answer(reply(tg, CITIZEN))
        tg.send_command(moved_to, "stats", chat_type="supergroup", user_id=STAFF)
        assert reply(tg, moved_to)["text"] != texts.STAFF_ONLY  # the upgrade was followed
    # The two notices go out in the background, each on its own: in either order.
    moved, gone = sorted(notices, key=lambda text: str(kicked) in text)
    assert moved == texts.STAFF_CHAT_MOVED.format(old=upgraded, new=moved_to)
    assert gone.startswith(f"⚠️ staff chat {kicked} does not work (")
    assert tg.wait_for("setMyCommands", menu_for(moved_to), timeout=1)


def test_staff_notices_go_out_in_the_background_once_per_burst(tg) -> None:
    """A burst of the same failure is one notice, and no handler waits for it to be sent."""
    import asyncio
    from types import SimpleNamespace

    from telegram.ext import ExtBot

    from bot.staff import notify_staff

    async def burst() -> int:
        async with ExtBot(tg.token, base_url=tg.base_url) as bot:
            svc = SimpleNamespace(staff_chats={STAFF_CHAT}, notices={}, background=set())
            for _ in range(5):
                notify_staff(bot, svc, "⚠️ the same failure")
            notify_staff(bot, svc, "⚠️ another failure")
            waiting = len(svc.background)  # nothing was awaited yet: both are on their way
            await asyncio.wait(svc.background, timeout=5)
            return waiting

    assert asyncio.run(burst()) == 2
    texts_sent = sorted(m["text"] for m in tg.sent_messages(STAFF_CHAT))
    assert texts_sent == ["⚠️ another failure", "⚠️ the same failure"]
