"""Property-based fuzz of the bot's rendering: any answer in, valid Telegram HTML within the
message limit out, nothing lost where a long message is cut."""

from __future__ import annotations

import html.parser
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import render
from index import Chunk
from index.search.answer import Answer
from index.search.retrieval import Hit
from tests.support.entities import parse_html
from tests.support.fuzz import any_text, fuzz, tricky_text

ALLOWED_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "blockquote", "tg-spoiler"}
ENTITY = re.compile(r"&(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);")


class _Checker(html.parser.HTMLParser):
    """Only Telegram's tags, properly nested; text may hold no bare ``<``, ``>`` or ``&``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        assert "<" not in data and ">" not in data, data


def assert_valid_telegram_html(markup: str) -> None:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert not checker.stack, f"unclosed {checker.stack}"
    assert "&" not in ENTITY.sub("", re.sub(r"<[^>]*>", "", markup)), "a bare & in the text"
    parse_html(markup)  # and Telegram's own reading of it (the fake fails as Telegram does)
    assert render.utf16_len(markup) <= render.MESSAGE_LIMIT


@st.composite
def answers(draw) -> Answer:
    hits = [
        Hit(
            Chunk(
                f"a{n}#0",
                f"a{n}",
                draw(tricky_text),
                draw(st.sampled_from(["2020-12-03", "2024-02-29", "not a date", "2020-13-01"])),
                draw(st.text(max_size=120)),
                draw(any_text),
                0,
                1,
            ),
            1.0,
            0.5,
            0.5,
        )
        for n in range(draw(st.integers(1, 5)))
    ]
    sentence, passage = draw(tricky_text), draw(any_text)
    return Answer(draw(tricky_text), True, passage, sentence, draw(st.floats(0, 1)), hits)


@fuzz
@given(answers(), st.lists(tricky_text, max_size=3))
def test_every_rendered_message_is_valid_telegram_html_within_the_limit(answer, notes) -> None:
    messages = [
        render.answer_html(answer, notes),
        render.more_html(answer) or "",
        render.not_found_html(answer.question, notes),
    ]
    for markup in filter(None, messages):
        parts = render.split_html(markup)
        assert parts
        for part in parts:
            assert_valid_telegram_html(part)
        joined = "".join(render.plain_text(part) for part in parts)
        assert joined.split() == render.plain_text(markup).split()  # nothing lost in the cut


@fuzz
@given(any_text, st.integers(64, 5000))
def test_split_plain_text_keeps_every_word_within_any_limit(text, limit) -> None:
    markup = render.esc(text)
    parts = render.split_html(markup, limit)
    for part in parts:
        assert render.utf16_len(part) <= limit
        assert_valid_telegram_html(part)
    assert "".join(map(render.plain_text, parts)).split() == text.split()


def test_the_fuzz_helpers_catch_bad_markup() -> None:
    """The checker above must be able to fail, or the properties prove nothing."""
    for bad in ("<b>x", "<div>x</div>", "a & b", "<b><i>x</b></i>", "x < y", "<b>" + "x" * 5000):
        with pytest.raises(AssertionError):
            assert_valid_telegram_html(bad)
    assert_valid_telegram_html('<b>x</b> &amp; <a href="https://x">y</a>')
