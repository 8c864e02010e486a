"""The index directory: atomic writes, checksums, and clear refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.store.folder import IndexLoadError, open_index
from index.store.lexical import Lexical
from tests.support.articles import write_tiny_index


def test_round_trip(tmp_path):
    folder, vectors = write_tiny_index(tmp_path / "idx")
    index = open_index(folder)
    assert [c.id for c in index.chunks] == ["a0#0", "a1#0", "a2#0"]
    assert np.allclose(index.vectors(), vectors)
    assert set(index.manifest.files) >= {"dense.faiss", "chunks.jsonl"}
    assert index.lexical.scores(["1"]).argmax() == 1


def test_rewrite_replaces_whole_index_and_leaves_no_temp_dirs(tmp_path):
    write_tiny_index(tmp_path / "idx", n=3)
    write_tiny_index(tmp_path / "idx", n=5)
    assert len(open_index(tmp_path / "idx").chunks) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


@pytest.mark.parametrize("victim", ["dense.faiss", "chunks.jsonl", "articles.npy"])
def test_corrupt_file_is_refused_by_name(tmp_path, victim):
    folder, _ = write_tiny_index(tmp_path / "idx")
    path = folder / victim
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(IndexLoadError, match=victim):
        open_index(folder)


def test_missing_and_garbled_manifest(tmp_path):
    with pytest.raises(IndexLoadError, match="no index"):
        open_index(tmp_path / "nothing")
    folder, _ = write_tiny_index(tmp_path / "idx")
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(IndexLoadError, match="unreadable manifest"):
        open_index(folder)


def test_failed_write_keeps_the_old_index(tmp_path, monkeypatch):
    folder, _ = write_tiny_index(tmp_path / "idx", n=3)

    def boom(self, where):
        raise OSError("disk full")

    monkeypatch.setattr(Lexical, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        write_tiny_index(tmp_path / "idx", n=5)
    assert len(open_index(folder).chunks) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]
    assert json.loads((folder / "manifest.json").read_text())["chunk_count"] == 3
