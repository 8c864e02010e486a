"""A fake Telegram Bot API server for end-to-end tests of the bot.

The real bot talks HTTP to Telegram; pointing it at this server (``base_url=tg.base_url``) lets a
test drive the unmodified bot - python-telegram-bot client, handlers, polling or webhook loop - on
127.0.0.1, inject what users do and assert what the bot answered.  It is strict where the real
API is strict and bots commonly go wrong (HTML/MarkdownV2 parsing, "message is not modified",
callback data over 64 bytes, answering a query twice, getUpdates while a webhook is set), so
those bugs show up in tests instead of in production.

Only the standard library is used, and every public method is thread-safe: tests may call it
from the test thread while the bot runs in another thread, event loop or process.  The blocking
waiters (``wait_for``, ``wait_for_message``) must not be called from the event loop the bot runs
in; use ``await asyncio.to_thread(tg.wait_for_message, ...)`` there.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import html
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

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]

DEFAULT_TOKEN = "123456789:AAFakeTelegramTokenForEndToEndTests0"
DEFAULT_USER_ID = 1001
# Telegram's placeholder senders: every anonymous group admin is @GroupAnonymousBot and every
# "send as channel" post is @Channel_Bot; the real sender is only in ``sender_chat``.
ANONYMOUS_ADMIN_ID = 1087968824
CHANNEL_SENDER_ID = 136817688
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


class TelegramApiError(Exception):
    """A Telegram error answer; raised by the method implementations, sent as the HTTP reply."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        """The exact JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(reason: str) -> TelegramApiError:
    return TelegramApiError(400, f"Bad Request: {reason}")


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


# --------------------------------------------------------------------------- text entities


def _utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _parse_error(reason: str) -> TelegramApiError:
    return _bad_request(f"can't parse entities: {reason}")


class _Text:
    """Plain text being assembled by a markup parser, tracking the UTF-16 position."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += _utf16_len(chunk)

    def value(self) -> str:
        return "".join(self.parts)


def _add_entity(entities: list[JSON], kind: str, start: int, end: int, **extra: Any) -> None:
    """Telegram drops empty entities, so only non-empty ones are kept."""
    if end > start:
        entities.append({"type": kind, "offset": start, "length": end - start, **extra})


def _sorted(entities: list[JSON]) -> list[JSON]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_AUTO_ENTITY_RE = re.compile(
    r"(?P<url>\bhttps?://[^\s<>\"]+?(?=[.,;:!?)]*(?:\s|$)))"
    r"|(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@]))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{4,32}(?!\w))"
    r"|(?P<hashtag>(?<![\w#])#\w+)"
)


def auto_entities(text: str) -> list[JSON]:
    """The entities Telegram's servers detect in a user's plain text message."""
    entities: list[JSON] = []
    for match in _AUTO_ENTITY_RE.finditer(text):
        start = _utf16_len(text[: match.start()])
        _add_entity(entities, match.lastgroup or "", start, start + _utf16_len(match.group()))
    return entities


_HTML_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_TAG_RE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)"
    r"((?:\s+[A-Za-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>"
)
_HTML_ATTR_RE = re.compile(r"([A-Za-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_HTML_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9A-Fa-f]+);")


def _html_open(
    name: str, attrs: dict[str, str], stack: list[tuple[str, JSON | None, int]]
) -> JSON | None:
    """The entity a start tag opens, or None when it only annotates its parent (pre's code)."""
    kind = _HTML_KINDS[name]
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise _parse_error('Tag "span" must have class "tg-spoiler"')
    if kind == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] is not None:
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][1]["language"] = language.removeprefix("language-")
        return None
    entity: JSON = {"type": kind}
    if kind == "text_link":
        entity["url"] = attrs.get("href", "")
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    elif kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    return entity


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Strip Telegram-HTML markup into plain text and entities, failing like Telegram does."""
    out = _Text()
    entities: list[JSON] = []
    stack: list[tuple[str, JSON | None, int]] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            tag = _HTML_TAG_RE.match(text, i)
            if tag is None:
                raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
            closing, name = tag.group(1), tag.group(2).lower()
            if name not in _HTML_KINDS:
                raise _parse_error(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                )
            if closing:
                if not stack or stack[-1][0] != name:
                    raise _parse_error(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
                _, entity, start = stack.pop()
                if entity is not None:
                    kind = entity.pop("type")
                    _add_entity(entities, kind, start, out.pos, **entity)
            else:
                attrs = {
                    m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                    for m in _HTML_ATTR_RE.finditer(tag.group(3))
                }
                stack.append((name, _html_open(name, attrs, stack), out.pos))
            i = tag.end()
            continue
        entity_ref = _HTML_ENTITY_RE.match(text, i) if char == "&" else None
        if entity_ref:
            out.add(html.unescape(entity_ref.group()))
            i = entity_ref.end()
            continue
        out.add(char)
        i += 1
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.value(), _sorted(entities)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_MARKERS = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}
_ENTITY_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "pre": "Pre",
    "code": "Code",
}


def _unclosed(kind: str, text: str, index: int) -> TelegramApiError:
    return _parse_error(
        f"Can't find end of {_ENTITY_NAMES[kind]} entity at byte offset {_byte_offset(text, index)}"
    )


def _reserved(char: str) -> TelegramApiError:
    return _parse_error(
        f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )


def _split_language(content: str) -> tuple[str, str | None]:
    """A pre block's first line names its language when it is a single word."""
    if "\n" not in content:
        return content, None
    first, rest = content.split("\n", 1)
    if first and not any(c.isspace() for c in first):
        return rest, first
    return (rest, None) if not first else (content, None)


