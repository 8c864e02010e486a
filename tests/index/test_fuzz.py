"""Property-based fuzz of the engine's pure functions: any text in, a valid result out."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index import atomic
from index.atomic import write_atomic
from index.build.chunking import ChunkParams, chunk_article
from index.corpus.articles import Article
from index.text import thai
from index.text.query import understand
from tests.support.fuzz import fuzz, tricky_text


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
