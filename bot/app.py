"""The Telegram application: handlers, defaults, start-up work, and logs that keep secrets.

``build_application`` is the one way to assemble the bot, for ``dgbot serve`` and for the
end-to-end tests alike; ``serve`` runs it by long polling (bot/polling.py, which confirms an
update only once handled) or behind a webhook; either way the journal (bot/journal.py) keeps
an update Telegram delivers twice from being answered twice.

Long polling runs the bot's own Poller the way PTB documents a custom update source: an
Application built with ``.updater(None)``, driven by ``async with app`` and
``app.start()``/``app.stop()``. The webhook is PTB's own ``run_webhook``, which needs PTB's
Updater, so an application is built for one mode or the other.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import signal
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from index import Engine, SettingsError, open_or_build

from . import handlers, render, staff, texts
from .journal import JournaledApplication
from .polling import Poller
from .records import Records
from .render import esc
from .salt import hash_salt
from .services import KEY, Services
from .settings import BotSettings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a webhook secret
MIN_SECRET = 32  # characters: the only thing between the internet and the bot's webhook
LOOPBACK = {"localhost", "127.0.0.1", "::1"}  # plain http only to a Bot API server on this host
REDACTED = "[REDACTED]"


class Redactor(logging.Filter):
    """Replace secrets in log records: httpx and PTB put the token in every request URL."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def protect_logs(secret_values: Iterable[str]) -> None:
    """Quiet the HTTP loggers and redact ``secret_values`` in whatever the handlers emit.

    A filter on a logger does not see records propagated from its children, so the redactor
    sits on the root handlers (or on logging's last-resort handler when there are none).
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    parts = [part for value in secret_values if value for part in (value, value.partition(":")[2])]
    for handler in logging.getLogger().handlers or [logging.lastResort]:
        if handler is None:
            continue
        redactor = next((f for f in handler.filters if isinstance(f, Redactor)), None)
        if redactor is None:
            redactor = Redactor()
            handler.addFilter(redactor)
        redactor.secrets.update(part for part in parts if part)


def add_handlers(app: Application) -> None:
    """Register every handler; order matters within a group (the first match wins)."""
    fresh = filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("start", handlers.start, filters=fresh))
    app.add_handler(CommandHandler("help", handlers.help_command, filters=fresh))
    app.add_handler(CommandHandler("about", handlers.about, filters=fresh))
    app.add_handler(CommandHandler("new", handlers.new_topic, filters=fresh))
    app.add_handler(CommandHandler("forget", handlers.forget, filters=fresh))
    app.add_handler(CommandHandler("ask", handlers.ask))  # an edited /ask is answered again
    for name, command in staff.COMMANDS.items():
        app.add_handler(CommandHandler(name, command, filters=fresh))
    app.add_handler(
        MessageHandler(fresh & filters.COMMAND & filters.ChatType.PRIVATE, handlers.help_command)
    )
    app.add_handler(MessageHandler(fresh & filters.TEXT & ~filters.COMMAND, handlers.question))
    app.add_handler(
        MessageHandler(
            filters.UpdateType.EDITED_MESSAGE & filters.TEXT & ~filters.COMMAND,
            handlers.edited_question,
        )
    )
    app.add_handler(
        MessageHandler(fresh & ~filters.TEXT & ~filters.StatusUpdate.ALL, handlers.not_text)
    )
    app.add_handler(CallbackQueryHandler(handlers.example_button, pattern=render.EXAMPLE_DATA))
    app.add_handler(CallbackQueryHandler(handlers.more_button, pattern=render.MORE_DATA))
    app.add_handler(CallbackQueryHandler(handlers.vote_button, pattern=render.VOTE_DATA))
    app.add_handler(CallbackQueryHandler(staff.verdict_button, pattern=staff.VERDICT_DATA))
    app.add_handler(CallbackQueryHandler(handlers.stale_button))
    app.add_handler(InlineQueryHandler(handlers.inline_query))
    app.add_error_handler(handlers.on_error)


class MessageRateLimiter(AIORateLimiter):
    """Telegram's flood limits are on messages; "typing…" is not one and need not queue."""

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        if endpoint == "sendChatAction":
            return await callback(*args, **kwargs)
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


