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

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 of every chunk; tokens the index never saw are simply absent."""
        vocab = self.bm25.vocab_dict
        known = [t for t in dict.fromkeys(query_tokens) if t in vocab]
        n_docs = int(self.bm25.scores["num_docs"])
        if not known:
            return np.zeros(n_docs, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)
