"""The int8 ONNX backend: built once into the cache, offline, atomically, and close to fp32."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess

import numpy as np
import pytest

from index.build.builder import build_index
from index.corpus.articles import Article
from index.model.e5 import ModelError
from index.model.embedder import BACKEND_IDS, load_embedder
from index.model.onnx_encoder import ONNX_FILE, SOURCE_FILE, OnnxEncoder, build_onnx, ensure_onnx
from index.search.retrieval import Searcher
from index.settings import Settings, SettingsError
from index.store.folder import IndexLoadError, open_index

SENTENCES = [
    "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563",
    "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน) หรือ สพร. เป็นผู้จัดงานประกาศรางวัลรัฐบาลดิจิทัล",
    "ปีนี้มีหน่วยงานภาครัฐส่งผลงานเข้าประกวดกว่า ๓๐๐ หน่วยงาน ทั้งระดับกรมและระดับจังหวัด",
    "รางวัลเลิศรัฐคืออะไร",
    "Which agency organises the Digital Government Awards?",
    "The ceremony took place at the Army Club on Vibhavadi Road in Bangkok.",
]
# Measured on these sentences: ≥ 0.993 (queries and passages); XQuAD chunks: ≥ 0.987.
MIN_COSINE = 0.98


def test_default_backend_is_int8_onnx_from_the_cache(settings, embedder):
    assert settings.backend == "onnx-int8"
    assert isinstance(embedder.model, OnnxEncoder)
    assert embedder.model_id == BACKEND_IDS["onnx-int8"] != BACKEND_IDS["torch"]
    folder = settings.onnx_dir
    assert (folder / ONNX_FILE).is_file()
    assert (folder / SOURCE_FILE).read_text() == (settings.model_dir / SOURCE_FILE).read_text()


def test_onnx_backend_loads_and_encodes_without_network(settings, embedder, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is not allowed in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = load_embedder(settings)  # the export exists: loads from the cache folder only
    vectors = fresh.encode_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_int8_vectors_agree_with_fp32(embedder, torch_embedder):
    for side in ("encode_queries", "encode_documents"):
        int8 = getattr(embedder, side)(SENTENCES)
        fp32 = getattr(torch_embedder, side)(SENTENCES)
        cosines = np.sum(int8 * fp32, axis=1)
        assert cosines.min() >= MIN_COSINE, (side, cosines)
        # and each sentence is still nearest to itself across the two backends
        assert (np.argmax(int8 @ fp32.T, axis=1) == np.arange(len(SENTENCES))).all()


def test_batching_by_length_keeps_input_order(embedder):
    texts = [SENTENCES[1], "รางวัล", SENTENCES[2] * 3, SENTENCES[0]]
    together = embedder.encode_documents(texts, batch_size=2)  # sorted, batched, put back
    alone = np.vstack([embedder.encode_documents([t]) for t in texts])
    # Dynamic int8 scales activations per batch, so batch-mates move a vector slightly.
    assert np.sum(together * alone, axis=1).min() >= MIN_COSINE
    assert (np.argmax(together @ alone.T, axis=1) == np.arange(len(texts))).all()


def test_backend_setting_parsing():
    assert Settings.load(environ={}, env_file=None).backend == "onnx-int8"
    loaded = Settings.load(environ={"DGBOT_BACKEND": "torch", "DGBOT_THREADS": "1"}, env_file=None)
    assert (loaded.backend, loaded.threads) == ("torch", 1)
    with pytest.raises(SettingsError, match=r"DGBOT_BACKEND='fp16': must be one of onnx-int8"):
        Settings.load(environ={"DGBOT_BACKEND": "fp16"}, env_file=None)
    with pytest.raises(SettingsError, match="DGBOT_THREADS"):
        Settings.load(environ={"DGBOT_THREADS": "-2"}, env_file=None)
    with pytest.raises(SettingsError, match="DGBOT_THREADS"):
        Settings.load(environ={"DGBOT_THREADS": "two"}, env_file=None)


def test_bad_backend_is_one_line_cli_error(env):
    env = {**env, "DGBOT_BACKEND": "ONNX"}
    done = subprocess.run(
        ["dgbot", "ask", "สพร. คืออะไร"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dgbot: error:"), done.stderr
    assert "DGBOT_BACKEND" in lines[0] and "torch" in lines[0]


def _broken_source(settings, folder):
    """A copy of the fp32 folder whose weights file is cut short (a real failure mid-export)."""
    shutil.copytree(settings.model_dir, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    with open(settings.model_dir / "model.safetensors", "rb") as fh:
        (folder / "model.safetensors").write_bytes(fh.read(4096))
    return folder


def test_failed_export_writes_nothing(settings, tmp_path):
    source = _broken_source(settings, tmp_path / "fp32")
    target = tmp_path / "models" / "onnx"
    with pytest.raises(ModelError, match="cannot export"):
        build_onnx(source, target)
    assert not target.exists()
    assert os.listdir(target.parent) == []  # no half-written temporary folder either


def test_stale_export_is_rebuilt_and_a_failed_rebuild_keeps_the_old_one(settings, tmp_path):
    source = _broken_source(settings, tmp_path / "fp32")
    target = tmp_path / "onnx"
    shutil.copytree(settings.onnx_dir, target)
    before = (target / ONNX_FILE).stat()
    assert ensure_onnx(source, target) == target  # same source: used as it is, nothing built
    (target / SOURCE_FILE).write_text("another model\n")
    with pytest.raises(ModelError):
        ensure_onnx(source, target)  # stale: a rebuild is tried, and fails on the broken weights
    after = (target / ONNX_FILE).stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fp32", "onnx"]


def test_index_of_one_backend_is_refused_by_the_other(embedder, torch_embedder, tmp_path):
    articles = [
        Article("a1", "DG Awards 2563", dt.date(2020, 12, 3), ("https://example.org/1",), s)
        for s in SENTENCES[:1]
    ] + [Article("a2", "สพร.", dt.date(2021, 1, 5), ("https://example.org/2",), SENTENCES[1])]
    build_index(articles, torch_embedder, tmp_path / "idx")
    with pytest.raises(IndexLoadError, match="rebuild"):
        Searcher(open_index(tmp_path / "idx"), embedder)
    build_index(articles, embedder, tmp_path / "idx")  # rebuilt with int8: accepted
    assert Searcher(open_index(tmp_path / "idx"), embedder).search(SENTENCES[0]).hits


def test_damaged_export_is_a_model_error_naming_the_cure(settings, tmp_path):
    folder = tmp_path / "onnx"
    shutil.copytree(settings.onnx_dir, folder)
    (folder / ONNX_FILE).write_bytes(b"not a model")
    with pytest.raises(ModelError, match=f"delete {folder} to rebuild"):
        OnnxEncoder(folder)
