"""The benchmark data sets, read from ../shared (never committed): XQuAD-th and the thaigov FAQ."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
from pathlib import Path

from index.corpus.articles import Article
from index.search.evaluate import EvalItem, load_squad

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
XQUAD = SHARED / "data/xquad/xquad.th.json"
FAQ = SHARED / "data/thaigov/faq_qa.jsonl"
NEWS = SHARED / "data/thaigov/news.jsonl.gz"
IAPP_VALID = SHARED / "data/iapp/valid.jsonl.gz"
IAPP_URL = "https://github.com/iapp-technology/iapp-wiki-qa-dataset"


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"{path} not found: benchmarks need ../shared beside the checkout")
    return path


def xquad() -> tuple[list[Article], list[EvalItem]]:
    return load_squad(require(XQUAD))


def iapp_valid() -> tuple[list[Article], list[EvalItem]]:
    """iApp Wiki QA valid: each distinct context an article, each question expecting its own
    context and its annotated short answer."""
    from index.model.reader_data import read_rows

    articles: dict[str, Article] = {}
    items = []
    for row in read_rows(require(IAPP_VALID)):
        if row.context not in articles:
            aid = f"iapp{len(articles):04d}"
            articles[row.context] = Article(
                aid, row.title or aid, dt.date(2000, 1, 1), (IAPP_URL,), row.context
            )
        aid = articles[row.context].id
        items.append(EvalItem(row.question, aid, (row.answer,), id=row.id, answers=(row.answer,)))
    return list(articles.values()), items


def faq(distractors: int = 340, seed: int = 7) -> tuple[list[Article], list[EvalItem]]:
    """The 260 FAQ answers (answer text only) among ``distractors`` other thaigov articles."""
    rows = [json.loads(line) for line in require(FAQ).open(encoding="utf-8")]
    faq_paths = {r["source_path"] for r in rows}
    articles, items = [], []
    for n, row in enumerate(rows):
        aid = f"faq{n:03d}"
        articles.append(
            Article(aid, "ถามให้ชัด รัฐจะเคลียร์", dt.date(2020, 1, 1), (row["url"],), row["answer"])
        )
        items.append(EvalItem(row["question"], aid, id=str(row["id"])))
    others = []
    with gzip.open(require(NEWS), "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["source_path"] not in faq_paths and row["text"].strip():
                others.append(row)
    for row in random.Random(seed).sample(others, distractors):
        lines = [x for x in row["text"].splitlines() if x.strip()]
        body = "\n".join(lines[2:]) or row["text"]
        articles.append(
            Article(
                f"news{row['id']}",
                row["title"] or lines[0],
                dt.date(2020, 1, 1),
                (row["url"],),
                body,
            )
        )
    return articles, items