class BotApplication(JournaledApplication):
    """The bot's Application: ``stop_running`` also ends ``serve``'s long polling, gracefully.

    PTB's ``stop_running`` stops the event loop its ``run_polling``/``run_webhook`` spin with
    ``run_forever``; ``serve`` polls inside one coroutine instead, which a stopped loop would
    abandon half-way (the batch in hand neither finished nor confirmed). While that coroutine
    runs, the call asks it to stop in order; otherwise (the webhook) it is PTB's."""

    stop_requested: asyncio.Event | None = None  # set by serve while it polls

    def stop_running(self) -> None:
        if self.stop_requested is None:
            super().stop_running()
        else:
            self.stop_requested.set()


async def _post_init(app: Application) -> None:
    """Load the engine once (unless the caller gave one) and publish the command menu."""
    svc: Services = app.bot_data[KEY]
    svc.outbox.notify = functools.partial(staff.announce, app.bot, svc)
    svc.outbox.start()
    if svc.engine is None:
        svc.engine = await asyncio.to_thread(open_or_build, svc.settings.engine)
        # The first answer still pays for first-call set-up (60-80 ms against ~15 ms after; the
        # Thai models are already loaded by Engine.open): pay it now, not a citizen.
        await asyncio.to_thread(svc.engine.answer, texts.EXAMPLES[0])
    info = svc.engine.info()
    log.info("engine ready: %d articles, years %s", info.articles, render.years_text(info.years))
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in texts.COMMANDS])
    await _staff_menus(app, svc)
    await asyncio.to_thread(svc.records.purge, svc.settings.retention_days)


async def _staff_menus(app: Application, svc: Services) -> None:
    """The staff command menu, listed in staff chats only.

    A staff chat id that no longer works (a group upgraded to a supergroup, the bot removed, a
    typo) must not stop the bot: it is logged and the working staff chats are told. When
    Telegram names the supergroup a group became, the bot follows it for this run and says
    which id to set."""
    staff_menu = [BotCommand(name, text) for name, text in texts.COMMANDS + texts.STAFF_COMMANDS]
    broken: list[str] = []
    for chat_id in svc.settings.staff_chat_ids:
        try:
            await app.bot.set_my_commands(staff_menu, scope=BotCommandScopeChat(chat_id))
        except ChatMigrated as exc:
            broken.append(texts.STAFF_CHAT_MOVED.format(old=chat_id, new=exc.new_chat_id))
            svc.staff_chats.discard(chat_id)
            svc.staff_chats.add(exc.new_chat_id)
            try:
                await app.bot.set_my_commands(
                    staff_menu, scope=BotCommandScopeChat(exc.new_chat_id)
                )
            except TelegramError as again:
                log.warning("staff chat %s: %s", exc.new_chat_id, again)
        except TelegramError as exc:
            broken.append(texts.STAFF_CHAT_BROKEN.format(chat=chat_id, reason=exc.message))
            svc.staff_chats.discard(chat_id)
    for note in broken:
        log.warning("%s", note)
        staff.notify_staff(app.bot, svc, esc(note))


async def _post_shutdown(app: Application) -> None:
    svc: Services = app.bot_data[KEY]
    if svc.background:  # staff notices on their way get a moment to arrive
        await asyncio.wait(svc.background, timeout=5)
    svc.executor.shutdown(wait=True, cancel_futures=True)
    await svc.outbox.stop()
    svc.records.close()


