"""Hybrid retrieval at two granularities: the passage (chunk) and the article it belongs to.

    score(chunk) = dense(chunk) + w · bm25(chunk)/attainable
                 + b · dense(article) + wa · bm25(article)/attainable

Dense scores are e5 cosines. BM25 is divided by what the question's words could earn at best, so
a question sharing only a common word with the corpus gets little lexical credit (translated
questions share many rare words with their passage; citizens' questions often share none). The
article terms let a passage inherit the evidence of its whole article. Weights are chosen on
XQuAD-th and the thaigov FAQ together (bench/tune_fusion.py), never on one alone.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from index.model.embedder import Embedder
from index.store.chunkfile import Chunk
from index.store.folder import IndexLoadError, StoredIndex
from index.text.query import understand, years_in


@dataclass(frozen=True)
class Fusion:
    dense: float = 1.0  # chunk cosine (0 for a lexical-only baseline)
    lexical: float = 0.1  # chunk BM25 / attainable
    article_dense: float = 1.0  # cosine with the mean of the article's chunk vectors
    article_lexical: float = 0.05  # article BM25 / attainable
    candidates: int = 50  # per source: chunk dense, chunk BM25, and the best articles' chunks
    articles: int = 10
    other_year: float = 0.1  # taken off a passage that names none of the years asked about
    passage_lexical: float = 0.25  # within an article, passages are ordered by dense + this · BM25


DENSE_ONLY = Fusion(lexical=0.0, article_dense=0.0, article_lexical=0.0)
LEXICAL_ONLY = Fusion(dense=0.0, article_dense=0.0, article_lexical=0.0, lexical=1.0)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused
    dense: float  # chunk cosine similarity
    lexical: float  # chunk BM25 / attainable (0..1)
    article_dense: float = 0.0  # cosine with the article's mean vector
    article_lexical: float = 0.0  # article BM25 / attainable (0..1)
    year_ok: bool = True  # False: the question names a year this passage does not mention
    span_score: float | None = None  # the reader's best span in this passage (None: not read)
    null_score: float | None = None  # the reader's "no answer here" score


@dataclass
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> Hit | None:
        """The highest fused chunk: it decides whether there is an answer at all (hits[0] is
        the best passage of the best article, which can score a little lower)."""
        return max(self.hits, key=lambda h: h.score) if self.hits else None


@dataclass
class _ArticleScores:
    """Per-article cosine and BM25 share, and what they add to each of the article's chunks."""

    dense: np.ndarray
    lexical: np.ndarray
    fusion: Fusion

    @property
    def prior(self) -> np.ndarray:
        """What the article adds to each of its chunks' fused score."""
        return self.fusion.article_dense * self.dense + self.fusion.article_lexical * self.lexical


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest positive scores (unordered)."""
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return idx[scores[idx] > 0]


class Searcher:
    def __init__(self, index: StoredIndex, embedder: Embedder, fusion: Fusion = Fusion()):
        if index.manifest.model_id != embedder.model_id:
            raise IndexLoadError(
                f"index at {index.folder} was built with model {index.manifest.model_id!r}, "
                f"but the current model is {embedder.model_id!r}; rebuild it (dgbot index build)"
            )
        self.index, self.embedder, self.fusion = index, embedder, fusion
        order = np.argsort(index.chunk_article, kind="stable")
        bounds = np.searchsorted(
            index.chunk_article[order], np.arange(len(index.manifest.articles) + 1)
        )
        self._article_chunks = [order[a:b] for a, b in itertools.pairwise(bounds)]
        self._year_cache: dict[int, frozenset[str]] = {}

    def search(self, query: str, k: int = 5, reference_year: int | None = None) -> SearchResult:
        """Top ``k`` chunks; ``reference_year`` resolves "ปีที่แล้ว"-style years in the question."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 2)
            clock = now

        if self.index.dense.ntotal == 0 or not query.strip():
            return SearchResult([], timings)
        understood = understand(query, reference_year)
        lap("understand")
        qvec = self.embedder.encode_queries([understood.dense_text])[0]
        lap("embed")
        depth = min(self.index.dense.ntotal, max(self.fusion.candidates, k))
        dense_scores, dense_ids = self.index.dense.search(qvec[None, :], depth)
        lap("dense")
        tokens = list(understood.tokens)
        lex = self.index.lexical.share(tokens)
        article = _ArticleScores(
            self.index.articles.vectors @ qvec,
            self.index.articles.lexical.share(tokens),
            self.fusion,
        )
        lap("lexical")
        hits = self._fuse(
            qvec, dense_ids[0], dense_scores[0], lex, article, depth, k, understood.years
        )
        lap("fusion")
        return SearchResult(hits, timings)

    @staticmethod
    def _order(fused: np.ndarray, passage: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Articles by their best fused chunk; within an article, chunks by passage score.

        Which article answers is a whole-text question (tuned on XQuAD and the FAQ); which of
        its passages answers is a wording question, where shared words weigh more.
        """
        best = np.full(rows.max() + 1, -np.inf)
        np.maximum.at(best, rows, fused)
        return np.lexsort((-passage, -best[rows]))

    def _candidates(self, dense_ids, lex, prior, depth) -> np.ndarray:
        best_articles = np.argsort(-prior, kind="stable")[: self.fusion.articles]
        pools = [dense_ids[dense_ids >= 0], _top(lex, depth)]
        pools += [self._article_chunks[a] for a in best_articles]
        return np.unique(np.concatenate(pools))

    def _years(self, i: int) -> frozenset[str]:
        """Years a chunk speaks of: in its title or text, or the year it is dated."""
        if i not in self._year_cache:
            chunk = self.index.chunks[i]
            self._year_cache[i] = years_in(f"{chunk.title} {chunk.text}") | {chunk.date[:4]}
        return self._year_cache[i]

    def _fuse(self, qvec, dense_ids, dense_scores, lex, article, depth, k, years) -> list[Hit]:
        prior = article.prior
        ids = self._candidates(dense_ids, lex, prior, depth)
        known = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
        missing = np.array([i for i in ids.tolist() if i not in known], dtype=np.int64)
        if len(missing):
            extra = self.index.dense.reconstruct_batch(missing) @ qvec
            known.update(zip(missing.tolist(), extra.tolist(), strict=True))
        dense = np.array([known[i] for i in ids.tolist()], dtype=np.float32)
        rows = self.index.chunk_article[ids]
        year_ok = np.array([not years or bool(years & self._years(i)) for i in ids.tolist()])
        fused = self.fusion.dense * dense + self.fusion.lexical * lex[ids] + prior[rows]
        fused -= self.fusion.other_year * ~year_ok
        order = self._order(fused, dense + self.fusion.passage_lexical * lex[ids], rows)[:k]
        chunks = self.index.chunks
        return [
            Hit(
                chunks[ids[o]],
                float(fused[o]),
                float(dense[o]),
                float(lex[ids[o]]),
                float(article.dense[rows[o]]),
                float(article.lexical[rows[o]]),
                bool(year_ok[o]),
            )
            for o in order
        ]
