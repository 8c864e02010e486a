"""The index directory: FAISS vectors, BM25, chunks and a manifest with checksums.

An index is written whole into a temporary sibling directory and renamed into place, so a crash
never leaves a half index where the bot looks; on open every file is checked against the
manifest, so a truncated or edited file is refused by name instead of answering garbage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import faiss
import numpy as np

from .checksum import sha256_of
from .chunking import Chunk
from .lexical import Lexical

FORMAT = 1
MANIFEST = "manifest.json"
DENSE = "dense.faiss"
CHUNKS = "chunks.jsonl"
LEXICAL = "lexical"
ARTICLE_VECTORS = "articles.npy"
ARTICLE_LEXICAL = "lexical-articles"


class IndexError_(RuntimeError):
    """The index is missing, corrupt, or was built differently from what is asked."""


@dataclass
class Manifest:
    model_id: str
    dim: int
    chunker: dict
    corpus_hash: str
    articles: dict[str, str]  # article id → fingerprint, for incremental rebuilds
    chunk_count: int
    format: int = FORMAT
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    files: dict[str, str] = field(default_factory=dict)  # relative path → sha256
    extra: dict = field(default_factory=dict)


@dataclass
class ArticleLevel:
    """Whole-article signals: a vector and BM25 per article, in ``Manifest.articles`` order."""

    vectors: np.ndarray
    lexical: Lexical


@dataclass
class StoredIndex:
    folder: Path
    manifest: Manifest
    chunks: list[Chunk]
    dense: faiss.Index
    lexical: Lexical
    articles: ArticleLevel

    def __post_init__(self) -> None:
        row = {aid: i for i, aid in enumerate(self.manifest.articles)}
        self.chunk_article = np.array([row[c.article_id] for c in self.chunks], dtype=np.int64)

    def vectors(self) -> np.ndarray:
        """All chunk vectors, in chunk order (for reuse by an incremental rebuild)."""
        if self.dense.ntotal == 0:
            return np.zeros((0, self.manifest.dim), dtype=np.float32)
        return self.dense.reconstruct_n(0, self.dense.ntotal)


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_index(
    target: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: np.ndarray,
    lexical: Lexical,
    articles: ArticleLevel,
) -> Path:
    """Write a complete index next to ``target`` and swap it in with renames."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-", dir=target.parent))
    try:
        dense = faiss.IndexFlatIP(manifest.dim)
        if len(vectors):
            dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(dense, str(work / DENSE))
        with open(work / CHUNKS, "w", encoding="utf-8") as fh:
            for chunk in chunks:
                fh.write(json.dumps(asdict(chunk), ensure_ascii=False) + "\n")
        lexical.save(work / LEXICAL)
        np.save(work / ARTICLE_VECTORS, np.ascontiguousarray(articles.vectors, dtype=np.float32))
        articles.lexical.save(work / ARTICLE_LEXICAL)
        manifest.chunk_count = len(chunks)
        manifest.files = {str(p.relative_to(work)): sha256_of(p) for p in _data_files(work)}
        (work / MANIFEST).write_text(
            json.dumps(asdict(manifest), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        swap_in(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return target


def swap_in(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``; readers never see a partial index."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise IndexError_(f"no index at {folder} (run: dgbot index build)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Manifest(**data)
    except (ValueError, TypeError) as exc:
        raise IndexError_(f"{path}: unreadable manifest ({exc.__class__.__name__})") from exc


def open_index(folder: Path, verify: bool = True) -> StoredIndex:
    """Load an index; with ``verify`` every file must match the manifest's checksum."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest.format != FORMAT:
        raise IndexError_(
            f"{folder}: index format {manifest.format}, expected {FORMAT}; rebuild it"
        )
    if verify:
        for rel, expected in manifest.files.items():
            path = folder / rel
            if not path.is_file():
                raise IndexError_(f"{path}: missing index file; rebuild the index")
            if sha256_of(path) != expected:
                raise IndexError_(f"{path}: checksum mismatch (corrupt or modified); rebuild it")
    try:
        dense = faiss.read_index(str(folder / DENSE))
        with open(folder / CHUNKS, encoding="utf-8") as fh:
            chunks = [Chunk(**json.loads(line)) for line in fh]
        lexical = Lexical.load(folder / LEXICAL)
        article_level = ArticleLevel(
            np.load(folder / ARTICLE_VECTORS), Lexical.load(folder / ARTICLE_LEXICAL)
        )
    except Exception as exc:  # faiss raises RuntimeError, json ValueError, bm25s various
        raise IndexError_(f"{folder}: cannot read index ({exc.__class__.__name__})") from exc
    if (
        dense.ntotal != len(chunks)
        or dense.d != manifest.dim
        or article_level.vectors.shape != (len(manifest.articles), manifest.dim)
        or {c.article_id for c in chunks} - set(manifest.articles)
    ):
        raise IndexError_(f"{folder}: vectors, chunks and articles disagree; rebuild the index")
    return StoredIndex(folder, manifest, chunks, dense, lexical, article_level)
