"""A fake Telegram Bot API server for end-to-end tests of the bot: HTTP on 127.0.0.1.

The real bot talks HTTP to Telegram; pointing it at this server (``base_url=tg.base_url``) lets a
test drive the unmodified bot - python-telegram-bot client, handlers, polling or webhook loop -
and assert what the bot answered.  It is strict where the real API is strict and bots commonly
go wrong (HTML parsing, "message is not modified", callback data over 64 bytes, answering a
query twice, getUpdates while a webhook is set), so those bugs show up in tests instead of in
production.  What users do is in ``tests.support.users``; the objects it builds are in
``tests.support.entities``.

Only the standard library is used, and every public method is thread-safe: tests may call it
from the test thread while the bot runs in another thread, event loop or process.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlsplit

from tests.support import entities
from tests.support.entities import (
    JSON,
    Predicate,
    TelegramApiError,
    bad_request,
    formatted_text,
    utf16_len,
)

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForEndToEndTests0"
FIRST_UPDATE_ID = 1000

# Form fields that Telegram treats as plain strings; everything else PTB sends is JSON-encoded.
_STRING_FIELDS = frozenset(
    {
        "action",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "data",
        "description",
        "document",
        "emoji",
        "first_name",
        "inline_message_id",
        "inline_query_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "photo",
        "query",
        "secret_token",
        "short_description",
        "sticker",
        "text",
        "title",
        "url",
    }
)
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_PATH_RE = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>\w+)")
_TOKEN_SHAPE_RE = re.compile(r"\d+:[\w-]+")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Call(NamedTuple):
    """A request that reached the method logic: its method name and decoded parameters."""

    method: str
    params: JSON


@dataclass
class CallRecord:
    """Everything known about one request, so tests can inspect faults and error answers too.

    ``delivered`` is False when an injected fault answered instead of the method logic (nothing
    happened on the "Telegram" side); a delay-only fault still delivers.  ``status`` and
    ``response`` stay None while the request is in progress and when the connection was reset.
    """

    method: str
    params: JSON
    delivered: bool
    fault: str | None = None
    status: int | None = None
    response: JSON | None = None


@dataclass
class _Fault:
    method: str
    status: int | None
    retry_after: int | None
    description: str | None
    delay: float | None
    reset_connection: bool
    remaining: int
    when: Predicate | None
    migrate_to_chat_id: int | None = None

    def matches(self, method: str, params: JSON) -> bool:
        return (
            self.remaining > 0
            and self.method in ("*", method.lower())
            and (self.when is None or self.when(params))
        )

    def label(self) -> str:
        parts = [f"delay {self.delay}s"] if self.delay else []
        if self.reset_connection:
            parts.append("reset connection")
        elif self.status is not None:
            parts.append(f"status {self.status}")
        return ", ".join(parts)

    def error(self, status: int) -> TelegramApiError:
        """Telegram's error body for ``status``; a 429 always says when to retry."""
        retry_after = self.retry_after
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        if self.description:
            description = self.description
        elif status == HTTPStatus.TOO_MANY_REQUESTS:
            description = f"Too Many Requests: retry after {retry_after}"
        elif status in HTTPStatus.__members__.values():
            description = HTTPStatus(status).phrase
        else:
            description = f"Error {status}"
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        if self.migrate_to_chat_id is not None:
            parameters = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return TelegramApiError(status, description, parameters)


# --------------------------------------------------------------------------- request decoding


def _decode_value(name: str, value: str) -> Any:
    """Undo PTB's encoding: strings are sent raw, every other value as a JSON string."""
    if name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value, parse_constant=lambda constant: value)
    except ValueError:
        return value


def _decode_form(text: str) -> JSON:
    return {
        key: _decode_value(key, value) for key, value in parse_qsl(text, keep_blank_values=True)
    }


