"""The bot end to end: the real Application from ``build_application``, run by ``serve`` (long
polling or webhook) against the fake Telegram server, answering from the real engine.
"""

from __future__ import annotations

import logging
import time

import pytest
import sqlalchemy as sa

from bot import render, texts
from bot.records import Records, feedback, handled_updates, questions
from bot.settings import BotSettings
from tests.support.entities import parse_html
from tests.support.live_bot import (
    CHAT,
    DBD_2020,
    OUT_OF_SCOPE,
    WAIT,
    NeverSure,
    assert_dbd_2020_answer,
    callback,
    free_port,
    lines,
    reply,
    running,
)

GROUP = -1001234567890
MEMBER = 7


def test_start_greets_and_example_buttons_ask_themselves(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_command(CHAT, "start")
        greeting = reply(tg)
        info = engine.info()
        assert greeting["text"].startswith("สวัสดี")
        assert f"{info.articles} เรื่อง" in greeting["text"]
        assert f"{info.years[0] + 543}–{info.years[-1] + 543}" in greeting["text"]
        buttons = [row[0] for row in greeting["reply_markup"]["inline_keyboard"]]
        assert [b["text"] for b in buttons] == list(texts.EXAMPLES)
        tg.press_button(greeting, buttons[0]["callback_data"])
        answer = reply(tg)
        assert_dbd_2020_answer(answer)
        assert texts.ASKED.format(question=texts.EXAMPLES[0]) in answer["text"]
    commands = tg.wait_for("setMyCommands", timeout=1)["commands"]
    assert [c["command"] for c in commands] == [name for name, _ in texts.COMMANDS]
    assert tg.wait_for("sendChatAction", timeout=1)["action"] == "typing"


@pytest.mark.parametrize(
    "question",
    [DBD_2020, "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2020", "กรมพัฒน์ฯ ได้รับรางวัลอะไรในปี 2020"],
    ids=["buddhist-era", "christian-era", "abbreviation"],
)
def test_question_is_answered_with_its_source(tg, bot_settings, engine, question) -> None:
    with running(bot_settings, engine):
        tg.send_text(CHAT, question)
        answer = reply(tg)
    assert_dbd_2020_answer(answer)
    assert tg.calls_of("sendMessage")[0]["parse_mode"] == "HTML"


def test_more_sources_button_replies_once_with_further_passages(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        answer = reply(tg)
        tg.press_button(answer, callback(answer, "m:"))
        more = reply(tg)
        assert tg.wait_for("answerCallbackQuery", timeout=WAIT) is not None
        assert more["text"].startswith(texts.MORE_TITLE)
        assert more["reply_to_message"]["message_id"] == answer["message_id"]
        # The answering article's other pages first, then one link per further passage.
        hits = engine.answer(DBD_2020, k=bot_settings.engine.top_k).hits
        others = hits[0].chunk.more_sources
        assert len(lines(more, "🔗 https://")) == len(others) + bot_settings.engine.top_k - 1
        assert all(f"🔗 {url}" in more["text"] for url in others)
        tg.wait_for("editMessageReplyMarkup", timeout=WAIT)
        now = tg.get_message(CHAT, answer["message_id"])
        with pytest.raises(AssertionError, match="no button"):
            tg.press_button(now, callback(answer, "m:"))


def test_thumbs_up_is_recorded_once_without_the_user_id(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        answer = reply(tg)
        up = callback(answer, "v:")
        assert up.endswith(":u")
        tg.press_button(answer, up)
        assert tg.wait_for("answerCallbackQuery", timeout=WAIT)["text"] == texts.VOTE_THANKS
        tg.press_button(answer, up)
        assert tg.wait_for("answerCallbackQuery", timeout=WAIT)["text"] == texts.VOTE_ALREADY
    records = Records(bot_settings.database, bot_settings.hash_salt)
    with records.db.connect() as conn:
        (vote,) = conn.execute(
            sa.select(feedback.c.helpful, feedback.c.user_hash, questions.c.question).join(
                questions, questions.c.id == feedback.c.question_id
            )
        ).all()
    records.close()
    assert vote.helpful is True and vote.question == DBD_2020
    assert vote.user_hash == records.user_hash(CHAT) and str(CHAT) not in vote.user_hash


def test_out_of_scope_question_is_not_answered(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_text(CHAT, OUT_OF_SCOPE)
        answer = reply(tg)
    assert answer["text"].startswith("ขออภัย ไม่พบคำตอบ")
    assert "🔗" not in answer["text"]
    assert [row[0]["text"] for row in answer["reply_markup"]["inline_keyboard"]] == list(
        texts.EXAMPLES
    )


def test_followup_reads_the_previous_question_until_new(tg, bot_settings, engine) -> None:
    merged = "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2564"
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
        tg.send_text(CHAT, "แล้วปี 2564 ล่ะ")
        followup = reply(tg)
        assert texts.ASKED.format(question=merged) in followup["text"]
        answered = followup["text"].split("📰")[0]  # the answer and its passage
        assert "2564" in answered or "2021" in answered
        tg.send_command(CHAT, "new")
        assert reply(tg)["text"] == texts.NEW_TOPIC
        tg.send_text(CHAT, "แล้วปี 2564 ล่ะ")
        alone = reply(tg)
    assert merged not in alone["text"]


def test_edited_question_is_answered_again(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        asked = tg.send_text(CHAT, OUT_OF_SCOPE)
        reply(tg)
        tg.edit_text(asked, DBD_2020)
        again = reply(tg)
    assert_dbd_2020_answer(again)
    assert texts.EDITED in again["text"]


def test_non_text_messages_get_a_short_note(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_sticker(CHAT)
        tg.send_photo(CHAT, caption="ภาพนี้คืออะไร")
        tg.send_location(CHAT, 13.75, 100.5)
        notes = [reply(tg)["text"] for _ in range(3)]
    assert notes == [texts.TEXT_ONLY] * 3


def test_group_answers_only_when_addressed(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_text(GROUP, DBD_2020, chat_type="supergroup", user_id=MEMBER)
        tg.send_sticker(GROUP, chat_type="supergroup", user_id=MEMBER)
        mentioned = tg.mention(GROUP, DBD_2020, user_id=MEMBER)
        first = reply(tg, GROUP)
        assert first["reply_to_message"]["message_id"] == mentioned["message_id"]
        assert_dbd_2020_answer(first)
        tg.send_command(GROUP, "ask", DBD_2020, chat_type="supergroup", user_id=MEMBER)
        assert_dbd_2020_answer(reply(tg, GROUP))
        tg.send_text(GROUP, "แล้วปี 2564 ล่ะ", chat_type="supergroup", user_id=MEMBER, reply_to=first)
        assert "2564" in reply(tg, GROUP)["text"]
    assert len(tg.sent_messages(GROUP)) == 3  # the unaddressed text and sticker got nothing


def test_inline_query_answers_with_sources(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.inline_query(77, DBD_2020)
        results = tg.wait_for("answerInlineQuery", timeout=WAIT)["results"]
    assert results
    for result in results:
        text, _ = parse_html(result["input_message_content"]["message_text"])
        assert result["url"].startswith("https://") and result["url"] in text
        assert "📰" in text
    first, _ = parse_html(results[0]["input_message_content"]["message_text"])
    assert texts.ASKED.format(question=DBD_2020) in first


def test_html_in_a_question_is_escaped(tg, bot_settings, engine) -> None:
    question = "<b>x</b> & <script>"
    with running(bot_settings, NeverSure(engine)):
        tg.send_text(CHAT, question)
        answer = reply(tg)
    sent = tg.calls_of("sendMessage")[0]
    assert sent["parse_mode"] == "HTML"
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;" in sent["text"]
    assert question in answer["text"]


def test_plain_text_when_telegram_rejects_the_markup(tg, bot_settings, engine) -> None:
    tg.inject_fault(
        "sendMessage",
        status=400,
        description="Bad Request: can't parse entities: Unsupported start tag",
        when=lambda params: params.get("parse_mode") == "HTML",
    )
    with running(bot_settings, engine):
        tg.send_command(CHAT, "help")
        answer = reply(tg)
    assert answer["text"].startswith("วิธีใช้งาน")
    assert "<b>" not in answer["text"] and "entities" not in answer


def test_a_question_drowned_in_repeated_thanks_is_answered(tg, bot_settings, engine) -> None:
    """150 times "ขอบคุณมาก" after the question once made a 1,000-character question that
    neither retrieval nor the reader could be sure of."""
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020 + " ขอบคุณมาก" * 150)
        answer = reply(tg)
    assert_dbd_2020_answer(answer)
    assert recorded(bot_settings, questions.c.question) == [DBD_2020 + " ขอบคุณมาก"]


def test_flooding_user_gets_one_polite_limit_reply(tg, bot_settings, engine) -> None:
    with running(bot_settings.model_copy(update={"user_rate_per_minute": 3}), engine):
        for _ in range(4):
            tg.send_text(CHAT, DBD_2020)
        replies = [reply(tg)["text"] for _ in range(4)]
    assert replies.count(texts.RATE_LIMITED) == 1


def test_expired_buttons_get_a_polite_toast(tg, bot_settings, engine) -> None:
    with running(bot_settings, engine):
        tg.send_text(CHAT, DBD_2020)
        answer = reply(tg)
    with running(bot_settings, engine):  # a restart forgets the answers behind the buttons
        tg.press_button(answer, callback(answer, "v:"))
        assert tg.wait_for("answerCallbackQuery", timeout=WAIT)["text"] == texts.EXPIRED


def test_webhook_mode_accepts_only_the_secret(tg, bot_settings, engine, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = bot_settings.model_copy(
        update={"webhook_port": port, "webhook_secret": "s3cret-webhook-token-of-32-chars-or-more"}
    )
    local = f"http://127.0.0.1:{port}/dgbot"
    with running(settings, engine, webhook_url="https://bot.example/dgbot"):
        registered = tg.wait_for("setWebhook", timeout=WAIT)
        assert registered["url"] == "https://bot.example/dgbot"
        assert registered["secret_token"] == "s3cret-webhook-token-of-32-chars-or-more"
        assert tg.post_update_to(local, {"message": {}}, "wrong") == 403
        assert tg.post_update_to(local, {"message": {}}) == 403
        tg.forward_webhook_to(local)
        tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
    assert tg.pending_updates() == []
    assert (
        tg.token not in caplog.text
        and "s3cret-webhook-token-of-32-chars-or-more" not in caplog.text
    )


def recorded(settings: BotSettings, column: sa.Column) -> list:
    """Every value of one column in the bot's record."""
    records = Records(settings.database, settings.hash_salt)
    try:
        with records.db.connect() as conn:
            return conn.execute(sa.select(column)).scalars().all()
    finally:
        records.close()


def test_channels_and_anonymous_admins_each_have_their_own_quota(tg, bot_settings, engine) -> None:
    """They all reach the bot as one of Telegram's placeholder users; one must not use up the
    others' questions (nor share their hash in the record)."""
    news = {"id": -1009990001, "type": "channel", "title": "ข่าว"}
    radio = {"id": -1009990002, "type": "channel", "title": "วิทยุ"}
    admins = {"id": GROUP, "type": "supergroup", "title": "กลุ่ม"}
    with running(bot_settings.model_copy(update={"user_rate_per_minute": 1}), engine):
        for sender in (news, radio, admins):
            tg.mention(GROUP, DBD_2020, sender_chat=sender)
            assert_dbd_2020_answer(reply(tg, GROUP))
        tg.mention(GROUP, DBD_2020, sender_chat=news)  # the same channel again: over its quota
        assert reply(tg, GROUP)["text"] == texts.RATE_LIMITED
    hashes = recorded(bot_settings, questions.c.user_hash)
    assert len(hashes) == 3 and len(set(hashes)) == 3


def test_only_updates_the_bot_replied_to_are_written_to_the_journal(
    tg, bot_settings, engine
) -> None:
    """Stickers in groups, side talk and inline keystrokes once cost a database write each."""
    with running(bot_settings, engine):
        tg.send_sticker(GROUP, chat_type="supergroup", user_id=MEMBER)
        tg.send_text(GROUP, "คุยกันเองในกลุ่ม", chat_type="supergroup", user_id=MEMBER)
        tg.inline_query(77, DBD_2020)
        tg.wait_for("answerInlineQuery", timeout=WAIT)
        asked = tg.send_text(CHAT, DBD_2020)
        assert_dbd_2020_answer(reply(tg))
    journaled = recorded(bot_settings, handled_updates.c.update_id)
    assert len(journaled) == 1 and tg.pending_updates() == []
    assert asked["message_id"]  # the one answered question is the one journaled


def test_a_flood_of_commands_in_a_group_does_not_stall_other_chats(
    tg, bot_settings, engine
) -> None:
    """70 /help@bot from one member once went out at the group's 20-a-minute send limit, each
    waiting reply holding a handler slot: an unrelated private /help waited 56 s. Commands now
    count against the member's quota like questions, so the flood is mostly not answered."""
    with running(bot_settings, engine):
        for _ in range(70):
            tg.send_command(GROUP, "help", addressed=True, chat_type="supergroup", user_id=MEMBER)
        started = time.monotonic()
        tg.send_command(CHAT, "help")
        assert reply(tg)["text"].startswith(render.plain_text(texts.HELP.split("\n")[0]))
        waited = time.monotonic() - started
        time.sleep(1)  # let the group's replies that are going out go out
    group = [m["text"] for m in tg.sent_messages(GROUP)]
    assert waited < 5, f"the private reply waited {waited:.1f} s"
    assert len(group) <= bot_settings.user_rate_per_minute + 1
    assert group.count(texts.RATE_LIMITED) <= 1


def test_many_members_flooding_one_group_do_not_stall_other_chats(tg, bot_settings, engine) -> None:
    """Ten members, ten /help each: every one within their own quota, but together far over the
    group's 20 messages a minute. The group's backlog is capped, so the replies waiting for it
    never take the handler slots a private chat needs."""
    with running(bot_settings, engine):
        for n in range(100):
            member = 9100 + n % 10
            tg.send_command(GROUP, "help", addressed=True, chat_type="supergroup", user_id=member)
        started = time.monotonic()
        tg.send_command(CHAT, "help")
        assert reply(tg)["text"].startswith(render.plain_text(texts.HELP.split("\n")[0]))
        waited = time.monotonic() - started
    assert waited < 5, f"the private reply waited {waited:.1f} s"
    group = [m["text"] for m in tg.sent_messages(GROUP)]
    # Said once each time the backlog filled (it drains and fills again during the flood).
    assert 1 <= group.count(texts.CHAT_BUSY) <= 5 and len(group) < 60
