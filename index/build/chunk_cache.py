"""The chunking of a corpus, kept between builds: chunk spans and BM25 token ids per article.

Cutting 28,555 news articles into sentences and words takes longer than any other step but
embedding, and the result depends only on each article's text and the chunking code. Kept in
the build's work folder, it lets a resumed build skip chunking, and a rebuild after adding 100
articles chunk only those. It is a build cache, not part of the shipped index: deleting it only
costs time. Any change to the chunker, the Thai word code or its word lists invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from importlib import metadata, resources
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from index.atomic import write_atomic
from index.build.chunking import ChunkParams
from index.store.tokenids import TokenIds

log = logging.getLogger(__name__)
FILE = "prepared.npz"
# The code chunks and tokens come from: chunkpool says which text is tokenized, lexical how.
SOURCES = (
    "index.build.chunking",
    "index.store.chunkfile",
    "index.text.thai",
    "index.build.chunkpool",
    "index.store.lexical",
    "index.build.builder",
)


def version(params: ChunkParams) -> str:
    """Everything chunks and tokens depend on besides the article itself."""
    digest = hashlib.sha256(json.dumps(params.as_dict(), sort_keys=True).encode())
    digest.update(metadata.version("pythainlp").encode())
    for module in SOURCES:
        digest.update(Path(find_spec(module).origin).read_bytes())
    data = resources.files("index").joinpath("data")
    for item in sorted(data.iterdir(), key=lambda p: p.name):
        if item.is_file():
            digest.update(item.name.encode() + item.read_bytes())
    return digest.hexdigest()


def _blob(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)


class Prepared:
    """A previous chunking, looked up by article fingerprint."""

    def __init__(self, data: dict[str, np.ndarray], meta: dict):
        self.row = {fp: i for i, fp in enumerate(meta["fingerprints"])}
        self.words: list[str] = meta["vocab"]
        self.article_words: list[str] = meta["article_vocab"]
        counts = data["chunk_counts"]
        self.first_chunk = np.concatenate([[0], np.cumsum(counts)])
        self.spans = data["spans"]
        self.chunk_ids, self.chunk_offsets = data["chunk_ids"], data["chunk_offsets"]
        self.article_ids, self.article_offsets = data["article_ids"], data["article_offsets"]
        self._remap = np.full(len(self.words), -1, dtype=np.int64)
        self._article_remap = np.full(len(self.article_words), -1, dtype=np.int64)

    @classmethod
    def load(cls, folder: Path, expected: str) -> Prepared | None:
        path = Path(folder) / FILE
        if not path.is_file():
            return None
        try:
            with np.load(path) as npz:
                data = {key: npz[key] for key in npz.files}
            meta = json.loads(data.pop("meta").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable chunking cache %s (%s)", path, exc)
            return None
        return cls(data, meta) if meta.get("version") == expected else None

    def spans_of(self, row: int) -> np.ndarray:
        return self.spans[self.first_chunk[row] : self.first_chunk[row + 1]]

    def add_tokens(self, row: int, chunk_tokens: TokenIds, article_tokens: TokenIds) -> None:
        """Append the stored tokens of article ``row`` to this build's token ids."""
        for n in range(self.first_chunk[row], self.first_chunk[row + 1]):
            ids = self.chunk_ids[self.chunk_offsets[n] : self.chunk_offsets[n + 1]]
            chunk_tokens.add_ids(_renamed(ids, self._remap, self.words, chunk_tokens))
        ids = self.article_ids[self.article_offsets[row] : self.article_offsets[row + 1]]
        article_tokens.add_ids(
            _renamed(ids, self._article_remap, self.article_words, article_tokens)
        )


def _renamed(ids: np.ndarray, remap: np.ndarray, words: list[str], into: TokenIds) -> np.ndarray:
    """Old ids as ids of ``into``'s vocabulary (words new to it are added)."""
    unseen = np.unique(ids[remap[ids] < 0])
    for old in unseen.tolist():
        remap[old] = into.vocab.setdefault(words[old], len(into.vocab))
    return remap[ids]


def save(
    folder: Path,
    expected: str,
    fingerprints: list[str],
    chunk_counts: list[int],
    spans: np.ndarray,
    chunk_tokens: TokenIds,
    article_tokens: TokenIds,
) -> None:
    """Write the cache whole or not at all (temporary file, then rename)."""
    folder = Path(folder)
    chunk_ids, chunk_offsets = chunk_tokens.arrays()
    article_ids, article_offsets = article_tokens.arrays()
    meta = {
        "version": expected,
        "fingerprints": fingerprints,
        "vocab": list(chunk_tokens.vocab),
        "article_vocab": list(article_tokens.vocab),
    }
    write_atomic(
        folder / FILE,
        lambda fh: np.savez(
            fh,
            meta=_blob(meta),
            chunk_counts=np.asarray(chunk_counts, dtype=np.int64),
            spans=np.asarray(spans, dtype=np.int64).reshape(-1, 2),
            chunk_ids=chunk_ids,
            chunk_offsets=chunk_offsets,
            article_ids=article_ids,
            article_offsets=article_offsets,
        ),
    )
