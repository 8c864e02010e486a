"""Scripted Telegram users for end-to-end tests: ``FakeTelegram`` is the fake Bot API server
(``tests.support.server``) plus the people who use it, who send messages, press buttons, type
inline queries, and wait for what the bot sends back.

The blocking waiters (``wait_for``, ``wait_for_message``) must not be called from the event loop
the bot runs in; use ``await asyncio.to_thread(tg.wait_for_message, ...)`` there.
"""

from __future__ import annotations

import copy
import time

from tests.support import entities
from tests.support.entities import (
    ANONYMOUS_ADMIN_ID,
    CHANNEL_SENDER_ID,
    JSON,
    Predicate,
    auto_entities,
)
from tests.support.server import BotApiServer, CallRecord


class FakeTelegram(BotApiServer):
    """In-process Telegram Bot API and its users; point the bot at it with
    ``base_url=tg.base_url``.

    Use as a context manager or with ``start()``/``stop()``.  User activity is injected with
    ``send_text`` and friends (queued for getUpdates, or POSTed to the bot when
    ``forward_webhook_to`` is set); the bot's requests are read back through ``calls``,
    ``sent_messages`` and the blocking ``wait_for*`` helpers; ``inject_fault`` makes the next
    calls fail the ways the real network and API do.
    """

    # ------------------------------------------------------------------ what users do

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
        sticker = entities.sticker(self._file_id("sticker"), emoji)
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
        content: JSON = {"photo": entities.photo_sizes(self._file_id("photo"))}
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
            sender = entities.sender_id(chat["id"], chat["type"], user_id)
            user = entities.user(sender, first_name, None)
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
                "from": entities.user(user_id, "Forger", None),
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
                "from": entities.user(user_id, first_name, None),
                "query": query,
                "offset": offset,
                "chat_type": chat_type,
            }
        self.push_update({"inline_query": inline})
        return copy.deepcopy(inline)

    # ------------------------------------------------------------------ waiting for the bot

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

    # ------------------------------------------------------------------ helpers (locked)

    def _file_id(self, kind: str) -> str:
        with self._cond:
            self._serial += 1
            return f"fake-{kind}-{self._serial}"

    def _new_query_id(self) -> str:
        self._serial += 1
        query_id = str(4_000_000_000 + self._serial)
        self._open_queries.add(query_id)
        return query_id

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
            sender_id = entities.sender_id(chat_id, chat_type, user_id)
            user = entities.user(sender_id, first_name, username)
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