def _mdv2_code(text: str, i: int, out: _Text, entities: list[JSON]) -> int:
    """Parse a `code` or ```pre``` span starting at ``i``; returns the index after it."""
    fence = "```" if text.startswith("```", i) else "`"
    kind = "pre" if fence == "```" else "code"
    raw: list[str] = []
    j = i + len(fence)
    while not text.startswith(fence, j):
        if j >= len(text):
            raise _unclosed(kind, text, i)
        if text[j] == "\\" and j + 1 < len(text):
            j += 1
        raw.append(text[j])
        j += 1
    content, language = "".join(raw), None
    if kind == "pre":
        content, language = _split_language(content)
    start = out.pos
    out.add(content)
    extra = {"language": language} if language else {}
    _add_entity(entities, kind, start, out.pos, **extra)
    return j + len(fence)


def _mdv2_link(
    text: str, i: int, opened: tuple[str, int, int], out: _Text, entities: list[JSON]
) -> int:
    """Close a ``[text](url)`` or ``![emoji](tg://emoji?id=N)`` at the ``]`` at index ``i``."""
    kind, start, source_index = opened
    if not text.startswith("(", i + 1):
        raise _unclosed(kind, text, source_index)
    url: list[str] = []
    j = i + 2
    while j < len(text) and text[j] != ")":
        if text[j] == "\\" and j + 1 < len(text):
            j += 1
        url.append(text[j])
        j += 1
    if j >= len(text):
        raise _parse_error(f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}")
    target = "".join(url)
    if kind == "custom_emoji":
        _add_entity(entities, kind, start, out.pos, custom_emoji_id=target.rpartition("id=")[2])
    else:
        _add_entity(entities, kind, start, out.pos, url=target)
    return j + 1


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Strip MarkdownV2 into plain text and entities, rejecting unescaped reserved characters."""
    out = _Text()
    entities: list[JSON] = []
    stack: list[tuple[str, int, int]] = []  # (marker, start position, index in text)
    quote_start: int | None = None
    at_line_start = True
    i = 0
    while i < len(text):
        char = text[i]
        if at_line_start:
            at_line_start = False
            if char == ">":
                quote_start = out.pos if quote_start is None else quote_start
                i += 1
                continue
            if quote_start is not None:
                _add_entity(entities, "blockquote", quote_start, out.pos - 1)
                quote_start = None
        if char == "\n":
            at_line_start = True
        if char == "\\" and i + 1 < len(text) and 0 < ord(text[i + 1]) < 127:
            out.add(text[i + 1])
            i += 2
        elif char == "`":
            i = _mdv2_code(text, i, out, entities)
        elif char == "[" or text.startswith("![", i):
            kind = "custom_emoji" if char == "!" else "text_link"
            stack.append((kind, out.pos, i))
            i += 2 if char == "!" else 1
        elif char == "]":
            if not stack or stack[-1][0] not in ("text_link", "custom_emoji"):
                raise _reserved(char)
            i = _mdv2_link(text, i, stack.pop(), out, entities)
        elif (marker := text[i : i + 2]) in _MDV2_MARKERS or (marker := char) in _MDV2_MARKERS:
            open_markers = [entry[0] for entry in stack]
            if marker not in open_markers:
                stack.append((marker, out.pos, i))
            elif open_markers[-1] == marker:
                _, start, _ = stack.pop()
                _add_entity(entities, _MDV2_MARKERS[marker], start, out.pos)
            else:
                raise _unclosed(_MDV2_MARKERS.get(stack[-1][0], stack[-1][0]), text, stack[-1][2])
            i += len(marker)
        elif char in _MDV2_RESERVED:
            raise _reserved(char)
        else:
            out.add(char)
            i += 1
    if stack:
        marker, _, index = stack[-1]
        raise _unclosed(_MDV2_MARKERS.get(marker, marker), text, index)
    if quote_start is not None:
        _add_entity(entities, "blockquote", quote_start, out.pos)
    return out.value(), _sorted(entities)


_LEGACY_MARKERS = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Strip legacy Markdown (no nesting, only ``_*`[`` special) into plain text and entities."""
    out = _Text()
    entities: list[JSON] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("_", "*", "`", "["):
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        unclosed = _parse_error(
            f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
        )
        start = out.pos
        if char == "[":
            close = text.find("](", i + 1)
            end = text.find(")", close + 2) if close != -1 else -1
            if end == -1:
                raise unclosed
            out.add(text[i + 1 : close])
            _add_entity(entities, "text_link", start, out.pos, url=text[close + 2 : end])
            i = end + 1
            continue
        fence = "```" if text.startswith("```", i) else char
        end = text.find(fence, i + len(fence))
        if end == -1:
            raise unclosed
        content, language = text[i + len(fence) : end], None
        if fence == "```":
            content, language = _split_language(content)
        out.add(content)
        extra = {"language": language} if language else {}
        _add_entity(entities, _LEGACY_MARKERS[fence], start, out.pos, **extra)
        i = end + len(fence)
    return out.value(), _sorted(entities)


