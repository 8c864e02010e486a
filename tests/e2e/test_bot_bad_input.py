"""Bad input end to end: odd messages, commands, forged buttons and stray updates reach the real
bot through the fake Telegram server; each gets a sensible reply (or silence), never an error.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from bot import render, texts
from bot.handlers import MAX_QUESTION_CHARS
from bot.records import Records, questions, verdicts
from tests.support.live_bot import DBD_2020, WAIT, NeverSure, reply, running

HELP_TITLE = "วิธีใช้งาน"
NOT_FOUND_START = texts.NOT_FOUND.split("“")[0]


@pytest.fixture
def unlimited(bot_settings):
    return bot_settings.model_copy(update={"user_rate_per_minute": 0})


def stored_questions(settings) -> list[str]:
    records = Records(settings.database, settings.hash_salt)
    with records.db.connect() as conn:
        asked = list(conn.scalars(sa.select(questions.c.question).order_by(questions.c.id)))
    records.close()
    return asked


def no_errors(caplog) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


ECHOED = {
    101: "😀👍🏽👨‍👩‍👧",  # emoji only (with a skin tone and a ZWJ family)
    102: "ก\u0301\u0301 e\u0301\u0302\u0303 Z\u0336A\u0336L\u0336G\u0336O",  # combining marks
    103: "DG Awards 2020 กรมพัฒนาธุรกิจการค้า 数字政府奖 là gì?",  # Thai, Latin, Chinese
    104: "مرحبا \u202eรางวัล\u202c שלום \u200fدولة",  # RTL scripts and direction controls
    105: "*ตัวหนา* _เอียง_ [ลิงก์](https://evil.example) `code` ||สปอยล์||",  # Markdown
    106: '<a href="javascript:alert(1)">x</a> <script>alert(1)</script> &amp;lt; &#60; <b',
    107: "'; DROP TABLE questions; -- \" OR 1=1 /* ปี 2563 */",  # SQL-looking
    108: "กรม\u200bพัฒนา\u200dธุรกิจ\u2060การค้า\ufeff ได้\u00adรับรางวัลอะไร",  # zero-width inside
}


def test_odd_text_is_answered_and_shown_literally(tg, unlimited, engine, caplog) -> None:
    caplog.set_level(logging.WARNING)
    with running(unlimited, NeverSure(engine)):
        for chat, text in ECHOED.items():
            tg.send_text(chat, text)
        replies = {chat: reply(tg, chat) for chat in ECHOED}
    for chat, text in ECHOED.items():
        shown = render.echo(text)  # as typed, links and @handles left out
        got = replies[chat]
        assert got["text"].startswith(NOT_FOUND_START), got["text"]
        assert f"“{shown}”" in got["text"]  # no markup was interpreted
        assert not got.get("entities"), got.get("entities")
    assert "evil.example" not in replies[105]["text"]
    assert sorted(stored_questions(unlimited)) == sorted(
        " ".join(t.split()) for t in ECHOED.values()
    )
    no_errors(caplog)


def test_blank_invisible_and_oversized_messages(tg, unlimited, engine, caplog) -> None:
    caplog.set_level(logging.WARNING)
    limit_4096 = " ".join(f"รางวัลรัฐบาลดิจิทัล{n}" for n in range(300))[:4096]
    huge = "ก" * 50_000  # no word gap at all: cut hard
    with running(unlimited, NeverSure(engine)):
        tg.send_text(201, "   \n\t  ")
        tg.send_text(202, "\u200b\u200d\ufeff\u2060 \u00ad")
        tg.send_text(203, "\u0301\u0e48\u0e49")  # combining marks with nothing to sit on
        tg.send_text(204, limit_4096)
        tg.send_text(205, huge)
        blank = [reply(tg, chat)["text"] for chat in (201, 202, 203)]
        long_ones = [reply(tg, chat)["text"] for chat in (204, 205)]
    assert all(text.startswith(HELP_TITLE) for text in blank), blank
    note = texts.TRUNCATED.format(limit=MAX_QUESTION_CHARS)
    for text in long_ones:
        assert note in text and len(text) < 4096
    assert "“" + "ก" * 200 + "…”" in long_ones[1]
    asked = stored_questions(unlimited)
    assert len(asked) == 2 and "ก" * MAX_QUESTION_CHARS in asked  # blanks are not recorded
    assert all(len(question) <= MAX_QUESTION_CHARS for question in asked)
    no_errors(caplog)


def test_commands_with_odd_arguments(tg, unlimited, engine, caplog) -> None:
    caplog.set_level(logging.WARNING)
    sent = {
        301: ("/start <b>payload</b> x", lambda t: t.startswith("สวัสดี")),
        302: ("/help@dg_test_bot extra words", lambda t: t.startswith(HELP_TITLE)),
        303: ("/ask", lambda t: t == texts.ASK_USAGE),
        304: ("/ask \u200b\u200b \ufeff", lambda t: t == texts.ASK_USAGE),
        305: (f"/ASK {DBD_2020}", lambda t: f"“{DBD_2020}”" in t),
        306: ("/ask@some_other_bot คำถาม", lambda t: t.startswith(HELP_TITLE)),
        307: ("/nosuchcommand ' OR 1=1", lambda t: t.startswith(HELP_TITLE)),
        308: (
            "/forget everything now <i>please</i>",
            lambda t: t == texts.FORGOTTEN.format(count=0),
        ),
        309: ("/new" + " x" * 2000, lambda t: t == texts.NEW_TOPIC),
    }
    with running(unlimited, NeverSure(engine)):
        for chat, (text, _) in sent.items():
            tg.send_text(chat, text)
        got = {chat: reply(tg, chat)["text"] for chat in sent}
    for chat, (text, expected) in sent.items():
        assert expected(got[chat]), (text, got[chat])
    no_errors(caplog)


CITIZEN = 401


FORGED = {
    "s:1:c": texts.STAFF_ONLY,  # a staff verdict, from a citizen
    "s:99999999999999999999:w": texts.EXPIRED,  # longer than a verdict id may be
    "x:99": texts.EXPIRED,
    "x:-1": texts.EXPIRED,
    "v:no-such-key:u": texts.EXPIRED,
    "v:key:u:extra": texts.EXPIRED,
    "m:../../etc/passwd": texts.EXPIRED,
    "m:" + "a" * 62: texts.EXPIRED,
    "<b>x</b>": texts.EXPIRED,
}


def test_forged_callback_data_gets_a_toast_never_an_error(tg, unlimited, engine, caplog) -> None:
    caplog.set_level(logging.WARNING)
    toasts = {}
    with running(unlimited, engine):
        for data in FORGED:
            tg.forge_callback(CITIZEN, data, user_id=CITIZEN)
            in_chat = tg.wait_for("answerCallbackQuery", timeout=WAIT).get("text")
            tg.forge_callback(None, data, user_id=CITIZEN)  # on an inline message: no chat
            toasts[data] = in_chat, tg.wait_for("answerCallbackQuery", timeout=WAIT).get("text")
    for data, toast in FORGED.items():
        assert toasts[data][0] == toast, data
        assert toasts[data][1] in (toast, texts.EXPIRED), data
    assert tg.sent_messages() == []  # nothing was posted anywhere
    records = Records(unlimited.database, unlimited.hash_salt)
    with records.db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(verdicts)) == 0
    records.close()
    no_errors(caplog)


def test_example_button_on_an_inline_message_is_refused_politely(tg, unlimited, engine, caplog):
    caplog.set_level(logging.WARNING)
    with running(unlimited, engine):
        tg.forge_callback(None, "x:0", user_id=CITIZEN)
        toast = tg.wait_for("answerCallbackQuery", timeout=WAIT).get("text")
    assert toast == texts.EXPIRED and tg.sent_messages() == []
    no_errors(caplog)


def test_posts_without_a_sender_are_ignored(tg, unlimited, engine, caplog) -> None:
    """Channel posts (which the bot does not ask for) and a message with no sender, as a
    channel or a future chat type might produce: no reply, no error, nothing recorded."""
    caplog.set_level(logging.WARNING)
    channel = {"id": -1009990001, "type": "channel", "title": "ข่าว"}
    post = {"message_id": 1, "date": 1_700_000_000, "chat": channel, "sender_chat": channel}
    with running(unlimited, engine):
        tg.send_text(-1009990001, DBD_2020, chat_type="channel")  # a real channel post
        tg.push_update({"message": {**post, "text": DBD_2020}})
        tg.push_update({"edited_message": {**post, "text": DBD_2020, "edit_date": 1_700_000_001}})
        tg.push_update({"message": {**post, "message_id": 2}})
        tg.send_text(402, DBD_2020, chat_type="private")  # then a citizen, who is answered
        assert reply(tg, 402)
    assert [m["chat"]["id"] for m in tg.sent_messages()] == [402]
    assert stored_questions(unlimited) == [DBD_2020]
    no_errors(caplog)
