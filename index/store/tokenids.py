"""Token lists for BM25 kept as one flat int32 array plus offsets.

Hundreds of thousands of chunks as lists of Python strings cost gigabytes (a string object per
token); as ids they cost 4 bytes a token. bm25s accepts any sized iterable of id lists with a
vocabulary, so documents are handed to it one at a time and never all exist as lists at once.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

from index.store.lexical import Lexical


class _Documents:
    """A sized, re-iterable view of the documents (bm25s walks them three times)."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray):
        self.ids, self.offsets = ids, offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __iter__(self) -> Iterator[list[int]]:
        for start, end in zip(self.offsets[:-1], self.offsets[1:], strict=True):
            yield self.ids[start:end].tolist()


class TokenIds:
    """Append documents' tokens one at a time; build the BM25 index at the end."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._ids = array("i")
        self._offsets = array("q", [0])

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def add(self, tokens: Iterable[str]) -> None:
        vocab = self.vocab
        self._ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
        self._offsets.append(len(self._ids))

    def add_ids(self, ids: np.ndarray) -> None:
        """A document already in this vocabulary's ids."""
        self._ids.frombytes(np.asarray(ids, dtype=np.int32).tobytes())
        self._offsets.append(len(self._ids))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, offsets): document ``n`` is ``ids[offsets[n]:offsets[n + 1]]``."""
        return np.frombuffer(self._ids, dtype=np.int32), np.frombuffer(self._offsets, np.int64)

    def lexical(self) -> Lexical:
        """The same BM25 as ``Lexical.build`` on the token lists (ids are only renamed words)."""
        docs = _Documents(*self.arrays())
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(Tokenized(ids=docs, vocab=dict(self.vocab)), show_progress=False)
        return Lexical(bm25)
