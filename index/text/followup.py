"""Reading a follow-up: how a short question reads together with the question before it.

People chat: after "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563" they ask "แล้วปี 2564 ล่ะ" or
"ใครเป็นประธาน". Alone those cannot be answered; read with the previous question they can. A
question that stands on its own (long, or naming its own subject) is left as it is.
"""

from __future__ import annotations

import re

from index.text.thaidate import arabic_digits

MAX_FOLLOWUP_CHARS = 40  # longer questions carry their own context

_NUMBER = r"(?<!\d)(?:19\d\d|20\d\d|24\d\d|25\d\d|26[0-4]\d)(?!\d)"  # CE or BE years
_RELATIVE = r"ปีที่แล้ว|ปีก่อนหน้า|ปีก่อน|ปีนี้|ปีหน้า"
_YEAR = re.compile(rf"{_RELATIVE}|(?:ปี\s*)?(?:(?:พ\.ศ\.|ค\.ศ\.)\s*)?({_NUMBER})")
_CUE = re.compile(r"^(?:แล้วก็|แล้ว|ส่วน|และ)\s*")
_PARTICLES = re.compile(r"(?:\s*(?:ล่ะ|หละ|ละ|ครับ|คับ|ค่ะ|คะ|จ้ะ|จ้า|นะ|[?？!]))+$")
_QUESTION_WORDS = re.compile(
    r"อะไร|ใคร|ที่ไหน|เมื่อไหร่|เมื่อไร|อย่างไร|ยังไง|ทำไม|ไหน|ใด|กี่|บ้าง|ไหม|มั้ย|หรือไม่|หรือเปล่า"
)
_PREDICATE = re.compile(r"ได้รับ|ได้|มี|คือ|เป็น|จัด")  # where a question's subject ends
# Words that name who or what a question is about: such a question brings its own subject.
_SUBJECT = re.compile(
    r"กรม|กระทรวง|สำนัก|จังหวัด|เทศบาล|องค์การ|องค์กร|การไฟฟ้า|การประปา|มหาวิทยาลัย|สถาบัน"
    r"|กองทุน|ธนาคาร|โรงพยาบาล|อบต|อบจ|สพร|กสทช|รัฐบาลดิจิทัล|[A-Z]{2,}"
)


def _tidy(text: str) -> str:
    return " ".join(arabic_digits(text).split())


def _year_phrase(text: str) -> str | None:
    """The first year the text names, as it should read inside another question."""
    match = _YEAR.search(text)
    if match is None:
        return None
    return f"ปี {match.group(1)}" if match.group(1) else match.group()


def _with_year(question: str, phrase: str | None) -> str:
    """``question`` about the year ``phrase`` instead of its own (or as well, if it has none)."""
    if phrase is None:
        return question
    replaced, count = _YEAR.subn(phrase, question)
    return replaced if count else f"{question} {phrase}"


def _core(text: str) -> str:
    """What the follow-up asks, without "แล้ว…ล่ะ" and without its year."""
    text = _PARTICLES.sub("", _CUE.sub("", text))
    return _tidy(_YEAR.sub(" ", text))


def subject(question: str) -> str:
    """Who or what ``question`` is about: the words before its verb, with its year.

    "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563" → "กรมพัฒนาธุรกิจการค้า ปี 2563"; a question
    that starts with its verb keeps all its words except the question words.
    """
    head = _QUESTION_WORDS.sub(" ", _PREDICATE.split(question, maxsplit=1)[0])
    if not _YEAR.sub("", head).strip():
        return _tidy(_QUESTION_WORDS.sub(" ", _PARTICLES.sub("", question)))
    year = _year_phrase(question)
    return _tidy(head if year is None or _YEAR.search(head) else f"{head} {year}")


def is_followup(text: str) -> bool:
    """Short, no subject of its own, and shaped like a continuation or a bare question."""
    text = _tidy(text)
    if len(text) > MAX_FOLLOWUP_CHARS or _SUBJECT.search(text):
        return False
    return bool(
        _CUE.match(text)
        or re.search(r"(?:ล่ะ|หละ)\s*[?？]?$", text)
        or _YEAR.search(text)
        or _QUESTION_WORDS.search(text)
    )


def merge(previous: str, text: str) -> str | None:
    """The follow-up ``text`` read together with the ``previous`` question, or None.

    A bare year ("แล้วปี 2564 ล่ะ") swaps the previous question's year; anything else is asked
    about the previous question's subject, in the follow-up's year if it names one.
    """
    text = _tidy(text)
    if not is_followup(text):
        return None
    previous = _with_year(_tidy(previous), _year_phrase(text))
    core = _core(text)
    if not core:
        return previous
    return f"{core} {subject(previous)}"
