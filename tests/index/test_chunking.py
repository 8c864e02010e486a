import datetime as dt
import itertools

from index.build.chunking import ChunkParams, chunk_article
from index.corpus.articles import Article, parse_article
from index.store.chunkfile import chunk_of, line_of
from index.text import thai


def _article(body: str) -> Article:
    return Article("a1", "หัวข้อ", dt.date(2020, 12, 3), ("https://example.org/a",), body)


BODY = (
    "ประโยคแรกว่าด้วยรางวัลรัฐบาลดิจิทัล ประโยคที่สองว่าด้วยกรมพัฒนาธุรกิจการค้า "
    "ประโยคที่สามว่าด้วยพิธีมอบรางวัลที่สโมสรทหารบก ประโยคที่สี่ว่าด้วยนายกรัฐมนตรี\n\n"
    "ย่อหน้าใหม่เรื่องการสำรวจความพร้อมรัฐบาลดิจิทัล"
)


def test_chunks_keep_offsets_and_source():
    article = _article(BODY)
    chunks = chunk_article(article, ChunkParams(max_tokens=8))
    assert len(chunks) > 2
    for chunk in chunks:
        assert article.body[chunk.start : chunk.end] == chunk.text
        assert (chunk.article_id, chunk.url, chunk.date) == ("a1", article.url, "2020-12-03")
        assert chunk.embed_text().startswith("หัวข้อ\n")


def test_windows_stay_within_budget_overlap_and_paragraphs():
    article = _article(BODY)
    params = ChunkParams(max_tokens=20, overlap=1)
    chunks = chunk_article(article, params)
    paragraph_break = BODY.index("\n\n")
    for chunk in chunks:
        assert not (chunk.start < paragraph_break < chunk.end), "a chunk crosses a paragraph"
        sentences = thai.sentence_spans(chunk.text)
        if len(sentences) > 1:
            assert len(thai.tokens(chunk.text)) <= params.max_tokens
    first_para = [c for c in chunks if c.end <= paragraph_break]
    multi = [c for c in first_para[:-1] if len(thai.sentence_spans(c.text)) > 1]
    assert multi, "the budget should fit two sentences somewhere"
    for left, right in itertools.pairwise(first_para):
        if left in multi:
            assert right.start < left.end, "consecutive windows should share a sentence"


def test_overlong_sentence_is_cut():
    article = _article("ก" * 3000)
    chunks = chunk_article(article, ChunkParams(max_chars=1000))
    assert [len(c.text) for c in chunks] == [1000, 1000, 1000]


def test_a_chunk_carries_the_sources_of_its_own_paragraph():
    text = """---
id: a2
title: หัวข้อ
date: 2019-10-30
updated: 2025-11-17
sources:
  - https://example.org/2019
  - https://example.org/2025
---
งานปี 2562 จัดที่ทำเนียบรัฐบาล [1]

งานปี 2568 จัดวันที่ 17 พฤศจิกายน 2568 [2]
"""
    first, second = chunk_article(parse_article(text))
    assert (first.url, first.sources, first.more_sources) == (
        "https://example.org/2019",
        ("https://example.org/2019",),
        ("https://example.org/2025",),
    )
    assert (second.url, second.more_sources) == (
        "https://example.org/2025",
        ("https://example.org/2019",),
    )
    assert first.updated == "2025-11-17" and first.date == "2019-10-30"
    assert chunk_of(line_of(second)) == second
