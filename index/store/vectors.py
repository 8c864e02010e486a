"""Where chunk vectors live and how the nearest ones are found: one small interface, backends
behind it.

The search code needs four things of a vector store: ``ntotal``, ``search`` (top k by inner
product), ``reconstruct_batch`` (a few stored vectors, to score candidates found by BM25 or by
article) and ``reconstruct_n`` (all of them, for reuse by a rebuild). A backend that keeps
vectors elsewhere (a Qdrant or Milvus cluster) is one more subclass registered in
``VECTOR_BACKENDS``; the index directory records which backend wrote it, so reading picks
the same one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index.settings import DEFAULT_EXACT_LIMIT


@dataclass(frozen=True)
class StoreSpec:
    """What the manifest records about the vector store (``Manifest.vectors``)."""

    backend: str = "faiss"
    kind: str = "flat"  # flat: exact inner product; hnsw: approximate graph search
    hnsw_m: int = 32  # graph neighbours per vector (memory: 2·M ints a vector)
    # e5 vectors are hard for a graph: efConstruction 80 left recall@10 at 0.94–0.98 on real
    # questions; 200 and efSearch 512 give 0.999 (BENCHMARKS.md, "Scale").
    ef_construction: int = 200
    ef_search: int = 512  # candidates kept while searching

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict | None) -> StoreSpec:
        """A manifest written before stores were chosen by size is a FAISS flat index."""
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


def choose(count: int, exact_limit: int = DEFAULT_EXACT_LIMIT) -> StoreSpec:
    """Exact search while it is cheap; a graph index once brute force would cost real time."""
    return StoreSpec(kind="flat" if count <= exact_limit else "hnsw")


class VectorStore(ABC):
    """Unit vectors, searched by inner product (= cosine); ids are insertion order from 0."""

    spec: StoreSpec

    @property
    @abstractmethod
    def ntotal(self) -> int: ...

    @property
    @abstractmethod
    def d(self) -> int: ...

    @classmethod
    @abstractmethod
    def create(cls, dim: int, spec: StoreSpec) -> VectorStore:
        """An empty store for ``dim``-dimensional vectors."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; call repeatedly to add a large set block by block."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each ``(len(queries), k)``, best first; id -1 where fewer exist."""

    @abstractmethod
    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray: ...

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        return self.reconstruct_batch(np.arange(start, start + n, dtype=np.int64))

    @abstractmethod
    def save(self, folder: Path) -> list[Path]:
        """Write into ``folder``; returns the files written (the manifest checksums them)."""

    @classmethod
    @abstractmethod
    def load(cls, folder: Path, spec: StoreSpec) -> VectorStore: ...

    @classmethod
    def rows_on_disk(cls, folder: Path, count: int, dim: int) -> RowReader | None:
        """The stored vectors readable from disk without loading the store (a rebuild copies
        them block by block); None where the backend cannot."""
        return None


class RowReader:
    """Vectors at ``offset`` of a file, read a block at a time: a rebuild never holds the
    previous index's vectors and the new ones in memory together."""

    def __init__(self, path: Path, offset: int, count: int, dim: int):
        self.path, self.offset, self.ntotal, self.d = path, offset, count, dim

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        rows = np.memmap(self.path, np.float32, "r", self.offset, (self.ntotal, self.d))
        try:
            return np.array(rows[np.asarray(ids, dtype=np.int64)])
        finally:
            del rows  # unmapped: its pages stop counting once the block is copied


class FaissStore(VectorStore):
    """In-process FAISS: ``IndexFlatIP`` (exact) or ``IndexHNSWFlat`` (inner product). Both keep
    the full vectors, so reconstruction is exact either way."""

    FILE = "dense.faiss"

    def __init__(self, index: faiss.Index, spec: StoreSpec):
        self.index, self.spec = index, spec

    @classmethod
    def create(cls, dim: int, spec: StoreSpec) -> FaissStore:
        if spec.kind == "flat":
            return cls(faiss.IndexFlatIP(dim), spec)
        if spec.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = spec.ef_construction
            index.hnsw.efSearch = spec.ef_search
            return cls(index, spec)
        raise ValueError(f"unknown FAISS index kind {spec.kind!r}")

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def d(self) -> int:
        return int(self.index.d)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros((0, self.d), dtype=np.float32)
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros((0, self.d), dtype=np.float32)
        return self.index.reconstruct_n(start, n)

    def save(self, folder: Path) -> list[Path]:
        path = Path(folder) / self.FILE
        faiss.write_index(self.index, str(path))
        return [path]

    @classmethod
    def rows_on_disk(cls, folder: Path, count: int, dim: int) -> RowReader | None:
        """Both kinds end their file with the flat vectors (an HNSW index writes its flat
        storage last); checked by reading back unit vectors where they should be."""
        path = Path(folder) / cls.FILE
        offset = path.stat().st_size - count * dim * 4
        if count == 0 or offset <= 0:
            return None
        reader = RowReader(path, offset, count, dim)
        ends = reader.reconstruct_batch(np.array([0, count - 1]))
        return reader if np.allclose(np.linalg.norm(ends, axis=1), 1.0, atol=1e-3) else None

    @classmethod
    def load(cls, folder: Path, spec: StoreSpec) -> FaissStore:
        index = faiss.read_index(str(Path(folder) / cls.FILE))
        kind = "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat"
        if kind != spec.kind:
            raise ValueError(f"{cls.FILE} holds a {kind} index, the manifest says {spec.kind}")
        return cls(index, spec)


VECTOR_BACKENDS: dict[str, type[VectorStore]] = {"faiss": FaissStore}


def _backend(spec: StoreSpec) -> type[VectorStore]:
    try:
        return VECTOR_BACKENDS[spec.backend]
    except KeyError:
        raise ValueError(f"unknown vector store backend {spec.backend!r}") from None


def create_store(dim: int, spec: StoreSpec) -> VectorStore:
    return _backend(spec).create(dim, spec)


def load_store(folder: Path, spec: StoreSpec) -> VectorStore:
    return _backend(spec).load(folder, spec)


def rows_on_disk(folder: Path, spec: StoreSpec, count: int, dim: int) -> RowReader | None:
    return _backend(spec).rows_on_disk(folder, count, dim)
