"""Follow-up questions are read with the previous question, the way people chat."""

from __future__ import annotations

import pytest

from bot.followup import Conversations
from index.text.followup import merge, subject

DBD = "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563"


@pytest.mark.parametrize(
    ("text", "merged"),
    [
        ("แล้วปี 2564 ล่ะ", "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2564"),
        ("แล้ว พ.ศ. ๒๕๖๔ ล่ะคะ?", "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2564"),
        ("ปี 2021 ล่ะ", "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2021"),
        ("แล้วปีที่แล้วล่ะ", "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปีที่แล้ว"),
        ("ใครเป็นประธาน", "ใครเป็นประธาน กรมพัฒนาธุรกิจการค้า ปี 2563"),
        ("แล้วปี 2564 ใครเป็นประธาน", "ใครเป็นประธาน กรมพัฒนาธุรกิจการค้า ปี 2564"),
        ("จัดที่ไหน", "จัดที่ไหน กรมพัฒนาธุรกิจการค้า ปี 2563"),
    ],
)
def test_short_followups_are_merged(text: str, merged: str) -> None:
    assert merge(DBD, text) == merged


@pytest.mark.parametrize(
    "text",
    [
        "สูตรต้มยำกุ้ง",  # no sign of continuing: a new topic
        "กรมการพัฒนาชุมชนได้รับรางวัลอะไร",  # names its own subject
        "DGA ก่อตั้งเมื่อไร",
        "รางวัลรัฐบาลดิจิทัลคืออะไร",
        "ขอทราบรายชื่อหน่วยงานทั้งหมดที่ได้รับรางวัลในพิธีครั้งล่าสุดพร้อมรายละเอียด",  # long
    ],
)
def test_questions_that_stand_alone_are_not_merged(text: str) -> None:
    assert merge(DBD, text) is None


def test_a_year_is_added_when_the_previous_question_had_none() -> None:
    assert merge("รางวัลรัฐบาลดิจิทัลคืออะไร", "แล้วปี 2564 ล่ะ") == "รางวัลรัฐบาลดิจิทัลคืออะไร ปี 2564"


def test_subject_is_what_comes_before_the_verb() -> None:
    assert subject(DBD) == "กรมพัฒนาธุรกิจการค้า ปี 2563"
    assert subject("รางวัลรัฐบาลดิจิทัลคืออะไร") == "รางวัลรัฐบาลดิจิทัล"
    assert subject("ใครเป็นประธานพิธีปี 2563") == "เป็นประธานพิธีปี 2563"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_conversations_remember_per_chat_for_a_while() -> None:
    clock = Clock()
    chats = Conversations(window=300, clock=clock)
    assert chats.read(1, 9, "แล้วปี 2564 ล่ะ").merged is False
    chats.remember(1, 9, DBD, 2020)
    reading = chats.read(1, 9, "แล้วปี 2564 ล่ะ")
    assert reading.merged and reading.reference_year == 2020
    assert reading.question == "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2564"
    assert chats.read(2, 9, "แล้วปี 2564 ล่ะ").merged is False  # another chat
    assert chats.read(1, 8, "แล้วปี 2564 ล่ะ").merged is False  # another member of the group
    standalone = chats.read(1, 9, "รางวัลรัฐบาลดิจิทัลคืออะไร")
    assert not standalone.merged and standalone.reference_year == 2020  # "ปีที่แล้ว" resolves
    clock.now = 301
    assert chats.read(1, 9, "แล้วปี 2564 ล่ะ").merged is False  # too late
    chats.remember(1, 9, DBD, 2020)
    chats.forget(1, 9)
    assert chats.read(1, 9, "แล้วปี 2564 ล่ะ") == chats.read(3, 9, "แล้วปี 2564 ล่ะ")
    chats.remember(1, 9, DBD, 2020)
    chats.remember(2, 9, DBD, 2020)
    chats.remember(2, 8, DBD, 2020)
    chats.forget_user(9)  # /forget: every chat of that person, no one else's
    assert (
        not chats.read(1, 9, "แล้วปี 2564 ล่ะ").merged and not chats.read(2, 9, "แล้วปี 2564 ล่ะ").merged
    )
    assert chats.read(2, 8, "แล้วปี 2564 ล่ะ").merged