def _decode_multipart(content_type: str, body: bytes) -> JSON:
    """Text parts become params; file parts become ``{filename, content_type, size}``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    params: JSON = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            params[name] = _decode_value(name, payload.decode())
        else:
            params[name] = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
            }
    return params


def decode_params(query: str, content_type: str, body: bytes) -> JSON:
    """Merge query-string and body parameters the way the Bot API accepts them."""
    params = _decode_form(query)
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json" and body:
        decoded = json.loads(body)
        if not isinstance(decoded, dict):
            raise bad_request("JSON object expected")
        params.update(
            {k: _decode_value(k, v) if isinstance(v, str) else v for k, v in decoded.items()}
        )
    elif media_type == "multipart/form-data":
        params.update(_decode_multipart(content_type, body))
    elif body:
        params.update(_decode_form(body.decode()))
    return params


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # every request is a new connection; bursts must not hit SYN retries

    def __init__(self, fake: BotApiServer, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, lets the BotApiServer answer it and writes Telegram's JSON reply."""

    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, *args: Any) -> None:
        """Keep pytest output clean; tests read ``BotApiServer.history`` instead."""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            params = decode_params(url.query, self.headers.get("Content-Type", ""), body)
        except (TelegramApiError, ValueError, UnicodeDecodeError) as exc:
            error = exc if isinstance(exc, TelegramApiError) else bad_request(str(exc))
            self._reply(error.code, error.body())
            return
        answer = self.server.fake._answer(url.path, params)
        if answer is None:
            self._reset()
        else:
            self._reply(*answer)

    def _reply(self, status: int, body: JSON) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (e.g. a cancelled long poll); Telegram would not care either

    def _reset(self) -> None:
        """Abort the TCP connection (RST) without any HTTP reply."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


# --------------------------------------------------------------------------- the server


class BotApiServer:
    """In-process Telegram Bot API; point the bot at it with ``base_url=tg.base_url``.

    Use as a context manager or with ``start()``/``stop()``.  Raw updates are queued with
    ``push_update`` (for getUpdates, or POSTed to the bot when ``forward_webhook_to`` is set);
    the bot's requests are read back through ``calls`` and ``sent_messages``; ``inject_fault``
    makes the next calls fail the ways the real network and API do.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "dg_test_bot",
        bot_first_name: str = "DG Test Bot",
        host: str = "127.0.0.1",
    ) -> None:
        if not _TOKEN_SHAPE_RE.fullmatch(token):
            raise ValueError(f"token must look like a Telegram token ('<id>:<secret>'): {token!r}")
        self._token = token
        self._host = host
        self._bot_user: JSON = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._cond = threading.Condition()
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[JSON], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_query,
            "answerinlinequery": self._answer_inline_query,
            "sendchataction": self._send_chat_action,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "close": lambda params: True,
            "logout": lambda params: True,
        }
        # Everything below is guarded by self._cond.
        self._history: list[CallRecord] = []
        self._claimed: set[int] = set()
        self._faults: list[_Fault] = []
        self._updates: list[JSON] = []
        self._next_update_id = FIRST_UPDATE_ID
        self._confirmed_offset = 0
        self._poll_generation = 0
        self._allowed_updates: list[str] | None = None
        self._webhook: JSON = {}
        self._webhook_target: str | None = None
        self._webhook_error: str | None = None
        self._chats: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], JSON] = {}
        self._last_message_id: dict[int, int] = {}
        self._sent: list[JSON] = []
        self._watchers: list[Callable[[JSON], None]] = []
        self._open_queries: set[str] = set()
        self._serial = 1
        self._commands: dict[tuple[str, str], list[JSON]] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind an OS-chosen port on the host and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeTelegram is already running")
        self._stop_event.clear()
        self._server = _Server(self, self._host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeTelegram:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; pending long polls and fault delays are released at once."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ identity

    @property
    def token(self) -> str:
        return self._token

    @property
    def bot_user(self) -> JSON:
        """The getMe answer (a copy)."""
        return dict(self._bot_user)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not running; call start() or use `with`")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url``; PTB appends ``<token>/<method>``."""
        return f"http://{self._host}:{self.port}/bot"

    def method_url(self, method: str, token: str | None = None) -> str:
        """Full URL of one API method, for raw HTTP requests in tests."""
        return f"{self.base_url}{token or self._token}/{method}"

    # ------------------------------------------------------------------ queueing updates

    def push_update(self, update: JSON) -> JSON:
        """Queue a raw update (``update_id`` assigned when missing) and return it.

        While ``forward_webhook_to`` is active and the bot has a webhook set, it is POSTed to
        the bot before this returns.

        Like Telegram, getUpdates silently drops update types the bot did not ask for in
        ``allowed_updates`` (by default chat_member, message_reaction, message_reaction_count).
        """
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
            self._updates.append(update)
            self._updates.sort(key=lambda u: u["update_id"])
            target = self._webhook_target if self._webhook.get("url") else None
            secret = self._webhook.get("secret_token")
            self._cond.notify_all()
        if target is not None:
            self._deliver_to_webhook(target, update, secret)
        return copy.deepcopy(update)

    # ------------------------------------------------------------------ webhook side

    def post_update_to(
        self, url: str, update: JSON, secret_token: str | None = None, *, timeout: float = 10.0
    ) -> int:
        """POST ``update`` as JSON to a bot's webhook, as Telegram does; returns the HTTP status."""
        update = copy.deepcopy(update)
        with self._cond:
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, update["update_id"] + 1)
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        request = urllib.request.Request(
            url, data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def forward_webhook_to(self, url: str | None) -> None:
        """Deliver injected updates to ``url`` while the bot has a webhook set.

        The bot registers a public HTTPS URL with setWebhook; this maps it to where the bot
        really listens on this machine.  Updates are POSTed from the injecting thread with the
        secret token the bot registered; an update the bot does not accept with 2xx stays
        pending and shows up in getWebhookInfo's last_error_message.  The injecting helpers
        block until the bot answered, so call them through ``asyncio.to_thread`` when the bot
        runs in the test's own event loop.
        """
        with self._cond:
            self._webhook_target = url

    def _deliver_to_webhook(self, url: str, update: JSON, secret: str | None) -> None:
        try:
            status = self.post_update_to(url, update, secret)
            error = None if 200 <= status < 300 else f"Wrong response from the webhook: {status}"
        except OSError as exc:
            error = f"Connection failed: {exc}"
        with self._cond:
            self._webhook_error = error
            if error is None:
                self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]

    # ------------------------------------------------------------------ reading what the bot did

    @property
    def history(self) -> list[CallRecord]:
        """Every request with a valid token, in arrival order, faulted ones included."""
        with self._cond:
            return copy.deepcopy(self._history)

    @property
    def calls(self) -> list[Call]:
        """Requests that reached the method logic (including ones answered with an error)."""
        with self._cond:
            return [Call(r.method, copy.deepcopy(r.params)) for r in self._history if r.delivered]

    @property
    def faulted_calls(self) -> list[Call]:
        """Requests answered by an injected fault instead of the method logic."""
        with self._cond:
            return [
                Call(r.method, copy.deepcopy(r.params)) for r in self._history if not r.delivered
            ]

    def calls_of(self, method: str) -> list[JSON]:
        """Params of the delivered calls of ``method``, e.g. to assert "sent exactly once"."""
        return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[JSON]:
        """Messages the bot sent successfully, as returned to it at send time."""
        with self._cond:
            return [
                copy.deepcopy(m)
                for m in self._sent
                if chat_id is None or m["chat"]["id"] == chat_id
            ]

    def watch_messages(self, watcher: Callable[[JSON], None]) -> None:
        """Call ``watcher(message)`` for every message the bot sends from now on, as it is
        sent (under the server's lock: keep it short), e.g. to time thousands of answers in a
        load test without scanning the history."""
        with self._cond:
            self._watchers.append(watcher)

    def get_message(self, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a message (after edits), or None if it never existed."""
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            return copy.deepcopy(message)

    def _wait(self, accept: Callable[[CallRecord], bool], timeout: float, what: str) -> CallRecord:
        def find() -> tuple[int, CallRecord] | None:
            for index, record in enumerate(self._history):
                if (
                    index not in self._claimed
                    and record.delivered
                    and record.response is not None
                    and accept(record)
                ):
                    return index, record
            return None

        with self._cond:
            found = self._cond.wait_for(find, timeout)
            if found is None:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; {self._describe_calls()}"
                )
            self._claimed.add(found[0])
            return found[1]

    def _describe_calls(self) -> str:
        polls = sum(1 for r in self._history if r.method.lower() == "getupdates")
        lines = [
            f"  {r.method}{' [' + r.fault + ']' if r.fault else ''} -> {r.status}: "
            f"{json.dumps(r.params, ensure_ascii=False)[:300]}"
            for r in self._history
            if r.method.lower() != "getupdates"
        ]
        return "calls seen ({} getUpdates not listed):\n{}".format(
            polls, "\n".join(lines) or "  (none)"
        )

    def reset_calls(self) -> None:
        """Forget recorded calls and sent messages (updates, chats and faults stay)."""
        with self._cond:
            self._history.clear()
            self._claimed.clear()
            self._sent.clear()

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by the bot through a getUpdates offset."""
        with self._cond:
            return copy.deepcopy(self._updates)

    @property
    def confirmed_offset(self) -> int:
        """The highest getUpdates ``offset`` the bot sent (0 before any)."""
        with self._cond:
            return self._confirmed_offset

    # ------------------------------------------------------------------ faults

    def inject_fault(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        description: str | None = None,
        delay: float | None = None,
        times: int = 1,
        reset_connection: bool = False,
        when: Predicate | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" for any) that satisfy ``when`` fail.

        - ``migrate_to_chat_id``: the error says the group became this supergroup, as Telegram
          answers calls to a group that was upgraded (give ``status=400``).

        - ``status``: answer with this HTTP status and Telegram's error body; 429 (the default
          when neither ``delay`` nor ``reset_connection`` is given) carries
          ``parameters.retry_after`` (default 1).
        - ``delay``: sleep first; with no ``status`` the call is then answered normally, so a
          client that timed out meanwhile still had its message delivered, as on Telegram.
        - ``reset_connection``: abort the TCP connection without any reply.

        Faulted calls land in ``faulted_calls``, not ``calls``; delay-only calls land in both
        ``history`` (with ``fault`` set) and ``calls``.
        """
        if status is None and delay is None and not reset_connection:
            status = int(HTTPStatus.TOO_MANY_REQUESTS)
        fault = _Fault(
            method="*" if method == "*" else method.lower(),
            status=status,
            retry_after=retry_after,
            description=description,
            delay=delay,
            reset_connection=reset_connection,
            remaining=times,
            when=when,
            migrate_to_chat_id=migrate_to_chat_id,
        )
        with self._cond:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop faults that have not fired yet."""
        with self._cond:
            self._faults.clear()

    # ------------------------------------------------------------------ request dispatch

    def _answer(self, path: str, params: JSON) -> tuple[int, JSON] | None:
        """The (status, body) for one request, or None to reset the connection."""
        match = _PATH_RE.fullmatch(path)
        if match is None:
            return 404, TelegramApiError(404, "Not Found").body()
        token, method = match.group("token"), match.group("method")
        if token != self._token:
            if _TOKEN_SHAPE_RE.fullmatch(token):
                return 401, TelegramApiError(401, "Unauthorized").body()
            return 404, TelegramApiError(404, "Not Found").body()
        with self._cond:
            fault = next((f for f in self._faults if f.matches(method, params)), None)
            if fault is not None:
                fault.remaining -= 1
                self._faults = [f for f in self._faults if f.remaining > 0]
        if fault is not None and fault.delay:
            self._stop_event.wait(fault.delay)
        if fault is not None and (fault.reset_connection or fault.status is not None):
            return self._answer_fault(method, params, fault)
        record = CallRecord(method, params, delivered=True, fault=fault.label() if fault else None)
        with self._cond:
            self._history.append(record)
            handler = self._methods.get(method.lower())
            try:
                if handler is None:
                    raise TelegramApiError(404, "Not Found")
                status, body = 200, {"ok": True, "result": handler(params)}
            except TelegramApiError as error:
                status, body = error.code, error.body()
            record.status, record.response = status, body
            self._cond.notify_all()
            return status, copy.deepcopy(body)

    def _answer_fault(self, method: str, params: JSON, fault: _Fault) -> tuple[int, JSON] | None:
        record = CallRecord(method, params, delivered=False, fault=fault.label())
        answer = None
        if fault.status is not None and not fault.reset_connection:
            error = fault.error(fault.status)
            answer = error.code, error.body()
            record.status, record.response = answer
        with self._cond:
            self._history.append(record)
            self._cond.notify_all()
        return answer

    # ------------------------------------------------------------------ state helpers (locked)

    def _chat_for(self, chat_id: int, chat_type: str, member: JSON) -> JSON:
        """The chat ``member`` writes in, remembered for the bot's requests to it."""
        chat = entities.chat(chat_id, chat_type, member, self._chats.get(chat_id))
        self._chats[chat_id] = chat
        return chat

    def _new_message(self, chat: JSON, content: JSON) -> JSON:
        """A message with the chat's next id, stored so edits and replies can find it."""
        chat_id = chat["id"]
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        message = entities.message(self._last_message_id[chat_id], chat, content)
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _resolve_chat(self, chat_id: Any) -> JSON:
        """The chat a bot request targets; unknown numeric chats are assumed to exist."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username", "").lower() == chat_id[1:].lower():
                    return chat
            raise bad_request("chat not found")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise bad_request("chat not found")
        if chat_id not in self._chats:
            if chat_id > 0:
                chat = {"type": "private", "first_name": f"User {chat_id}"}
            elif chat_id <= -1_000_000_000_000:
                chat = {"type": "supergroup", "title": f"Chat {chat_id}"}
            else:
                chat = {"type": "group", "title": f"Chat {chat_id}"}
            self._chats[chat_id] = {"id": chat_id, **chat}
        return self._chats[chat_id]

    @staticmethod
    def _inline_keyboard(markup: Any) -> JSON | None:
        """Validate reply_markup; only inline keyboards are echoed in the returned Message."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad_request("BUTTON_DATA_INVALID")
        return copy.deepcopy(markup)

    def _bot_from(self) -> JSON:
        return {key: self._bot_user[key] for key in ("id", "is_bot", "first_name", "username")}

    def _message_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text, entities = formatted_text(params)
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > 4096:
            raise bad_request("message is too long")
        return text, entities

    # ------------------------------------------------------------------ API methods (locked)

    def _get_me(self, params: JSON) -> JSON:
        return dict(self._bot_user)

    def _get_updates(self, params: JSON) -> list[JSON]:
        if self._webhook.get("url"):
            raise TelegramApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # an older long poll is terminated, as on Telegram
        self._set_allowed_updates(params.get("allowed_updates"))
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed_offset = max(self._confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            if generation != self._poll_generation:
                raise TelegramApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = [u for u in self._updates if self._is_allowed(u)]
            self._updates = ready
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._stop_event.is_set():
                return copy.deepcopy(ready[:limit])
            self._cond.wait(remaining)

    def _set_allowed_updates(self, allowed: Any) -> None:
        if allowed is not None:
            self._allowed_updates = list(allowed) or None

    def _is_allowed(self, update: JSON) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates is None:
            return kind not in _DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    def _set_webhook(self, params: JSON) -> bool:
        url = params.get("url") or ""
        if url and not str(url).lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._set_allowed_updates(params.get("allowed_updates"))
        self._webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": int(params.get("max_connections") or 40),
        }
        self._cond.notify_all()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {}
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if info["url"]:
            info["max_connections"] = self._webhook["max_connections"]
            if self._allowed_updates is not None:
                info["allowed_updates"] = list(self._allowed_updates)
            if self._webhook_error:
                info["last_error_date"] = int(time.time())
                info["last_error_message"] = self._webhook_error
        return info

    def _send_message(self, params: JSON) -> JSON:
        chat = self._resolve_chat(params.get("chat_id"))
        text, entities = self._message_text(params)
        markup = self._inline_keyboard(params.get("reply_markup"))
        content: JSON = {"from": self._bot_from(), "text": text}
        if entities:
            content["entities"] = entities
        if markup is not None:
            content["reply_markup"] = markup
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id") is not None:
            reply = {"message_id": params["reply_to_message_id"]}
        if isinstance(reply, dict):
            replied = self._messages.get((chat["id"], reply.get("message_id")))
            if replied is not None:
                replied = copy.deepcopy(replied)
                replied.pop("reply_to_message", None)
                content["reply_to_message"] = replied
            elif not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        message = self._new_message(chat, content)
        self._sent.append(copy.deepcopy(message))
        for watcher in self._watchers:
            watcher(copy.deepcopy(message))
        return copy.deepcopy(message)

    def _message_to_edit(self, params: JSON) -> JSON | None:
        """The stored bot message an edit targets; None for inline messages (not stored)."""
        if params.get("inline_message_id"):
            return None
        chat = self._resolve_chat(params.get("chat_id"))
        message = self._messages.get((chat["id"], params.get("message_id")))
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self._bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: JSON, changes: JSON) -> JSON:
        """Edits replace the inline keyboard too: no reply_markup in the request removes it."""
        before = {key: message.get(key) for key in ("text", "entities", "reply_markup")}
        after = {**before, **changes}
        if after == before:
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        for key, value in after.items():
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        text, entities = self._message_text(params)
        markup = self._inline_keyboard(params.get("reply_markup"))
        message = self._message_to_edit(params)
        if message is None:
            return True
        return self._apply_edit(
            message, {"text": text, "entities": entities or None, "reply_markup": markup}
        )

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        markup = self._inline_keyboard(params.get("reply_markup"))
        message = self._message_to_edit(params)
        if message is None:
            return True
        return self._apply_edit(message, {"reply_markup": markup})

    def _answer_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id") or params.get("inline_query_id") or "")
        if query_id not in self._open_queries:
            raise TelegramApiError(400, _QUERY_INVALID)
        self._open_queries.discard(query_id)
        return True

    def _answer_inline_query(self, params: JSON) -> bool:
        results = params.get("results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(results) > 50:
            raise bad_request("RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in results]
        if any(not 1 <= len(i.encode()) <= 64 for i in ids) or not all(
            isinstance(r, dict) and r.get("type") for r in results
        ):
            raise bad_request("RESULT_ID_INVALID")
        if len(set(ids)) != len(ids):
            raise bad_request("RESULT_ID_DUPLICATE")
        return self._answer_query(params)

    def _send_chat_action(self, params: JSON) -> bool:
        self._resolve_chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("command description must be 1-256 characters")
        self._commands[self._commands_key(params)] = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True
