"""chunks.jsonl read lazily: every chunk as written, whatever its strings hold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.store.chunkfile import Chunk, ChunkFile, ChunkFileError, line_of
from index.store.folder import iter_chunks

# Quotes, backslashes, the separators the reader looks for, Thai, newlines and control bytes.
PIECES = ['"', "\\", ", ", '", "date": "', '", "title": "', "\n", "\x00", "ก", "า", "a", "#", " "]
TRICKY = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


def chunk(article: str, n: int, title: str = "ชื่อ", date: str = "2020-12-03", text: str = "x"):
    return Chunk(f"{article}#{n}", article, title, date, "https://example.org/", text, 0, len(text))


def write(path, chunks) -> None:
    path.write_text("".join(map(line_of, chunks)), encoding="utf-8")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(TRICKY, TRICKY, TRICKY, TRICKY), min_size=1, max_size=6))
def test_every_chunk_reads_back_as_written(tmp_path_factory, fields) -> None:
    path = tmp_path_factory.mktemp("chunks") / "chunks.jsonl"
    articles = sorted({article for article, *_ in fields})
    chunks = [chunk(a, n, t, d, x) for n, (a, t, d, x) in enumerate(fields)]
    write(path, chunks)
    read = ChunkFile(path, {a: i for i, a in enumerate(articles)})
    assert len(read) == len(chunks) and list(read) == list(iter_chunks(path.parent)) == chunks
    assert read.article_rows.tolist() == [articles.index(c.article_id) for c in chunks]
    assert read.dates == tuple(sorted({c.date for c in chunks}))
    assert read[-1] == chunks[-1] and read[1:] == chunks[1:]
    with pytest.raises(IndexError):
        read[len(chunks)]


def test_a_line_that_is_not_a_chunk_is_named(tmp_path) -> None:
    path = tmp_path / "chunks.jsonl"
    path.write_text(line_of(chunk("a", 0)) + '{"id": "a#1", "text": "cut short"}\n', "utf-8")
    with pytest.raises(ChunkFileError, match="line 2 is not a chunk"):
        ChunkFile(path, {"a": 0})


def test_a_chunk_of_an_article_the_index_does_not_list_is_refused(tmp_path) -> None:
    path = tmp_path / "chunks.jsonl"
    write(path, [chunk("a", 0), chunk("b", 0)])
    with pytest.raises(ChunkFileError, match="unknown article 'b'"):
        ChunkFile(path, {"a": 0})


def test_an_empty_file_has_no_chunks(tmp_path) -> None:
    (tmp_path / "chunks.jsonl").write_bytes(b"")
    empty = ChunkFile(tmp_path / "chunks.jsonl", {})
    assert len(empty) == 0 and empty.dates == () and list(empty) == []
