"""Synthetic articles and index folders for engine tests that need no corpus or model.

Also imported by the scripts that tests run in a subprocess (and then SIGKILL), so it stays
free of pytest.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from index.corpus.articles import Article
from index.store.chunkfile import Chunk
from index.store.folder import ArticleLevel, Manifest, write_index
from index.store.lexical import Lexical

TOPICS = ("รางวัลรัฐบาลดิจิทัล", "ระบบบริการออนไลน์", "ข้อมูลเปิดภาครัฐ", "ใบอนุญาตอิเล็กทรอนิกส์")


def synthetic_article(n: int) -> Article:
    """A small article of distinct sentences (every chunk text differs from every other)."""
    topic = TOPICS[n % len(TOPICS)]
    paragraphs = [f"หน่วยงานที่ {n} ได้รับ{topic} ครั้งที่ {n * 10 + p} จากผลงานด้านที่ {p}" for p in range(3)]
    return Article(
        f"synthetic-{n}",
        f"ข่าวที่ {n} เรื่อง{topic}",
        dt.date(2020, 1, 1 + n % 28),
        (f"https://example.org/news/{n}",),
        "\n\n".join(paragraphs),
    )


def tiny_chunks(n: int) -> list[Chunk]:
    """``n`` one-line chunks ``a0#0``, ``a1#0``, ... of one article each."""
    return [
        Chunk(f"a{i}#0", f"a{i}", "t", "2020-01-01", "https://x.org", f"ข้อความ {i}", 0, 9)
        for i in range(n)
    ]


def write_tiny_index(
    folder: Path, n: int = 3, dim: int = 4, model: str = "m1"
) -> tuple[Path, np.ndarray]:
    """Write an ``n``-chunk index of random unit vectors to ``folder``; (its path, the vectors)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    manifest = Manifest(model, dim, {"max_tokens": 64}, "h", {f"a{i}": "f" for i in range(n)}, n)
    lexical = Lexical.build([["ข้อความ", str(i)] for i in range(n)])
    articles = ArticleLevel(vectors.copy(), Lexical.build([["ข้อความ", str(i)] for i in range(n)]))
    return write_index(folder, manifest, tiny_chunks(n), vectors, lexical, articles), vectors
