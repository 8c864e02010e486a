"""The fake Telegram server, driven by the real python-telegram-bot client.

The end-to-end tests of the bot are only as trustworthy as the fake: these tests pin down that
PTB's real requests and replies round-trip through it as they would through Telegram.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support.users import FakeTelegram

CHAT = 4242
GROUP = -1001234567890
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="yes"),
            InlineKeyboardButton("No", callback_data="no"),
        ]
    ]
)


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def bot_for(tg: FakeTelegram) -> Bot:
    return Bot(tg.token, base_url=tg.base_url)


def test_get_me_describes_the_bot(tg: FakeTelegram) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            me = await bot.get_me()
        assert me.id == tg.bot_user["id"] == int(tg.token.split(":")[0])
        assert me.username == tg.bot_user["username"]
        assert me.is_bot and me.can_join_groups and me.supports_inline_queries

    asyncio.run(scenario())
    assert [call.method for call in tg.calls] == ["getMe", "getMe"]  # initialize + get_me


def test_send_message_decodes_params_and_parses_html(tg: FakeTelegram) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            first = await bot.send_message(
                CHAT,
                "<b>Hi</b> &amp; 👋 <i>you</i>",
                parse_mode=ParseMode.HTML,
                reply_markup=KEYBOARD,
            )
            second = await bot.send_message(CHAT, "007")  # a str field must not become int 7
        assert first.text == "Hi & 👋 you"
        # 👋 is two UTF-16 code units, so "you" starts at 8, not 7.
        assert [(e.type, e.offset, e.length) for e in first.entities] == [
            ("bold", 0, 2),
            ("italic", 8, 3),
        ]
        assert first.reply_markup == KEYBOARD
        assert first.from_user.id == tg.bot_user["id"]
        assert first.chat.id == CHAT
        assert second.message_id == first.message_id + 1

    asyncio.run(scenario())
    params = tg.wait_for("sendMessage", timeout=1)
    assert params == {
        "chat_id": CHAT,
        "text": "<b>Hi</b> &amp; 👋 <i>you</i>",
        "parse_mode": "HTML",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Yes", "callback_data": "yes"}, {"text": "No", "callback_data": "no"}]
            ]
        },
    }
    assert [m["text"] for m in tg.sent_messages(CHAT)] == ["Hi & 👋 you", "007"]
    assert tg.sent_messages(CHAT + 1) == []


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>unclosed", ParseMode.HTML, 'end tag corresponding to start tag "b"'),
        ("1 <br> 2", ParseMode.HTML, 'Unsupported start tag "br"'),
    ],
)
def test_bad_markup_is_rejected_like_telegram(
    tg: FakeTelegram, text: str, parse_mode: str, error: str
) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as raised:
                await bot.send_message(CHAT, text, parse_mode=parse_mode)
        # PTB drops "Bad Request: " and capitalize()s the rest, lower-casing Telegram's text.
        assert error.lower() in str(raised.value)

    asyncio.run(scenario())
    assert tg.sent_messages() == []


@pytest.mark.parametrize("parse_mode", [ParseMode.MARKDOWN_V2, ParseMode.MARKDOWN])
def test_markdown_is_refused_since_the_bot_formats_with_html(
    tg: FakeTelegram, parse_mode: str
) -> None:
    """The fake reads HTML only: a bot that switched to Markdown fails here, not in production."""

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            with pytest.raises(BadRequest, match=r"(?i)unsupported parse_mode"):
                await bot.send_message(CHAT, "*bold*", parse_mode=parse_mode)

    asyncio.run(scenario())
    assert tg.sent_messages() == []


def test_edit_message_text_replaces_text_and_keyboard(tg: FakeTelegram) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            sent = await bot.send_message(CHAT, "Pick one", reply_markup=KEYBOARD)
            edited = await bot.edit_message_text("You picked yes", CHAT, sent.message_id)
            assert edited.text == "You picked yes"
            assert edited.edit_date is not None
            # Telegram drops the inline keyboard when an edit does not repeat it.
            assert edited.reply_markup is None
            with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
                await bot.edit_message_text("You picked yes", CHAT, sent.message_id)
            with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
                await bot.edit_message_text("x", CHAT, sent.message_id + 100)
            again = await bot.edit_message_reply_markup(
                CHAT, sent.message_id, reply_markup=KEYBOARD
            )
            assert again.reply_markup == KEYBOARD
        return sent.message_id

    message_id = asyncio.run(scenario())
    stored = tg.get_message(CHAT, message_id)
    assert stored is not None
    assert stored["text"] == "You picked yes"
    assert stored["reply_markup"] == KEYBOARD.to_dict()


def test_get_updates_confirms_with_offset_and_honours_limit(tg: FakeTelegram) -> None:
    first = tg.send_text(CHAT, "one")
    tg.send_text(CHAT, "two")
    tg.send_text(CHAT, "three")

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            batch = await bot.get_updates(limit=2)
            assert [u.message.text for u in batch] == ["one", "two"]
            assert batch[0].message.message_id == first["message_id"]
            again = await bot.get_updates()  # nothing confirmed yet: all three still pending
            assert [u.message.text for u in again] == ["one", "two", "three"]
            rest = await bot.get_updates(offset=batch[-1].update_id + 1)
            assert [u.message.text for u in rest] == ["three"]
            assert len(tg.pending_updates()) == 1
            assert tg.confirmed_offset == batch[-1].update_id + 1
            assert await bot.get_updates(offset=rest[-1].update_id + 1) == ()

    asyncio.run(scenario())
    assert tg.pending_updates() == []


def test_injected_updates_deserialise_in_ptb(tg: FakeTelegram) -> None:
    hello = tg.send_text(CHAT, "hello")
    tg.send_sticker(CHAT, emoji="🎉")
    tg.send_photo(CHAT, caption="look #awards")
    tg.send_location(CHAT, 13.75, 100.5)
    tg.edit_text(hello, "hello again")
    tg.send_text(CHAT, "answer", reply_to=hello)
    tg.push_update({"message_reaction": {"chat": {"id": CHAT, "type": "private"}}})
    tg.mention(GROUP, "what won in 2020?", user_id=7)
    tg.send_text(-1009, "news", chat_type="channel")

    async def scenario() -> tuple[Update, ...]:
        async with bot_for(tg) as bot:
            return await bot.get_updates()

    updates = asyncio.run(scenario())
    # The reaction is dropped: Telegram sends it only when allowed_updates asks for it.
    assert len(updates) == 8
    text, sticker, photo, location, edited, reply, mention, post = updates
    assert text.message.text == "hello" and text.message.from_user.id == CHAT
    assert sticker.message.sticker.emoji == "🎉"
    assert [p.width for p in photo.message.photo] == [90, 320, 1280]
    assert list(photo.message.parse_caption_entities().values()) == ["#awards"]
    assert (location.message.location.latitude, location.message.location.longitude) == (
        13.75,
        100.5,
    )
    assert edited.edited_message.text == "hello again"
    assert edited.edited_message.message_id == hello["message_id"]
    assert reply.message.reply_to_message.message_id == hello["message_id"]
    assert mention.message.chat.type == "supergroup" and mention.message.from_user.id == 7
    assert mention.message.parse_entities(["mention"]) == {
        mention.message.entities[0]: f"@{tg.bot_user['username']}"
    }
    assert post.channel_post.sender_chat.id == -1009 and post.channel_post.text == "news"
    assert [u.update_id for u in updates] == sorted({u.update_id for u in updates})


def test_get_updates_long_poll_returns_when_an_update_arrives(tg: FakeTelegram) -> None:
    async def scenario() -> tuple[tuple[Update, ...], float, float]:
        async with bot_for(tg) as bot:
            started = time.monotonic()
            empty = await bot.get_updates(timeout=0.5)
            waited_empty = time.monotonic() - started
            assert empty == ()
            injector = threading.Timer(0.3, tg.send_text, (CHAT, "late"))
            injector.start()
            started = time.monotonic()
            updates = await bot.get_updates(timeout=5)
            injector.join()
            return updates, waited_empty, time.monotonic() - started

    updates, waited_empty, waited = asyncio.run(scenario())
    assert 0.45 <= waited_empty < 2
    assert [u.message.text for u in updates] == ["late"]
    assert 0.25 <= waited < 2


def test_callback_query_round_trip(tg: FakeTelegram) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            await bot.send_message(CHAT, "Pick one", reply_markup=KEYBOARD)
            sent = tg.sent_messages(CHAT)[-1]
            with pytest.raises(AssertionError, match="no button with callback_data 'maybe'"):
                tg.press_button(sent, "maybe")
            query = tg.press_button(sent, "no")
            (update,) = await bot.get_updates()
            assert update.callback_query.id == query["id"]
            assert update.callback_query.data == "no"
            assert update.callback_query.from_user.id == CHAT
            assert update.callback_query.message.message_id == sent["message_id"]
            assert await update.callback_query.answer("Noted")
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await update.callback_query.answer("twice")

    asyncio.run(scenario())
    assert tg.wait_for("answerCallbackQuery", timeout=1)["text"] == "Noted"


def test_answer_inline_query_with_an_article(tg: FakeTelegram) -> None:
    query = tg.inline_query(77, "awards")

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            (update,) = await bot.get_updates()
            assert update.inline_query.query == "awards"
            article = InlineQueryResultArticle(
                id="a1", title="Awards", input_message_content=InputTextMessageContent("2020")
            )
            assert await bot.answer_inline_query(update.inline_query.id, [article], cache_time=0)

    asyncio.run(scenario())
    params = tg.wait_for("answerInlineQuery", timeout=1)
    assert params["inline_query_id"] == query["id"]
    assert params["cache_time"] == 0
    assert params["results"] == [
        {
            "type": "article",
            "id": "a1",
            "title": "Awards",
            "input_message_content": {"message_text": "2020"},
        }
    ]


def test_chat_action_and_bot_commands(tg: FakeTelegram) -> None:
    commands = [BotCommand("start", "Start over"), BotCommand("help", "How to ask")]

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            assert await bot.send_chat_action(CHAT, ChatAction.TYPING)
            assert await bot.set_my_commands(commands)
            assert await bot.get_my_commands() == tuple(commands)
            assert await bot.get_my_commands(language_code="th") == ()
            with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
                await bot.set_my_commands([BotCommand("Not valid", "x")])
            assert await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()

    asyncio.run(scenario())
    assert tg.wait_for("sendChatAction", timeout=1) == {"chat_id": CHAT, "action": "typing"}
    assert tg.wait_for("setMyCommands", timeout=1)["commands"] == [c.to_dict() for c in commands]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_fault_surfaces_as_retry_after_and_is_not_delivered(tg: FakeTelegram) -> None:
    tg.inject_fault("sendMessage", status=429, retry_after=7)

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            with pytest.raises(RetryAfter) as raised:
                await bot.send_message(CHAT, "hello")
            # An int today; a timedelta once PTB_TIMEDELTA (PTB's announced default) is on.
            assert raised.value.retry_after in (7, dt.timedelta(seconds=7))
            await bot.send_message(CHAT, "hello")  # the fault fired only once

    asyncio.run(scenario())
    assert [c.method for c in tg.faulted_calls] == ["sendMessage"]
    assert tg.calls_of("sendMessage") == [{"chat_id": CHAT, "text": "hello"}]
    faulted = next(r for r in tg.history if not r.delivered)
    assert faulted.status == 429
    assert faulted.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }


def test_reset_and_delay_faults(tg: FakeTelegram) -> None:
    tg.inject_fault("*", reset_connection=True, when=lambda p: p.get("text") == "reset")
    tg.inject_fault("sendMessage", delay=0.6)

    async def scenario() -> None:
        async with bot_for(tg) as bot:
            with pytest.raises(NetworkError):
                await bot.send_message(CHAT, "reset")
            with pytest.raises(TimedOut):
                await bot.send_message(CHAT, "slow", read_timeout=0.2)

    asyncio.run(scenario())
    # The slow message still reached "Telegram": a client that retries would duplicate it.
    assert tg.wait_for_message(CHAT, timeout=2)["text"] == "slow"
    assert [c.params["text"] for c in tg.faulted_calls] == ["reset"]
    assert [p["text"] for p in tg.calls_of("sendMessage")] == ["slow"]


def test_wrong_token_is_unauthorized(tg: FakeTelegram) -> None:
    async def scenario() -> None:
        async with bot_for(tg) as bot:
            with pytest.raises(InvalidToken, match="Unauthorized"):
                await Bot("999:not-the-configured-token", base_url=tg.base_url).get_me()
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("noSuchMethod")

    asyncio.run(scenario())
    response = httpx.post(tg.method_url("getMe", token="999:wrong"))
    assert (response.status_code, response.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    response = httpx.post(tg.method_url("noSuchMethod"))
    assert (response.status_code, response.json()) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )


def test_json_multipart_and_query_string_requests(tg: FakeTelegram) -> None:
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    as_json = httpx.post(
        tg.method_url("sendMessage"), json={"chat_id": CHAT, "text": "123", "reply_markup": markup}
    )
    assert as_json.json()["result"]["text"] == "123"
    assert as_json.json()["result"]["reply_markup"] == markup
    as_multipart = httpx.post(
        tg.method_url("sendMessage"),
        data={"chat_id": str(CHAT), "text": "with file"},
        files={"document": ("notes.txt", b"abc", "text/plain")},
    )
    assert as_multipart.json()["ok"] is True
    as_get = httpx.get(tg.method_url("getMe"), params={"unused": "1"})
    assert as_get.json() == {"ok": True, "result": tg.bot_user}
    first, second, third = tg.calls
    assert first.params == {"chat_id": CHAT, "text": "123", "reply_markup": markup}
    assert second.params == {
        "chat_id": CHAT,
        "text": "with file",
        "document": {"filename": "notes.txt", "content_type": "text/plain", "size": 3},
    }
    assert third == ("getMe", {"unused": 1})


def test_wait_for_timeout_lists_the_calls_seen(tg: FakeTelegram) -> None:
    httpx.post(tg.method_url("sendChatAction"), data={"chat_id": str(CHAT), "action": "typing"})
    with pytest.raises(
        AssertionError, match=r"waiting for a sendMessage call(.|\n)*sendChatAction"
    ):
        tg.wait_for("sendMessage", timeout=0.2)
    tg.reset_calls()
    assert tg.calls == []


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start handler of the mini bot below."""
    await update.effective_message.reply_text("Welcome!")


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo handler of the mini bot below."""
    await update.effective_message.reply_text(update.effective_message.text)


def mini_app(tg: FakeTelegram) -> Application:
    """A two-handler bot: enough to prove polling and webhook delivery end to end."""
    app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


def test_application_polls_and_answers(tg: FakeTelegram) -> None:
    async def scenario() -> list[dict]:
        app = mini_app(tg)
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            wait = asyncio.to_thread
            tg.send_command(CHAT, "start")
            replies = [await wait(tg.wait_for_message, CHAT, timeout=5)]
            tg.send_text(CHAT, "ping")
            replies.append(await wait(tg.wait_for_message, CHAT, timeout=5))
            asked = tg.send_command(GROUP, "start", addressed=True, chat_type="supergroup")
            replies.append(await wait(tg.wait_for_message, GROUP, timeout=5))
            assert replies[-1]["reply_to_message"]["message_id"] == asked["message_id"]
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
        return replies

    replies = asyncio.run(scenario())
    assert [r["text"] for r in replies] == ["Welcome!", "ping", "Welcome!"]
    assert tg.wait_for("deleteWebhook", timeout=1) is not None
    assert tg.pending_updates() == []  # PTB confirmed everything on shutdown


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_webhook_delivery_with_secret_token(tg: FakeTelegram) -> None:
    port = free_port()
    local_url = f"http://127.0.0.1:{port}/hook"

    async def scenario() -> dict:
        app = mini_app(tg)
        await app.initialize()
        await app.start()
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url="https://bot.example/hook",
            secret_token="s3cret",
        )
        try:
            wait = asyncio.to_thread
            registered = await wait(tg.wait_for, "setWebhook", timeout=5)
            assert registered["url"] == "https://bot.example/hook"
            with pytest.raises(Conflict, match="webhook is active"):
                await app.bot.get_updates()
            assert await wait(tg.post_update_to, local_url, {"message": {}}, "wrong") == 403
            tg.forward_webhook_to(local_url)
            await wait(tg.send_text, CHAT, "via webhook")
            reply = await wait(tg.wait_for_message, CHAT, timeout=5)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
        return reply

    assert asyncio.run(scenario())["text"] == "via webhook"
    assert tg.pending_updates() == []