def build_application(
    settings: BotSettings, engine: Engine | None = None, webhook: bool = False
) -> BotApplication:
    """The whole bot; ``engine`` is loaded in post_init when not given (tests pass theirs).

    For long polling (the default) it has no PTB Updater: the bot's own Poller fetches. With
    ``webhook`` it keeps PTB's Updater, which serves the webhook."""
    protect_logs([settings.telegram_token])
    builder = ApplicationBuilder()
    if not webhook:
        builder = builder.updater(None)
    app = (
        builder.token(settings.telegram_token)
        .base_url(bot_api_url(settings))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(True)
        .rate_limiter(MessageRateLimiter(max_retries=2))
        .application_class(BotApplication)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    svc = Services(settings, Records(settings.database, hash_salt(settings)), engine)
    app.bot_data[KEY] = svc
    app.journal = svc.journal
    add_handlers(app)
    return app


def webhook_secret(settings: BotSettings) -> str:
    """DGBOT_WEBHOOK_SECRET, checked the way Telegram checks it and long enough not to be
    guessed, or a fresh random one."""
    secret = settings.webhook_secret or secrets.token_urlsafe(32)
    if not _SECRET_TOKEN.fullmatch(secret):
        raise SettingsError(
            "DGBOT_WEBHOOK_SECRET may only use A-Z, a-z, 0-9, _ and - (1 to 256 characters)"
        )
    if len(secret) < MIN_SECRET:
        raise SettingsError(
            f"DGBOT_WEBHOOK_SECRET must be at least {MIN_SECRET} characters (it has {len(secret)})"
        )
    return secret


def bot_api_url(settings: BotSettings) -> str:
    """DGBOT_TELEGRAM_BASE_URL, refused when it would send the token (it travels in the URL)
    in clear text anywhere but to this host: https, or http to a loopback address."""
    url = settings.telegram_base_url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" or (
        parts.scheme == "http" and (host in LOOPBACK or host.startswith("127."))
    ):
        return url
    raise SettingsError(
        f"DGBOT_TELEGRAM_BASE_URL={url!r}: use https://, or http:// only to this host "
        "(127.0.0.1, localhost): the bot token is part of every request's URL"
    )


def serve(
    app: BotApplication,
    webhook_url: str | None = None,
    stop_signals: Sequence[int] | None = STOP_SIGNALS,
) -> None:
    """Run until a stop signal or ``app.stop_running()``: long polling, or a webhook at
    ``webhook_url`` (HTTPS, as Telegram requires) served on
    DGBOT_WEBHOOK_LISTEN:DGBOT_WEBHOOK_PORT behind a reverse proxy. ``app`` is built for the
    same mode (``build_application(..., webhook=...)``). Like PTB's ``run_polling``, polling
    runs on this thread's event loop (a new one if there is none) and closes it at the end."""
    if webhook_url is None:
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_run_polling(app, stop_signals))
        finally:
            loop.close()
        return
    if not webhook_url.lower().startswith("https://"):
        raise SettingsError(f"--webhook needs an https:// URL, got {webhook_url!r}")
    settings: BotSettings = app.bot_data[KEY].settings
    secret = webhook_secret(settings)
    protect_logs([secret])
    app.run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlsplit(webhook_url).path.strip("/"),
        webhook_url=webhook_url,
        secret_token=secret,
        allowed_updates=ALLOWED_UPDATES,
        stop_signals=stop_signals,
    )


async def _run_polling(app: BotApplication, stop_signals: Sequence[int] | None) -> None:
    """PTB's documented run for a custom update source (``async with app``, ``app.start()``,
    the source, ``app.stop()``), with the Poller as the source and the lifecycle hooks that
    PTB calls only from its own ``run_polling``/``run_webhook``: ``post_init`` after
    initialising, ``post_stop`` after stopping, ``post_shutdown`` after shutting down (even when
    start-up failed, so the record and the executor are closed whatever happened)."""
    loop = asyncio.get_running_loop()
    stop = app.stop_requested = asyncio.Event()
    for sig in stop_signals or ():
        loop.add_signal_handler(sig, _stop_on_signal, stop)
    try:
        async with app:
            if app.post_init:
                await app.post_init(app)
            if not stop.is_set():  # stop_running() in post_init: never start
                await _poll_until_stopped(app, stop)
    finally:
        for sig in stop_signals or ():
            loop.remove_signal_handler(sig)
        app.stop_requested = None
        if app.post_shutdown:
            await app.post_shutdown(app)


async def _poll_until_stopped(app: BotApplication, stop: asyncio.Event) -> None:
    """Start, poll until ``stop`` is set or polling fails, then stop in order: the Poller
    finishes the updates in hand and confirms them before the application stops. A polling
    failure (a token Telegram rejects) is raised once everything has stopped."""
    poller = Poller(app, ALLOWED_UPDATES)
    await app.start()
    try:
        polling = await poller.start()
        polling.add_done_callback(lambda _: stop.set())
        await stop.wait()
    finally:
        await poller.stop()
        await app.stop()
        if app.post_stop:
            await app.post_stop(app)
    if not polling.cancelled() and polling.exception() is not None:
        raise polling.exception()


def _stop_on_signal(stop: asyncio.Event) -> None:
    log.info("stop signal received; stopping")
    stop.set()
