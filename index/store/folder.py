"""The index directory: FAISS vectors, BM25, chunks and a manifest with checksums.

An index is written whole into a temporary sibling directory and renamed into place, so a crash
never leaves a half index where the bot looks; on open every file is checked against the
manifest, so a truncated or edited file is refused by name instead of answering garbage. The
vectors go through the ``VectorStore`` interface (vectors.py): the manifest names the backend
and kind that wrote them, so this format does not change when a new backend is added.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from index.checksum import sha256_of
from index.store.chunkfile import Chunk, ChunkFile, chunk_of, line_of
from index.store.lexical import Lexical
from index.store.vectors import FaissStore, StoreSpec, VectorStore, create_store, load_store

FORMAT = 2  # 2: a chunk carries the sources of its own paragraph
MANIFEST = "manifest.json"
DENSE = FaissStore.FILE
CHUNKS = "chunks.jsonl"
LEXICAL = "lexical"
ARTICLE_VECTORS = "articles.npy"
ARTICLE_LEXICAL = "lexical-articles"
REQUIRED = (DENSE, CHUNKS, LEXICAL, ARTICLE_VECTORS, ARTICLE_LEXICAL)  # files or folders
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


class IndexLoadError(RuntimeError):
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
    vectors: dict = field(default_factory=dict)  # StoreSpec: backend and kind; {} = FAISS flat

    @property
    def store_spec(self) -> StoreSpec:
        return StoreSpec.from_dict(self.vectors)


@dataclass
class ArticleLevel:
    """Whole-article signals: a vector and BM25 per article, in ``Manifest.articles`` order."""

    vectors: np.ndarray
    lexical: Lexical


@dataclass
class StoredIndex:
    folder: Path
    manifest: Manifest
    chunks: ChunkFile
    dense: VectorStore
    lexical: Lexical
    articles: ArticleLevel

    @property
    def chunk_article(self) -> np.ndarray:
        """Each chunk's row in the manifest's article order."""
        return self.chunks.article_rows

    def vectors(self) -> np.ndarray:
        """All chunk vectors, in chunk order (for reuse by an incremental rebuild)."""
        return self.dense.reconstruct_n(0, self.dense.ntotal)


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_index(
    target: Path,
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: np.ndarray | VectorStore,
    lexical: Lexical,
    articles: ArticleLevel,
) -> Path:
    """Write a complete index next to ``target`` and swap it in with renames.

    ``vectors`` is a filled store (a large build adds to it block by block, never holding a
    second copy), or an array put into a new store of the kind ``manifest.vectors`` names.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep(target)
    if isinstance(vectors, np.ndarray):
        dense = create_store(manifest.dim, manifest.store_spec)
        dense.add(vectors)
    else:
        dense = vectors
    manifest.vectors = dense.spec.as_dict()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-new-{os.getpid()}-", dir=target.parent))
    try:
        dense.save(work)
        with open(work / CHUNKS, "w", encoding="utf-8") as fh:
            fh.writelines(map(line_of, chunks))
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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2`` with RENAME_EXCHANGE), so there is no
    moment without an index, even if the process is killed; False where it is not supported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def swap_in(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` at ``target``; readers never see a partial index."""
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new, ignore_errors=True)  # it now holds the replaced index
        return
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep(target: Path) -> list[Path]:
    """Remove what a killed build left beside ``target`` (its work and replaced folders), once
    the process that made them is gone; a build still running keeps its folder."""
    left = re.compile(rf"\.{re.escape(target.name)}-(?:new|old)-(\d+)(?:-.*)?")
    removed = []
    for path in target.parent.iterdir() if target.parent.is_dir() else ():
        found = left.fullmatch(path.name)
        if found and path.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def manifest_sha256(folder: Path) -> str:
    """The sha256 of an index's manifest: pin it (``DGBOT_INDEX_SHA256``) and every file's
    checksum is checked against something outside the index."""
    return hashlib.sha256(_manifest_bytes(folder)).hexdigest()


# Where renameat2 is missing, a swap moves the old index aside, then the new one in: a reader
# that comes between the two renames waits for the second, far less than this.
SWAP_WAIT_SECONDS = 5.0


def _manifest_bytes(folder: Path) -> bytes:
    path = Path(folder) / MANIFEST
    deadline = time.monotonic() + SWAP_WAIT_SECONDS
    while not path.is_file() and _swapping(Path(folder)) and time.monotonic() < deadline:
        time.sleep(0.01)
    if not path.is_file():
        raise IndexLoadError(f"no index at {folder} (run: dgbot index build)")
    return path.read_bytes()


def _swapping(target: Path) -> bool:
    """A live process has moved the index at ``target`` aside to put a new one in."""
    aside = re.compile(rf"\.{re.escape(target.name)}-old-(\d+)")
    if not target.parent.is_dir():
        return False
    return any(
        (found := aside.fullmatch(p.name)) and _alive(int(found.group(1)))
        for p in target.parent.iterdir()
    )


def read_manifest(folder: Path, expect_sha256: str = "") -> Manifest:
    """The manifest; with ``expect_sha256`` only if its bytes have exactly that sha256."""
    path = Path(folder) / MANIFEST
    raw = _manifest_bytes(folder)
    if expect_sha256 and hashlib.sha256(raw).hexdigest() != expect_sha256.strip().lower():
        raise IndexLoadError(
            f"{path}: sha256 {hashlib.sha256(raw).hexdigest()} is not the expected "
            f"{expect_sha256.strip()} (DGBOT_INDEX_SHA256): not the index that was pinned"
        )
    try:
        manifest = Manifest(**json.loads(raw.decode("utf-8")))
    except (ValueError, TypeError) as exc:
        raise IndexLoadError(f"{path}: unreadable manifest ({exc.__class__.__name__})") from exc
    outside = [rel for rel in manifest.files if not _inside(rel)]
    if outside:
        raise IndexLoadError(f"{path}: lists a path outside the index folder: {outside[0]!r}")
    return manifest


def _inside(rel: str) -> bool:
    """A manifest path that names a file inside the index folder: relative, no ``..``."""
    parts = PurePosixPath(rel).parts
    return bool(parts) and not rel.startswith(("/", "\\")) and ".." not in parts and ":" not in rel


def check_files(folder: Path, manifest: Manifest, only: tuple[str, ...] = REQUIRED) -> None:
    """Every part in ``only`` is listed and matches its checksum; IndexLoadError names the first
    that does not. A whole check (``only`` = every part) also requires the manifest to list
    exactly the files present: a file it does not vouch for is not part of the index."""
    for name in only:
        if not any(rel == name or rel.startswith(f"{name}/") for rel in manifest.files):
            raise IndexLoadError(f"{folder / name}: not listed in {MANIFEST}; rebuild the index")
    if set(only) >= set(REQUIRED):
        present = {p.relative_to(folder).as_posix() for p in _data_files(Path(folder))}
        unlisted = sorted(present - set(manifest.files))
        if unlisted:
            raise IndexLoadError(
                f"{folder / unlisted[0]}: not listed in {MANIFEST} (a file the index does not "
                "vouch for); rebuild the index or remove it"
            )
    for rel, expected in manifest.files.items():
        if rel.split("/")[0] not in only:
            continue
        path = folder / rel
        if not path.is_file():
            raise IndexLoadError(f"{path}: missing index file; rebuild the index")
        if sha256_of(path) != expected:
            raise IndexLoadError(f"{path}: checksum mismatch (corrupt or modified); rebuild it")


def read_checked_manifest(
    folder: Path, only: tuple[str, ...] = REQUIRED, expect_sha256: str = ""
) -> Manifest:
    """The manifest of a readable index of this format whose parts in ``only`` are intact."""
    folder = Path(folder)
    manifest = read_manifest(folder, expect_sha256)
    if manifest.format != FORMAT:
        raise IndexLoadError(
            f"{folder}: index format {manifest.format}, expected {FORMAT}; rebuild it"
        )
    check_files(folder, manifest, only)
    return manifest


def iter_chunks(folder: Path) -> Iterator[Chunk]:
    """The chunks of an index one at a time (a rebuild needs only their texts, not a list)."""
    with open(Path(folder) / CHUNKS, encoding="utf-8") as fh:
        yield from map(chunk_of, fh)


def open_vectors(folder: Path, manifest: Manifest) -> VectorStore:
    try:
        return load_store(folder, manifest.store_spec)
    except Exception as exc:  # faiss raises RuntimeError, a backend mismatch ValueError
        raise IndexLoadError(f"{folder}: cannot read index ({exc.__class__.__name__})") from exc


def open_index(folder: Path, verify: bool = True, expect_sha256: str = "") -> StoredIndex:
    """Load an index; with ``verify`` every file must match the manifest's checksum (and the
    manifest list exactly the files present) before any of them is parsed, and with
    ``expect_sha256`` the manifest itself must be the pinned one."""
    folder = Path(folder)
    manifest = read_checked_manifest(folder, REQUIRED if verify else (), expect_sha256)
    try:
        rows = {aid: i for i, aid in enumerate(manifest.articles)}
        chunks = ChunkFile(folder / CHUNKS, rows)
        lexical = Lexical.load(folder / LEXICAL)
        article_level = ArticleLevel(
            np.load(folder / ARTICLE_VECTORS), Lexical.load(folder / ARTICLE_LEXICAL)
        )
    except Exception as exc:  # OSError, json's ValueError, ChunkFileError, bm25s various
        raise IndexLoadError(f"{folder}: cannot read index ({exc.__class__.__name__})") from exc
    dense = open_vectors(folder, manifest)
    if (
        dense.ntotal != len(chunks)
        or dense.d != manifest.dim
        or article_level.vectors.shape != (len(manifest.articles), manifest.dim)
    ):
        raise IndexLoadError(f"{folder}: vectors, chunks and articles disagree; rebuild the index")
    return StoredIndex(folder, manifest, chunks, dense, lexical, article_level)
