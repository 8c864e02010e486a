"""How the gold set is scored: keywords as whole numbers, several accepted articles."""

from __future__ import annotations

import json

import pytest

from index.search.evaluate import ItemResult, holds, load_jsonl


@pytest.mark.parametrize(
    ("text", "keyword", "expected"),
    [
        ("มี 5 รางวัล", "5", True),
        ("ในปี 2563 มีรางวัล", "5", False),  # a digit inside a year is not the number 5
        ("รวม 1,500 แห่ง", "500", False),
        ("รวม 1,500 แห่ง", "1,500", True),
        ("DG Awards 2024", "24", False),
        ("ได้อันดับที่ 52 จาก 193", "52", True),
        ("จัดเมื่อ 17 พฤศจิกายน 2568", "17 พฤศจิกายน 2568", True),
        ("สพร. (DGA)", "dga", True),
    ],
)
def test_numbers_match_whole(text, keyword, expected):
    assert holds(text, (keyword,)) is expected


def test_any_accepted_article_counts_and_unanswerable_rows_are_not_ranked(tmp_path):
    rows = [
        {"id": "a", "question": "q", "article_ids": ["x", "y"], "keywords": ["1"], "found": True},
        {"id": "b", "question": "q", "article_ids": ["z"], "found": False, "kind": "known-unknown"},
    ]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    answerable, gap = load_jsonl(path)
    assert (answerable.article_id, answerable.also, gap.kind) == ("x", ("y",), "known-unknown")
    assert ItemResult(answerable, ["w", "y", "x"], None, 1.0).rank == 2
    assert ItemResult(answerable, ["w"], None, 1.0).rank is None
