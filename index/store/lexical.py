"""BM25 over newmm tokens (bm25s), because bm25s's own regex splitter breaks Thai words."""

from __future__ import annotations

import logging
from pathlib import Path

import bm25s
import numpy as np

logging.getLogger("bm25s").setLevel(logging.WARNING)


class Lexical:
    def __init__(self, bm25: bm25s.BM25):
        self.bm25 = bm25
        self._best = _best_per_word(bm25)

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> Lexical:
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(token_lists, show_progress=False)
        return cls(bm25)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        return cls(bm25s.BM25.load(str(folder), show_progress=False))

    def _known(self, query_tokens: list[str]) -> list[str]:
        vocab = self.bm25.vocab_dict
        return [t for t in dict.fromkeys(query_tokens) if t in vocab]

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 of every document; tokens the index never saw are simply absent."""
        known = self._known(query_tokens)
        if not known:
            return np.zeros(int(self.bm25.scores["num_docs"]), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)

    def attainable(self, query_tokens: list[str]) -> float:
        """The most BM25 these words could earn, each at its best document.

        A word the corpus never uses counts as the rarest possible word that is missing, so a
        question made mostly of unknown words keeps a small lexical share: dividing by this
        instead of by the best actual score keeps a weak match weak.
        """
        vocab = self.bm25.vocab_dict
        words = list(dict.fromkeys(query_tokens))
        unknown = sum(t not in vocab for t in words)
        known = sum(float(self._best[vocab[t]]) for t in words if t in vocab)
        return known + unknown * float(self._best.max(initial=0.0))

    def share(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 of every document as a share (0..1) of what the words could earn."""
        scores = self.scores(query_tokens)
        attainable = self.attainable(query_tokens)
        return scores / attainable if attainable > 0 else np.zeros_like(scores)


def _best_per_word(bm25: bm25s.BM25) -> np.ndarray:
    """Highest score each vocabulary word gives any document (the index is word-major CSC)."""
    data, indptr = bm25.scores["data"], bm25.scores["indptr"]
    best = np.zeros(len(indptr) - 1, dtype=np.float32)
    filled = np.diff(indptr) > 0
    if filled.any():
        best[filled] = np.maximum.reduceat(data, indptr[:-1][filled])
    return best