_PARSERS: dict[str, Callable[[str], tuple[str, list[JSON]]]] = {
    "html": parse_html,
    "markdownv2": parse_markdown_v2,
    "markdown": parse_markdown,
}


def _formatted_text(params: JSON) -> tuple[str, list[JSON]]:
    """The text and entities Telegram stores for a send/edit; explicit entities win."""
    text = params.get("text")
    text = "" if text is None else str(text)
    entities = params.get("entities")
    if entities is not None:
        if not isinstance(entities, list):
            raise _bad_request("can't parse entities JSON object")
        return text, entities
    parse_mode = params.get("parse_mode")
    if not parse_mode:
        return text, []
    parser = _PARSERS.get(str(parse_mode).lower())
    if parser is None:
        raise _bad_request("unsupported parse_mode")
    return parser(text)


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
            raise _bad_request("JSON object expected")
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

    def __init__(self, fake: FakeTelegram, host: str) -> None:
        super().__init__((host, 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, lets FakeTelegram answer it and writes Telegram's JSON reply."""

    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, *args: Any) -> None:
        """Keep pytest output clean; tests read ``FakeTelegram.history`` instead."""

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            params = decode_params(url.query, self.headers.get("Content-Type", ""), body)
        except (TelegramApiError, ValueError, UnicodeDecodeError) as exc:
            error = exc if isinstance(exc, TelegramApiError) else _bad_request(str(exc))
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


# --------------------------------------------------------------------------- the fake


class FakeTelegram:
    """In-process Telegram Bot API; point the bot at it with ``base_url=tg.base_url``.

    Use as a context manager or with ``start()``/``stop()``.  User activity is injected with
    ``send_text`` and friends (queued for getUpdates, or POSTed to the bot when
    ``forward_webhook_to`` is set); the bot's requests are read back through ``calls``,
    ``sent_messages`` and the blocking ``wait_for*`` helpers; ``inject_fault`` makes the next
    calls fail the ways the real network and API do.
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

    # ------------------------------------------------------------------ injecting updates

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

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        username: str | None = None,
        reply_to: JSON | None = None,
        entities: list[JSON] | None = None,
        sender_chat: JSON | None = None,
    ) -> JSON:
        """A user sends ``text``; entities default to what Telegram detects (commands, ...).
        ``sender_chat`` posts it as that chat: an anonymous group admin (the group itself) or a
        member writing as their channel; ``from`` is then Telegram's shared placeholder user."""
        content: JSON = {"text": text}
        found = auto_entities(text) if entities is None else entities
        if found:
            content["entities"] = found
        if sender_chat is not None:
            content["sender_chat"] = sender_chat
            user_id = ANONYMOUS_ADMIN_ID if sender_chat["id"] == chat_id else CHANNEL_SENDER_ID
        return self._inject_message(
            chat_id, content, user_id, chat_type, first_name, username, reply_to
        )

    def send_command(
        self,
        chat_id: int,
        command: str,
        args: str = "",
        *,
        addressed: bool = False,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        username: str | None = None,
    ) -> JSON:
        """A user sends ``/command args``; ``addressed`` appends ``@botusername`` like groups do."""
        text = "/" + command.lstrip("/")
        if addressed:
            text += f"@{self._bot_user['username']}"
        return self.send_text(
            chat_id,
            f"{text} {args}" if args else text,
            user_id=user_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
        )

    def mention(
        self,
        chat_id: int,
        text: str = "",
        *,
        user_id: int | None = None,
        chat_type: str = "supergroup",
        first_name: str = "Tester",
        username: str | None = None,
        sender_chat: JSON | None = None,
    ) -> JSON:
        """A group member writes ``@botusername text`` (a mention entity at offset 0)."""
        return self.send_text(
            chat_id,
            f"@{self._bot_user['username']} {text}".rstrip(),
            user_id=user_id,
            chat_type=chat_type,
            first_name=first_name,
            username=username,
            sender_chat=sender_chat,
        )

    def send_sticker(
        self,
        chat_id: int,
        *,
        emoji: str = "👍",
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        username: str | None = None,
    ) -> JSON:
        """A user sends a regular static sticker."""
        file_id = self._file_id("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "set_name": "FakeTelegramStickers",
            "file_size": 20480,
        }
        return self._inject_message(
            chat_id, {"sticker": sticker}, user_id, chat_type, first_name, username, None
        )

    def send_photo(
        self,
        chat_id: int,
        *,
        caption: str | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        username: str | None = None,
    ) -> JSON:
        """A user sends a photo (three sizes, like Telegram), optionally captioned."""
        file_id = self._file_id("photo")
        sizes = [
            {
                "file_id": f"{file_id}_{side}",
                "file_unique_id": f"u{file_id}_{side}",
                "width": side,
                "height": side * 3 // 4,
                "file_size": side * 100,
            }
            for side in (90, 320, 1280)
        ]
        content: JSON = {"photo": sizes}
        if caption:
            content["caption"] = caption
            if found := auto_entities(caption):
                content["caption_entities"] = found
        return self._inject_message(
            chat_id, content, user_id, chat_type, first_name, username, None
        )

    def send_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        username: str | None = None,
    ) -> JSON:
        """A user shares a static location."""
        content = {"location": {"latitude": latitude, "longitude": longitude}}
        return self._inject_message(
            chat_id, content, user_id, chat_type, first_name, username, None
        )

    def edit_text(self, message: JSON, new_text: str) -> JSON:
        """The author of ``message`` edits it; queues an edited_message update."""
        with self._cond:
            key = (message["chat"]["id"], message["message_id"])
            stored = self._messages.get(key, copy.deepcopy(message))
            stored.update(text=new_text, edit_date=max(int(time.time()), stored["date"]))
            stored.pop("entities", None)
            if found := auto_entities(new_text):
                stored["entities"] = found
            self._messages[key] = stored
            edited = copy.deepcopy(stored)
        update_key = (
            "edited_channel_post" if edited["chat"]["type"] == "channel" else "edited_message"
        )
        self.push_update({update_key: edited})
        return edited

    def press_button(
        self, message: JSON, data: str, *, user_id: int | None = None, first_name: str = "Tester"
    ) -> JSON:
        """A user taps the inline button with callback ``data`` on the bot's ``message``.

        The message's current state is used (after the bot's edits); pressing a button it
        does not have fails the test, as no real user could do that.
        """
        with self._cond:
            chat = message["chat"]
            current = self._messages.get((chat["id"], message["message_id"]), message)
            rows = current.get("reply_markup", {}).get("inline_keyboard", [])
            available = [b.get("callback_data") for row in rows for b in row]
            if data not in available:
                raise AssertionError(
                    f"message {message['message_id']} in chat {chat['id']} has no button with "
                    f"callback_data {data!r}; it has {available}"
                )
            query_id = self._new_query_id()
            user = self._user(self._sender_id(chat["id"], chat["type"], user_id), first_name, None)
            query = {
                "id": query_id,
                "from": user,
                "message": copy.deepcopy(current),
                "chat_instance": str(abs(chat["id"]) * 7 + 1),
                "data": data,
            }
        self.push_update({"callback_query": query})
        return copy.deepcopy(query)

    def forge_callback(
        self, chat_id: int | None, data: str, *, user_id: int, chat_type: str = "private"
    ) -> JSON:
        """A modified client sends callback ``data`` no button of the bot carries, on a made-up
        message in ``chat_id`` (None: on an inline message, which names no chat)."""
        with self._cond:
            query: JSON = {
                "id": self._new_query_id(),
                "from": self._user(user_id, "Forger", None),
                "chat_instance": "forged",
                "data": data,
            }
            if chat_id is None:
                query["inline_message_id"] = f"forged-{self._serial}"
            else:
                chat = self._chat_for(chat_id, chat_type, query["from"])
                query["message"] = {
                    "message_id": 9_000_000 + self._serial,
                    "date": int(time.time()),
                    "chat": copy.deepcopy(chat),
                    "from": self._bot_from(),
                    "text": "forged",
                }
        self.push_update({"callback_query": query})
        return copy.deepcopy(query)

    def inline_query(
        self,
        user_id: int,
        query: str,
        *,
        offset: str = "",
        chat_type: str = "sender",
        first_name: str = "Tester",
    ) -> JSON:
        """A user types ``@botusername query`` in some chat."""
        with self._cond:
            inline = {
                "id": self._new_query_id(),
                "from": self._user(user_id, first_name, None),
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
        self.push_update({"inline_query": inline})
        return copy.deepcopy(inline)

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

    def wait_for(
        self, method: str, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> JSON:
        """Block until a completed, delivered call of ``method`` matches; return its params.

        Each call is handed out once, so consecutive waits return consecutive calls; calls made
        before the wait started count too, which makes waiting race-free.
        """

        def accept(record: CallRecord) -> bool:
            return record.method.lower() == method.lower() and (
                predicate is None or predicate(record.params)
            )

        record = self._wait(accept, timeout, f"a {method} call")
        return copy.deepcopy(record.params)

    def wait_for_message(
        self, chat_id: int, predicate: Predicate | None = None, timeout: float = 10.0
    ) -> JSON:
        """Block until the bot successfully sent a matching message to ``chat_id``; return it."""

        def accept(record: CallRecord) -> bool:
            response = record.response or {}
            result = response.get("result")
            return (
                record.method.lower() == "sendmessage"
                and response.get("ok") is True
                and result["chat"]["id"] == chat_id
                and (predicate is None or predicate(result))
            )

        record = self._wait(accept, timeout, f"a message to chat {chat_id}")
        return copy.deepcopy((record.response or {})["result"])

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

    def _file_id(self, kind: str) -> str:
        with self._cond:
            self._serial += 1
            return f"fake-{kind}-{self._serial}"

    def _new_query_id(self) -> str:
        self._serial += 1
        query_id = str(4_000_000_000 + self._serial)
        self._open_queries.add(query_id)
        return query_id

    @staticmethod
    def _sender_id(chat_id: int, chat_type: str, user_id: int | None) -> int:
        if chat_type == "private":
            if user_id not in (None, chat_id):
                raise ValueError("in a private chat the chat id is the user id")
            return chat_id
        return DEFAULT_USER_ID if user_id is None else user_id

    @staticmethod
    def _user(user_id: int, first_name: str, username: str | None) -> JSON:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "username": username or f"user{user_id}",
            "language_code": "en",
        }

    def _chat_for(self, chat_id: int, chat_type: str, user: JSON) -> JSON:
        """A private chat mirrors its user; a group keeps the title it was first seen with."""
        chat = self._chats.get(chat_id)
        if chat_type == "private":
            chat = {key: user[key] for key in ("first_name", "username")}
        elif chat is None or chat["type"] != chat_type:
            chat = {"title": f"Test {chat_type} {abs(chat_id)}"}
        else:
            return chat
        chat = {"id": chat_id, "type": chat_type, **chat}
        self._chats[chat_id] = chat
        return chat

    def _new_message(self, chat: JSON, content: JSON) -> JSON:
        chat_id = chat["id"]
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        message = {
            "message_id": self._last_message_id[chat_id],
            "date": int(time.time()),
            "chat": copy.deepcopy(chat),
            **content,
        }
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _inject_message(
        self,
        chat_id: int,
        content: JSON,
        user_id: int | None,
        chat_type: str,
        first_name: str,
        username: str | None,
        reply_to: JSON | None,
    ) -> JSON:
        with self._cond:
            user = self._user(self._sender_id(chat_id, chat_type, user_id), first_name, username)
            chat = self._chat_for(chat_id, chat_type, user)
            if chat_type == "channel":
                sender: JSON = {"sender_chat": copy.deepcopy(chat)}
            else:
                sender = {"from": user}
            if reply_to is not None:
                replied = copy.deepcopy(reply_to)
                replied.pop("reply_to_message", None)
                content = {**content, "reply_to_message": replied}
            message = copy.deepcopy(self._new_message(chat, {**sender, **content}))
        self.push_update({"channel_post" if chat_type == "channel" else "message": message})
        return message

    def _resolve_chat(self, chat_id: Any) -> JSON:
        """The chat a bot request targets; unknown numeric chats are assumed to exist."""
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username", "").lower() == chat_id[1:].lower():
                    return chat
            raise _bad_request("chat not found")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int):
            raise _bad_request("chat not found")
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
            raise _bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad_request(
                    "can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad_request("BUTTON_DATA_INVALID")
        return copy.deepcopy(markup)

    def _bot_from(self) -> JSON:
        return {key: self._bot_user[key] for key in ("id", "is_bot", "first_name", "username")}

    def _message_text(self, params: JSON) -> tuple[str, list[JSON]]:
        text, entities = _formatted_text(params)
        if not text.strip():
            raise _bad_request("message text is empty")
        if _utf16_len(text) > 4096:
            raise _bad_request("message is too long")
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
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise _bad_request("secret token contains unallowed characters")
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
                raise _bad_request("message to be replied not found")
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
            raise _bad_request("message to edit not found")
        if message.get("from", {}).get("id") != self._bot_user["id"]:
            raise _bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: JSON, changes: JSON) -> JSON:
        """Edits replace the inline keyboard too: no reply_markup in the request removes it."""
        before = {key: message.get(key) for key in ("text", "entities", "reply_markup")}
        after = {**before, **changes}
        if after == before:
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
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
            raise _bad_request("can't parse inline query results JSON object")
        if len(results) > 50:
            raise _bad_request("RESULTS_TOO_MUCH")
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in results]
        if any(not 1 <= len(i.encode()) <= 64 for i in ids) or not all(
            isinstance(r, dict) and r.get("type") for r in results
        ):
            raise _bad_request("RESULT_ID_INVALID")
        if len(set(ids)) != len(ids):
            raise _bad_request("RESULT_ID_DUPLICATE")
        return self._answer_query(params)

    def _send_chat_action(self, params: JSON) -> bool:
        self._resolve_chat(params.get("chat_id"))
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    @staticmethod
    def _commands_key(params: JSON) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("command description must be 1-256 characters")
        self._commands[self._commands_key(params)] = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True
