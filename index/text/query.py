"""Reading a citizen's question: abbreviations and synonyms, Buddhist/Christian-era years.

The expansion rules live in ``data/synonyms.txt`` so staff can extend them without code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from index.text import thai
from index.text.thaidate import BE_OFFSET

_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")
# "ปี 64", "พ.ศ. 66": people drop the "25" of a Buddhist-era year when chatting.
_SHORT_BE = re.compile(r"(?:ปี|พ\.?ศ\.?)\s*(\d{2})(?![\d.,:/])")
# Years named relative to a reference year: a follow-up's article, else the corpus's newest year.
_RELATIVE = {
    "ปีที่แล้ว": -1,
    "ปีก่อน": -1,
    "ปีนี้": 0,
    "ปีหน้า": 1,
    "last year": -1,
    "this year": 0,
    "ล่าสุด": 0,
    "latest": 0,
}
_LATEST = ("ล่าสุด", "latest")  # always the corpus's newest year, whatever came before
# The Thai ones as written in a question ("ปีก่อนหน้านั้น" is one phrase: the year before that).
_THAI_RELATIVE = re.compile(
    "(" + "|".join(p for p in _RELATIVE if p.startswith("ปี")) + ")(?:หน้านั้น|หน้า)?"
)


@dataclass(frozen=True)
class Query:
    text: str  # as the user wrote it
    dense_text: str  # with canonical names and the other era's year appended
    tokens: tuple[str, ...]  # BM25 words, expansions included
    years: frozenset[str] = frozenset()  # Christian-era years the question asks about


@lru_cache(maxsize=1)
def synonym_groups() -> tuple[tuple[str, ...], ...]:
    text = resources.files("index").joinpath("data/synonyms.txt").read_text(encoding="utf-8")
    groups = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            groups.append(tuple(p.strip() for p in line.split("|") if p.strip()))
    return tuple(groups)


@lru_cache(maxsize=8192)
def _alias_key(alias: str) -> re.Pattern | str:
    """What to look for, made once per alias (normalising every alias for every question was
    a third of a question's time)."""
    if alias.isascii():
        return re.compile(rf"(?<![a-z]){re.escape(alias.lower())}(?![a-z])")
    return thai.normalize(alias).lower()


def _contains(haystack: str, alias: str) -> bool:
    """Latin aliases match as whole words (so "PM" is not found in "SPAM"); Thai ones anywhere."""
    key = _alias_key(alias)
    if isinstance(key, str):
        return key in haystack
    return key.search(haystack) is not None


def expansions(question: str) -> list[str]:
    """Canonical names of every group the question mentions but does not spell out."""
    key = thai.normalize(question).lower()
    out = []
    for canonical, *aliases in synonym_groups():
        if not _contains(key, canonical) and any(_contains(key, a) for a in aliases):
            out.append(canonical)
    return out


def year_twins(question: str) -> list[str]:
    """The other era's form of each year written (2563 → 2020, 2020 → 2563)."""
    key = thai.normalize(question).lower()
    twins = []
    for match in _YEAR.finditer(key):
        year = int(match.group(1))
        if 2443 <= year <= 2643:
            twins.append(str(year - BE_OFFSET))
        elif 1900 <= year <= 2100:
            twins.append(str(year + BE_OFFSET))
    return twins


def relative_years(question: str, reference_year: int | None) -> tuple[list[str], list[str]]:
    """Relative years resolved against ``reference_year`` (Christian era), in both eras: those
    that must be about that year ("ปีที่แล้ว"), and those only steered towards it ("ล่าสุด":
    the newest plan or ranking need not be of the newest award year)."""
    if reference_year is None:
        return [], []
    key = thai.normalize(question).lower()
    hard, soft = [], []
    for phrase, delta in _RELATIVE.items():
        if phrase in key:
            ce = reference_year + delta
            (soft if phrase in _LATEST else hard).extend([str(ce + BE_OFFSET), str(ce)])
    return hard, soft


_LATIN = re.compile(r"[A-Za-z]")
_THAI = re.compile(r"[\u0e00-\u0e7f]")


def with_years_written(question: str, reference_year: int | None) -> str:
    """The question with its Thai relative years written out against ``reference_year``
    (Christian era): "ปีที่แล้วงานจัดที่ไหน" → "ปี 2567 งานจัดที่ไหน". For the reader, which learnt
    from questions that name their year and reads "ปีที่แล้ว" as asking when. "ล่าสุด" stays as
    written: the newest plan or ranking need not be of the newest award year."""
    if reference_year is None:
        return question

    def year(match: re.Match) -> str:
        delta = _RELATIVE[match.group(1)]
        return f" ปี {reference_year + delta + BE_OFFSET} "

    written, found = _THAI_RELATIVE.subn(year, question)
    return " ".join(written.split()) if found else question


def written_in_english(question: str) -> bool:
    """Mostly Latin letters (twice as many as Thai): the reader, trained on Thai questions
    only, refuses such questions even over the right passage (BENCHMARKS.md, "Corpus v2")."""
    return len(_LATIN.findall(question)) > 2 * len(_THAI.findall(question))


def _names(question: str, phrases: Iterable[str]) -> bool:
    key = thai.normalize(question).lower()
    return any(phrase in key for phrase in phrases)


def names_relative_year(question: str) -> bool:
    """Whether the question names a year relative to another ("ปีที่แล้ว", "ล่าสุด")."""
    return _names(question, _RELATIVE)


def names_latest(question: str) -> bool:
    """Whether the question asks for the newest ("ครั้งล่าสุด"): never relative to a follow-up."""
    return _names(question, _LATEST)


def years_in(text: str) -> frozenset[str]:
    """Christian-era years written in ``text`` in either era (2563 and 2020 both give 2020)."""
    found = (thai.canonical_year(m.group(1)) for m in _YEAR.finditer(thai.normalize(text)))
    return frozenset(y for y in found if 1900 <= int(y) <= 2100)


def expand_short_years(question: str) -> str:
    """ "ปี 64" → "ปี 2564" (only after ปี/พ.ศ., so "อายุ 64 ปี" stays as written)."""
    return _SHORT_BE.sub(lambda m: m.group(0)[:-2] + "25" + m.group(1), thai.normalize(question))


def understand(question: str, reference_year: int | None = None) -> Query:
    question = expand_short_years(question)
    hard, soft = relative_years(question, reference_year)
    asked = year_twins(question) + hard  # passages must be about these years
    extra = list(dict.fromkeys(expansions(question) + asked + soft))
    dense = f"{question} ({', '.join(extra)})" if extra else question
    tokens = thai.tokens(question) + [t for e in extra for t in thai.tokens(e)]
    return Query(
        question, thai.normalize(dense), tuple(tokens), years_in(f"{question} {' '.join(asked)}")
    )
