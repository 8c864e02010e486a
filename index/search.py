"""Hybrid retrieval: e5 cosine from FAISS plus BM25 over Thai words, fused per query."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .chunking import Chunk
from .embedder import Embedder
from .query import understand
from .store import IndexError_, StoredIndex


@dataclass(frozen=True)
class Fusion:
    """``score = dense + weight · bm25 / max bm25`` over the union of both candidate lists.

    ``weight`` is chosen on data (bench/tune_fusion.py); ``candidates`` bounds the work per query.
    """

    weight: float = 0.1
    candidates: int = 50


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused
    dense: float  # cosine similarity
    lexical: float  # BM25 divided by the query's best BM25 (0..1)


@dataclass
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Searcher:
    def __init__(self, index: StoredIndex, embedder: Embedder, fusion: Fusion = Fusion()):
        if index.manifest.model_id != embedder.model_id:
            raise IndexError_(
                f"index at {index.folder} was built with model {index.manifest.model_id!r}, "
                f"but the current model is {embedder.model_id!r}; rebuild it (dgbot index build)"
            )
        self.index, self.embedder, self.fusion = index, embedder, fusion

    def search(self, query: str, k: int = 5, reference_year: int | None = None) -> SearchResult:
        """Top ``k`` chunks; ``reference_year`` resolves "ปีที่แล้ว"-style years in the question."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = round((now - clock) * 1000, 2)
            clock = now

        n = self.index.dense.ntotal
        if n == 0 or not query.strip():
            return SearchResult([], timings)
        understood = understand(query, reference_year)
        lap("understand")
        qvec = self.embedder.encode_queries([understood.dense_text])
        lap("embed")
        depth = min(n, max(self.fusion.candidates, k))
        dense_scores, dense_ids = self.index.dense.search(qvec, depth)
        lap("dense")
        lex = self.index.lexical.scores(list(understood.tokens))
        lap("lexical")
        hits = self._fuse(qvec[0], dense_ids[0], dense_scores[0], lex, depth, k)
        lap("fusion")
        return SearchResult(hits, timings)

    def _fuse(self, qvec, dense_ids, dense_scores, lex, depth, k) -> list[Hit]:
        top_lex = (
            np.argpartition(-lex, depth - 1)[:depth] if depth < len(lex) else np.arange(len(lex))
        )
        ids = np.union1d(dense_ids[dense_ids >= 0], top_lex[lex[top_lex] > 0])
        dense = dict(zip(dense_ids.tolist(), dense_scores.tolist(), strict=True))
        need = np.array([i for i in ids if i not in dense], dtype=np.int64)
        if len(need):
            extra = self.index.dense.reconstruct_batch(need) @ qvec
            dense.update(zip(need.tolist(), extra.tolist(), strict=True))
        lex_max = float(lex.max()) if len(lex) else 0.0
        lex_norm = lex[ids] / lex_max if lex_max > 0 else np.zeros(len(ids))
        dense_arr = np.array([dense[i] for i in ids.tolist()], dtype=np.float32)
        fused = dense_arr + self.fusion.weight * lex_norm
        order = np.argsort(-fused, kind="stable")[:k]
        chunks = self.index.chunks
        return [
            Hit(chunks[ids[o]], float(fused[o]), float(dense_arr[o]), float(lex_norm[o]))
            for o in order
        ]
