"""Telegram's objects as the fake Bot API server builds them: users, chats, messages, the
entities Telegram finds in a user's text and the ones it reads from the bot's HTML, and the
error answers the Bot API gives.

Telegram-HTML parsing is strict where Telegram is (unknown tags, unclosed tags, bare ``<``), so
markup the real Telegram would refuse fails the tests too; ``parse_html`` also lets tests read
the bot's HTML as a user sees it.
"""

from __future__ import annotations

import copy
import html
import re
import time
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]

DEFAULT_USER_ID = 1001
# Telegram's placeholder senders: every anonymous group admin is @GroupAnonymousBot and every
# "send as channel" post is @Channel_Bot; the real sender is only in ``sender_chat``.
ANONYMOUS_ADMIN_ID = 1087968824
CHANNEL_SENDER_ID = 136817688


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


def bad_request(reason: str) -> TelegramApiError:
    """Telegram's 400 answer, for ``reason``."""
    return TelegramApiError(400, f"Bad Request: {reason}")


# --------------------------------------------------------------------------- text entities


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _parse_error(reason: str) -> TelegramApiError:
    return bad_request(f"can't parse entities: {reason}")


class _Text:
    """Plain text being assembled by a markup parser, tracking the UTF-16 position."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += utf16_len(chunk)

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
        start = utf16_len(text[: match.start()])
        _add_entity(entities, match.lastgroup or "", start, start + utf16_len(match.group()))
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


def formatted_text(params: JSON) -> tuple[str, list[JSON]]:
    """The text and entities Telegram stores for a send/edit; explicit entities win.

    The bot formats with HTML only, so HTML is the one ``parse_mode`` the fake reads; any other
    is refused as Telegram refuses one it does not know, so a bot that switched to Markdown
    would fail its tests instead of having its markup pass through unread.
    """
    text = params.get("text")
    text = "" if text is None else str(text)
    entities = params.get("entities")
    if entities is not None:
        if not isinstance(entities, list):
            raise bad_request("can't parse entities JSON object")
        return text, entities
    parse_mode = params.get("parse_mode")
    if not parse_mode:
        return text, []
    if str(parse_mode).lower() != "html":
        raise bad_request("unsupported parse_mode")
    return parse_html(text)


# --------------------------------------------------------------------------- users, chats, messages


def sender_id(chat_id: int, chat_type: str, user_id: int | None) -> int:
    """Who writes: in a private chat the chat's own user, in a group ``user_id`` or a default."""
    if chat_type == "private":
        if user_id not in (None, chat_id):
            raise ValueError("in a private chat the chat id is the user id")
        return chat_id
    return DEFAULT_USER_ID if user_id is None else user_id


def user(user_id: int, first_name: str, username: str | None) -> JSON:
    """A human Telegram user (``username`` defaults to ``user<id>``)."""
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": first_name,
        "username": username or f"user{user_id}",
        "language_code": "en",
    }


def chat(chat_id: int, chat_type: str, member: JSON, seen: JSON | None) -> JSON:
    """The chat ``member`` writes in: a private chat mirrors its user; a group keeps the chat
    it was first ``seen`` as, unless its type changed."""
    if chat_type == "private":
        fields = {key: member[key] for key in ("first_name", "username")}
    elif seen is None or seen["type"] != chat_type:
        fields = {"title": f"Test {chat_type} {abs(chat_id)}"}
    else:
        return seen
    return {"id": chat_id, "type": chat_type, **fields}


def message(message_id: int, in_chat: JSON, content: JSON) -> JSON:
    """A message sent now in ``in_chat`` (a copy of it), with ``content`` (text, from, ...)."""
    return {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": copy.deepcopy(in_chat),
        **content,
    }


def sticker(file_id: str, emoji: str) -> JSON:
    """A regular static sticker."""
    return {
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


def photo_sizes(file_id: str) -> list[JSON]:
    """One photo in the three sizes Telegram sends."""
    return [
        {
            "file_id": f"{file_id}_{side}",
            "file_unique_id": f"u{file_id}_{side}",
            "width": side,
            "height": side * 3 // 4,
            "file_size": side * 100,
        }
        for side in (90, 320, 1280)
    ]
