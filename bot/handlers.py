"""One function per kind of update, in the style of python-telegram-bot's own examples.

Questions from every entry point (text, /ask, edits, example buttons) meet in
``_answer_question``: rate limit, follow-up reading, the engine off the event loop, then the
rendered answer with its buttons.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from telegram import (
    Bot,
    Chat,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from index import Answer, answer_line, thai_date

from . import render, staff, texts
from .quota import Verdict
from .recent_answers import Stored
from .records import utcnow
from .send import send_html, typing
from .services import services

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000  # longer messages are answered from their first part
# Replies one group may have under way: a group gets 20 messages a minute, so a few waiting
# already means a minute's delay, and each holds one of the handler slots all chats share.
MAX_CHAT_BACKLOG = 4
INLINE_CACHE_SECONDS = 60

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context], Awaitable[None]]


# --------------------------------------------------------------------------- helpers


# A word said this many times or more in a row ("ขอบคุณมาก ขอบคุณมาก …") is said once: it says
# nothing more the second time, and kept whole it drowns the question for retrieval and the
# reader. Twice stays twice ("มาก มาก"): that is how people talk.
REPEATS_SAID_ONCE = 3


def _said_once(words: list[str]) -> list[str]:
    """``words`` with each run of ``REPEATS_SAID_ONCE`` or more equal words cut to one; linear
    in the words (a backtracking pattern took 27 s on 50,000 letters without a space)."""
    out = []
    for word, run in itertools.groupby(words):
        times = len(list(run))
        out.extend([word] * (1 if times >= REPEATS_SAID_ONCE else times))
    return out


def first_part(text: str, limit: int = MAX_QUESTION_CHARS) -> tuple[str, bool]:
    """The question in ``text`` (spaces tidied, a word repeated in a row said once), cut at a
    word gap near ``limit``; was it cut?"""
    text = " ".join(_said_once(text.split()))
    if not any(unicodedata.category(char)[0] in "LNPS" for char in text):
        return "", False  # only invisible characters or marks with nothing to sit on
    if len(text) <= limit:
        return text, False
    cut = text.rfind(" ", limit // 2, limit + 1)
    return text[: cut if cut > 0 else limit].strip(), True


def asker_id(update: Update) -> int:
    """Who asks, for quotas and the record. Anonymous group admins and people writing as their
    channel all reach the bot as one of Telegram's shared placeholder users, so they are keyed
    by the chat they speak as (chat ids never collide with user ids)."""
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    return update.effective_user.id


def _is_group(chat: Chat | None) -> bool:
    return chat is not None and chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def addressed_text(message: Message, bot: Bot) -> str | None:
    """The text meant for the bot, its @mentions removed; None in a group when not addressed.

    In groups the bot answers only when mentioned or replied to, never to side conversation.
    A post with no sender (a channel's) is never a question to the bot.
    """
    if message.from_user is None:
        return None
    kinds = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    if message.text is not None:
        text, entities = message.text, message.parse_entities(kinds)
    else:
        text, entities = message.caption or "", message.parse_caption_entities(kinds)
    handle = f"@{bot.username}".lower()
    ours = [
        found
        for entity, found in entities.items()
        if found.lower() == handle or (entity.user is not None and entity.user.id == bot.id)
    ]
    for found in ours:
        text = text.replace(found, " ")
    replied = message.reply_to_message
    to_bot = replied is not None and replied.from_user is not None
    to_bot = to_bot and replied.from_user.id == bot.id
    if _is_group(message.chat) and not (ours or to_bot):
        return None
    return text.strip()


async def _reply(
    update: Update, context: Context, markup: str, keyboard: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer in the update's chat; in groups as a reply, so it is clear whom it answers."""
    message = update.effective_message
    quote = message.message_id if message is not None and _is_group(update.effective_chat) else None
    return await send_html(
        context.bot, update.effective_chat.id, markup, keyboard=keyboard, reply_to=quote
    )


async def _within_quota(update: Update, context: Context) -> bool:
    """Every reply costs its asker one of their questions a minute, commands and stickers too:
    a flood of /help in a group otherwise fills the group's send limit and keeps handler slots
    busy for everyone. Over the quota the asker is told once, then nothing is sent. A group with
    ``MAX_CHAT_BACKLOG`` replies already under way gets no more until they are out (said once):
    many members flooding one group must not take the slots other chats need. (A private chat
    is not capped: Telegram lets the bot send there about once a second, so nothing waits.)"""
    svc, chat_id = services(context), update.effective_chat.id
    if _is_group(update.effective_chat) and svc.backlog[chat_id] >= MAX_CHAT_BACKLOG:
        if chat_id not in svc.told_busy:
            svc.told_busy.add(chat_id)
            log.warning(
                "chat %s has %d replies under way; skipping more", chat_id, MAX_CHAT_BACKLOG
            )
            await _reply(update, context, texts.CHAT_BUSY)
        return False
    verdict = svc.quota.check(asker_id(update))
    if verdict is Verdict.WARN:
        await _reply(update, context, texts.RATE_LIMITED)
    return verdict is Verdict.ALLOW


@contextlib.asynccontextmanager
async def _turn(update: Update, context: Context) -> AsyncIterator[bool]:
    """Whether to reply (``_within_quota``); while the reply is under way it counts in its
    chat's backlog."""
    if not await _within_quota(update, context):
        yield False
        return
    svc, chat_id = services(context), update.effective_chat.id
    svc.backlog[chat_id] += 1
    try:
        yield True
    finally:
        svc.backlog[chat_id] -= 1
        if not svc.backlog[chat_id]:
            del svc.backlog[chat_id]
            svc.told_busy.discard(chat_id)


def within_quota(handler: Handler) -> Handler:
    """``handler``, run only when ``_turn`` allows it."""

    @functools.wraps(handler)
    async def gated(update: Update, context: Context) -> None:
        async with _turn(update, context) as allowed:
            if allowed:
                await handler(update, context)

    return gated


async def _answer_question(
    update: Update,
    context: Context,
    text: str,
    notes: Sequence[str] = (),
    if_empty: str | None = None,
) -> None:
    """Answer ``text`` within the quota; with no question in it, reply ``if_empty`` (default:
    the help) instead, which counts against the quota like any reply."""
    question, cut = first_part(text)
    async with _turn(update, context) as allowed:
        if allowed and not question:
            await _reply(update, context, if_empty or render.help_html(context.bot.username))
        elif allowed:
            await _answer(update, context, question, cut, notes)


async def _answer(
    update: Update, context: Context, question: str, cut: bool, notes: Sequence[str]
) -> None:
    """Answer ``question`` (its first part, if ``cut``) and record it."""
    svc = services(context)
    asker = asker_id(update)
    if cut:
        notes = (*notes, texts.TRUNCATED.format(limit=MAX_QUESTION_CHARS))
    chat_id = update.effective_chat.id
    await typing(context.bot, chat_id)
    reading = svc.conversations.read(chat_id, asker, question)
    if reading.merged:
        notes = (texts.ASKED.format(question=render.echo(reading.question)), *notes)
    started, asked_at = time.perf_counter(), utcnow()
    answer = await svc.answer(reading.question, reading.reference_year)
    latency_ms = (time.perf_counter() - started) * 1000
    receipt = await svc.record(answer, update.effective_chat.type, asker, latency_ms, asked_at)
    notes = (*notes, *render.year_notes(answer))
    if not answer.found:
        svc.conversations.forget(chat_id, asker)
        if answer.unknown:
            html = render.unknown_html(answer, notes)
        else:
            html = render.not_found_html(question, notes)
        sent = await _reply(update, context, html, render.examples_keyboard())
    else:
        svc.conversations.remember(chat_id, asker, reading.question, _year(answer))
        key = svc.answers.put(chat_id, answer, receipt)
        keyboard = render.answer_keyboard(key, more=render.has_more(answer))
        sent = await _reply(update, context, render.answer_html(answer, notes), keyboard)
    if staff.is_staff_chat(svc, chat_id):
        reply_to = sent.message_id if sent is not None else None
        await staff.send_debug(context.bot, svc, chat_id, answer, receipt.id, reply_to)


def _year(answer: Answer) -> int:
    """The year of the article that answered: what "ปีที่แล้ว" means in a follow-up."""
    return int(answer.hits[0].chunk.date[:4])


async def _stored_for_button(update: Update, context: Context) -> tuple[str, Stored] | None:
    """The answer a button belongs to; a forged or expired key gets a polite toast instead."""
    query, chat = update.callback_query, update.effective_chat
    key = query.data.split(":")[1]
    stored = services(context).answers.get(chat.id, key) if chat is not None else None
    if stored is None:
        await query.answer(texts.EXPIRED)
        return None
    return key, stored


# --------------------------------------------------------------------------- commands


@within_quota
async def start(update: Update, context: Context) -> None:
    """/start: what the bot knows and three questions to try."""
    html = render.start_html(services(context).corpus())
    await _reply(update, context, html, render.examples_keyboard())


@within_quota
async def help_command(update: Update, context: Context) -> None:
    """/help, unknown commands and empty questions: how to ask."""
    await _reply(update, context, render.help_html(context.bot.username))


@within_quota
async def about(update: Update, context: Context) -> None:
    """/about: where the answers come from and how they are found."""
    await _reply(update, context, render.about_html(services(context).corpus()))


@within_quota
async def new_topic(update: Update, context: Context) -> None:
    """/new: the next question is not read as a follow-up."""
    services(context).conversations.forget(update.effective_chat.id, asker_id(update))
    await _reply(update, context, texts.NEW_TOPIC)


@within_quota
async def forget(update: Update, context: Context) -> None:
    """/forget: delete everything this user asked from the record, with the votes on it."""
    svc = services(context)
    forgotten = await svc.forget(asker_id(update), update.effective_chat.id)
    if forgotten is None:
        await _reply(update, context, texts.FORGET_HELD)
    else:
        await _reply(update, context, texts.FORGOTTEN.format(count=forgotten.questions))


async def ask(update: Update, context: Context) -> None:
    """/ask คำถาม: the way to ask in a group without mentioning the bot."""
    question = " ".join(context.args or [])
    await _answer_question(update, context, question, if_empty=texts.ASK_USAGE)


# --------------------------------------------------------------------------- messages


async def question(update: Update, context: Context) -> None:
    """A text message: a question, unless it is group chatter not meant for the bot."""
    text = addressed_text(update.effective_message, context.bot)
    if text is not None:
        await _answer_question(update, context, text)


async def edited_question(update: Update, context: Context) -> None:
    """An edited question is answered again, saying so, since the first answer may be stale."""
    text = addressed_text(update.effective_message, context.bot)
    if text is not None:
        await _answer_question(update, context, text, (texts.EDITED,))


async def not_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files, locations: only typed questions can be answered."""
    if addressed_text(update.effective_message, context.bot) is None:
        return
    async with _turn(update, context) as allowed:
        if allowed:
            await _reply(update, context, texts.TEXT_ONLY)


# --------------------------------------------------------------------------- buttons


async def example_button(update: Update, context: Context) -> None:
    """An example question button asks its question."""
    query = update.callback_query
    number = int(query.data.split(":")[1])
    if number >= len(texts.EXAMPLES) or update.effective_chat is None:  # None: inline message
        await query.answer(texts.EXPIRED)
        return
    await query.answer()
    example = texts.EXAMPLES[number]
    await _answer_question(update, context, example, (texts.ASKED.format(question=example),))


async def more_button(update: Update, context: Context) -> None:
    """The "แหล่งข้อมูลเพิ่มเติม" button: the next passages and their sources, once."""
    found = await _stored_for_button(update, context)
    if found is None:
        return
    key, stored = found
    query = update.callback_query
    extra = render.more_html(stored.answer)
    if extra is None or stored.more_shown:
        await query.answer(texts.NO_MORE if extra is None else texts.MORE_SHOWN)
        return
    stored.more_shown = True
    await query.answer()
    await send_html(context.bot, update.effective_chat.id, extra, reply_to=query.message.message_id)
    try:
        await query.edit_message_reply_markup(render.answer_keyboard(key, more=False))
    except BadRequest as exc:  # e.g. "message is not modified" after a double tap
        log.debug("could not drop the more-sources button: %s", exc)


async def vote_button(update: Update, context: Context) -> None:
    """👍/👎: recorded once per user and answer; a second tap is thanked, not counted."""
    found = await _stored_for_button(update, context)
    if found is None:
        return
    _, stored = found
    query = update.callback_query
    user_id = query.from_user.id
    if user_id in stored.voters:
        await query.answer(texts.VOTE_ALREADY)
        return
    stored.voters.add(user_id)
    helpful = query.data.endswith(f":{render.UP}")
    await services(context).record_vote(user_id, helpful, stored.receipt)
    await query.answer(texts.VOTE_THANKS)


async def stale_button(update: Update, context: Context) -> None:
    """Callback data no handler knows (old versions, forgery): a toast, never an error."""
    await update.callback_query.answer(texts.EXPIRED)


# --------------------------------------------------------------------------- inline mode


def _inline_results(answer: Answer) -> list[InlineQueryResultArticle]:
    """The answer first, then the other passages, each message carrying its source."""
    asked = (texts.ASKED.format(question=render.echo(answer.question)),)
    first = render.answer_html(answer, asked)
    results = []
    for n, hit in enumerate(answer.hits):
        chunk = hit.chunk
        markup = first if n == 0 else render.hit_html(chunk)
        results.append(
            InlineQueryResultArticle(
                id=str(n),
                title=(answer_line(answer) if n == 0 else chunk.title)[:100],
                description=f"{chunk.title} · {thai_date(chunk.date)}"[:200],
                input_message_content=InputTextMessageContent(
                    render.split_html(markup)[0], parse_mode=ParseMode.HTML
                ),
                url=chunk.url,
            )
        )
    return results


async def inline_query(update: Update, context: Context) -> None:
    """@bot คำถาม from any chat: answers to pick from, each with its source."""
    query = update.inline_query
    text, _ = first_part(query.query)
    if not text:
        await query.answer([], cache_time=INLINE_CACHE_SECONDS)
        return
    svc = services(context)
    if svc.inline_quota.check(query.from_user.id) is not Verdict.ALLOW:
        button = InlineQueryResultsButton(texts.INLINE_LIMITED, start_parameter="limited")
        await query.answer([], cache_time=0, button=button)
        return
    answer = await svc.answer(text)
    if not answer.found:
        button = InlineQueryResultsButton(texts.INLINE_NOT_FOUND, start_parameter="help")
        await query.answer([], cache_time=INLINE_CACHE_SECONDS, button=button)
        return
    await query.answer(_inline_results(answer), cache_time=INLINE_CACHE_SECONDS)


# --------------------------------------------------------------------------- errors


async def on_error(update: object, context: Context) -> None:
    """Log every failure; tell a private-chat user something went wrong instead of silence."""
    log.error("error while handling an update", exc_info=context.error)
    await staff.report_error(context.bot, services(context), update, context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type == ChatType.PRIVATE:
        try:
            await context.bot.send_message(update.effective_chat.id, texts.ERROR)
        except TelegramError as exc:
            log.warning("could not report the error to the user: %s", exc)
