"""Embeddings saved as they are made, so a build that dies (kill -9, power cut, full disk)
resumes from its last shard instead of from zero.

The work folder sits beside the index (``.<index>-work``): shards of a few hundred vectors, each
with the keys (sha1 of model id + text) of what it holds, written to a temporary file, synced and
renamed, so a shard is either whole or absent. Shards hold vectors, not positions: a resumed build
with an edited corpus still uses every vector whose text is unchanged. A finished build deletes
the folder (the index then holds every vector).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np

from index.atomic import TEMP_SUFFIX, write_atomic

log = logging.getLogger(__name__)
KEY_BYTES = 20


def vector_key(model_id: str, text: str) -> bytes:
    """What an embedding depends on: the model and the exact text embedded."""
    return hashlib.sha1(f"{model_id}\x1f{text}".encode()).digest()


def work_folder(index_dir: Path) -> Path:
    index_dir = Path(index_dir)
    return index_dir.with_name(f".{index_dir.name}-work")


class Checkpoint:
    """The shards of one index's unfinished builds."""

    def __init__(self, index_dir: Path, dim: int):
        self.folder = work_folder(index_dir)
        self.dim = dim

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("emb-*.npz")) if self.folder.is_dir() else []

    def read(self, path: Path) -> tuple[list[bytes], np.ndarray] | None:
        """Keys and vectors of a shard; None (and the file removed) if it is unusable."""
        try:
            with np.load(path) as data:
                keys, vectors = data["keys"], data["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable embedding shard %s (%s)", path, exc)
            path.unlink(missing_ok=True)
            return None
        if (
            vectors.ndim != 2
            or vectors.shape[1] != self.dim
            or keys.shape != (len(vectors), KEY_BYTES)
        ):
            return None  # another model's shard: its keys can never match, leave it be
        return [row.tobytes() for row in keys], vectors

    def write(self, keys: list[bytes], vectors: np.ndarray) -> Path:
        """Store one shard durably; it is visible under its final name only when complete."""
        name = f"emb-{time.time_ns():020d}-{os.getpid()}.npz"
        return write_atomic(
            self.folder / name,
            lambda fh: np.savez(
                fh,
                keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, KEY_BYTES),
                vectors=np.ascontiguousarray(vectors, dtype=np.float32),
            ),
        )

    def remove(self) -> None:
        """Drop the shards (the index now holds their vectors); the folder goes too unless it
        keeps the chunking cache (chunk_cache.py)."""
        for path in [*self.shards(), *self.folder.glob(f".*{TEMP_SUFFIX}")]:
            path.unlink(missing_ok=True)
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            shutil.rmtree(self.folder, ignore_errors=True)
