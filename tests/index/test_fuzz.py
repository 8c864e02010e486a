"""Property-based fuzz of the pure functions: any text in, a valid result out.

Examples are derandomised (the same inputs on every run, so CI is reproducible) and modest in
number, since the CPUs are shared; raise ``FUZZ_EXAMPLES`` locally for a deeper search.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import render
from index import atomic
from index.atomic import write_atomic
from index.build.chunking import Chunk, ChunkParams, chunk_article
from index.corpus.articles import Article
from index.search.answer import Answer
from index.search.retrieval import Hit
from index.text import thai
from index.text.query import understand
from tests.support.entities import parse_html

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
fuzz = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Thai letters, vowels and tone marks, digits, markup characters, invisible and combining
# characters, emoji with modifiers, RTL text and controls, CJK: what users actually paste.
TRICKY = list(
    "กขคงจฉชซญณดตถทนบปผพฟภมยรลวศษสหอฮะาิีึืุูเแโใไ่้๊๋็์ๆฯ๐๑๒๓ "
    "abcXYZ0129.,!?()*_[]`~<>&\"';/#\n\t\u200b\u200c\u200d\u00ad\ufeff\u0301\u0651"
    "漢字😀👍🏽👨‍👩‍👧\u202e\u200fمرحباשלום\u00a0\u3000"
)
tricky_text = st.text(st.sampled_from(TRICKY), max_size=600) | st.text(max_size=300)
any_text = st.text(st.characters(codec="utf-8"), max_size=5000)
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


@fuzz
@given(tricky_text)
def test_sentence_spans_point_into_the_text_in_order(text) -> None:
    end = 0
    for start, stop in thai.sentence_spans(text):
        assert end <= start < stop <= len(text)
        assert "\n" not in text[start:stop] and text[start:stop].strip()
        end = stop


@fuzz
@given(
    tricky_text.filter(str.strip),
    st.integers(4, 80),
    st.integers(0, 2),
    st.integers(10, 400),
)
def test_chunks_map_back_into_the_article_body(body, max_tokens, overlap, max_chars) -> None:
    article = Article("a", "t", dt.date(2020, 1, 1), ("https://x.example",), body)
    chunks = chunk_article(article, ChunkParams(max_tokens, overlap, max_chars))
    assert chunks or not thai.sentence_spans(body)
    for chunk in chunks:
        assert body[chunk.start : chunk.end] == chunk.text and chunk.text.strip()
    covered = "".join(body[c.start : c.end] for c in chunks)
    assert set("".join(body.split())) <= set(covered)  # no visible character is dropped


@fuzz
@given(tricky_text, st.none() | st.integers(1900, 2100))
def test_query_understanding_never_fails(question, year) -> None:
    query = understand(question, year)
    assert isinstance(query.tokens, tuple) and all(query.tokens)
    assert all(1900 <= int(y) <= 2100 for y in query.years)
    assert thai.normalize(thai.normalize(question)) == thai.normalize(question)


class Crash(OSError):
    pass


def _failing_step(step: str, monkeypatch) -> None:
    """Make one step of the write fail the way a full disk or a dying process does."""
    if step == "write":
        real = os.fdopen

        def half_writer(fd, mode):
            handle = real(fd, mode)
            original = handle.write

            def write(data):
                original(data[: len(data) // 2])
                raise Crash("no space left")

            handle.write = write
            return handle

        monkeypatch.setattr(atomic.os, "fdopen", half_writer)
    else:

        def fail(*_args):
            raise Crash(f"{step} failed")

        monkeypatch.setattr(atomic.os, step, fail)


@fuzz
@given(
    old=st.binary(max_size=2000),
    new=st.binary(min_size=1, max_size=5000),
    step=st.sampled_from(["write", "fsync", "replace"]),
)
def test_ingest_never_half_writes_a_corpus_file(tmp_path_factory, old, new, step) -> None:
    folder = tmp_path_factory.mktemp("atomic")
    target = folder / "article.md"
    target.write_bytes(old)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _failing_step(step, monkeypatch)
        with pytest.raises(Crash):
            write_atomic(target, lambda fh: fh.write(new))
    assert [p.name for p in folder.iterdir()] == ["article.md"]
    assert target.read_bytes() == old
    write_atomic(target, lambda fh: fh.write(new))
    assert target.read_bytes() == new and [p.name for p in folder.iterdir()] == ["article.md"]


def test_the_fuzz_helpers_catch_bad_markup() -> None:
    """The checker above must be able to fail, or the properties prove nothing."""
    for bad in ("<b>x", "<div>x</div>", "a & b", "<b><i>x</b></i>", "x < y", "<b>" + "x" * 5000):
        with pytest.raises(AssertionError):
            assert_valid_telegram_html(bad)
    assert_valid_telegram_html('<b>x</b> &amp; <a href="https://x">y</a>')
