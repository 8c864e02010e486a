"""Chunks and article vectors of a corpus held in memory, for benchmarks that study chunking and
fusion without building an index folder."""

from __future__ import annotations

import numpy as np

from index.build.builder import unit_rows
from index.build.chunking import ChunkParams, chunk_article
from index.corpus.articles import Article
from index.store.chunkfile import Chunk


def build_chunks(articles: list[Article], params: ChunkParams) -> list[Chunk]:
    return [chunk for article in articles for chunk in chunk_article(article, params)]


def article_vectors(chunks: list[Chunk], vectors: np.ndarray, article_ids: list[str]) -> np.ndarray:
    """An article's vector is the normalised mean of its chunks' vectors, as an index build
    makes it."""
    row = {aid: i for i, aid in enumerate(article_ids)}
    out = np.zeros((len(article_ids), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.array([row[c.article_id] for c in chunks], dtype=np.int64), vectors)
    return unit_rows(out)
