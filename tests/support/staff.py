"""The staff chat of the end-to-end tests: who is staff, and how staff talk to the bot."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.entities import JSON
from tests.support.live_bot import WAIT
from tests.support.users import FakeTelegram

STAFF_CHAT = -1007770001
STAFF, OUTSIDER = 501, 502
CITIZEN = 4242
GOLD_IDS = {"g001", "g002", "g004", "g006", "g008", "g103", "g105"}


def staff_says(tg: FakeTelegram, command: str, args: str = "", user: int = STAFF) -> None:
    tg.send_command(STAFF_CHAT, command, args, chat_type="supergroup", user_id=user)


def staff_reply(tg: FakeTelegram, predicate: Callable[[JSON], bool] | None = None) -> JSON:
    return tg.wait_for_message(STAFF_CHAT, predicate, timeout=WAIT)


def starts(prefix: str) -> Callable[[JSON], bool]:
    return lambda message: message["text"].startswith(prefix)
