"""The reader: its training windows, one training run on a tiny model, and the shipped reader.

The shipped reader is the real trained one (built into the test cache like the embedder); the
training test uses a tiny randomly initialised encoder, since CI never trains the real model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from index.model.e5 import ModelError
from index.model.reader_data import (
    NULL,
    ExampleMaker,
    QARow,
    read_rows,
    token_span,
    window_capacity,
    window_starts,
)


@pytest.fixture(scope="session")
def tokenizer(embedder, settings):
    """The e5 tokenizer of the converted model (the embedder fixture converts it)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(settings.model_dir / "tokenizer.json"))


def _rows(n: int = 12) -> list[QARow]:
    """Small made-up questions, each answer once in its context."""
    rows = []
    for i in range(n):
        context = (
            f"เมืองทดสอบแห่งที่ {i} ตั้งอยู่ริมทะเลสาบใหญ่ มีประชากร {1200 + 37 * i} คน "
            f"และมีแม่น้ำสายหลักชื่อแม่น้ำนทีวงศ์{i} ไหลผ่านกลางเมืองจากเหนือลงใต้ "
            f"ชาวเมืองส่วนใหญ่ทำประมงและปลูกข้าวในฤดูฝน"
        )
        answer = str(1200 + 37 * i)
        rows.append(
            QARow(
                f"q{i}",
                f"a{i}",
                f"เมืองทดสอบแห่งที่ {i} มีประชากรกี่คน",
                context,
                answer,
                context.index(answer),
            )
        )
    return rows


def _write_rows(rows: list[QARow], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            answers = {
                "text": [r.answer] if r.answer else [],
                "answer_start": [r.answer_start] if r.answer else [],
                "answer_end": [r.answer_end] if r.answer else [],
            }
            row = {
                "question_id": r.id,
                "article_id": r.article_id,
                "title": "",
                "context": r.context,
                "question": r.question,
                "answers": answers,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------- windows


def test_windows_cover_every_short_answer():
    """Any span of up to half a window lies whole inside one of the windows."""
    for n in (10, 100, 257, 1000):
        cap = window_capacity(20)
        starts = window_starts(n, cap)
        assert starts[0] == 0 and starts[-1] + cap >= n
        for a in range(0, n - cap // 2):
            b = a + cap // 2 - 1
            assert any(s <= a and b < s + cap for s in starts), (n, a)


def test_token_span_maps_characters_to_tokens():
    offsets = [(0, 3), (3, 7), (8, 12), (12, 15)]
    assert token_span(offsets, 3, 7) == (1, 1)
    assert token_span(offsets, 4, 13) == (1, 3)
    assert token_span(offsets, 20, 25) is None


def test_answerable_window_points_at_the_answer(tokenizer):
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    maker = ExampleMaker(tokenizer, bos, eos, seed=3)
    for row in _rows():
        example = maker.answerable(row)
        assert example is not None and example.kind == "answer"
        assert example.ids[0] == bos and example.ids[-1] == eos
        said = tokenizer.decode(example.ids[example.start : example.end + 1])
        assert said.replace(" ", "") == row.answer


def test_sentence_cut_leaves_no_answer(tokenizer):
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    maker = ExampleMaker(tokenizer, bos, eos, seed=3)
    row = _rows(1)[0]
    example = maker.sentence_cut(row)
    assert example is not None and (example.start, example.end) == (NULL, NULL)
    assert row.answer not in tokenizer.decode(example.ids).replace(" ", "")


def test_read_rows_refuses_a_misplaced_answer(tmp_path):
    row = _rows(1)[0]
    bad = QARow(row.id, row.article_id, row.question, row.context, row.answer, 0)
    with pytest.raises(ValueError, match="not at its offset"):
        read_rows(_write_rows([bad], tmp_path / "bad.jsonl"))


def test_a_row_without_answer_trains_as_unanswerable(tokenizer, tmp_path):
    from index.model.reader_data import build_examples

    row = _rows(1)[0]
    unanswerable = QARow("u1", row.article_id, "แม่น้ำสายนี้ยาวกี่กิโลเมตร", row.context, "", -1)
    path = _write_rows([row, unanswerable], tmp_path / "rows.jsonl")
    rows = read_rows(path)
    assert (rows[1].answer, rows[1].answer_start) == ("", -1)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    examples = build_examples(rows, tokenizer, bos, eos, seed=1, negatives=0.0)
    assert [e.kind for e in examples] == ["answer", "written-unanswerable"]
    assert (examples[1].start, examples[1].end) == (NULL, NULL)


# --------------------------------------------------------------------------- training


@pytest.fixture
def tiny_cache(tokenizer, settings, tmp_path) -> Path:
    """A cache whose "bundled model" is a 2-layer, 32-wide encoder with random weights and the
    real tokenizer: training it takes seconds."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=1,
    )
    cache = tmp_path / "cache"
    folder = settings.model_copy(update={"cache_dir": cache}).model_dir
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    state = BertModel(config, add_pooling_layer=False).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    shutil.copy(settings.model_dir / "tokenizer.json", folder / "tokenizer.json")
    return cache


def _train_command(data: Path, out: Path, steps: int) -> list[str]:
    return [
        *("dgbot", "model", "train-reader", "--data", str(data), "--out", str(out)),
        *("--steps", str(steps), "--batch", "4", "--save-every", "1"),
        *("--lr", "1e-2"),  # large steps, so a resume that lost the optimiser state would show
    ]


def _weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_a_killed_training_run_resumes_exactly(tiny_cache, env, tmp_path):
    """`dgbot model train-reader` killed with SIGKILL and run again ends with the same weights
    as a run that was never stopped."""
    import torch

    env = {**env, "DGBOT_CACHE_DIR": str(tiny_cache), "DGBOT_THREADS": "1"}
    data = _write_rows(_rows(), tmp_path / "train.jsonl")
    steps = 40
    straight = subprocess.run(
        _train_command(data, tmp_path / "straight", steps), env=env, capture_output=True, text=True
    )
    assert straight.returncode == 0, straight.stderr
    assert "reader-L2.safetensors" in straight.stdout
    killed = subprocess.Popen(
        _train_command(data, tmp_path / "resumed", steps), env=env, stderr=subprocess.PIPE
    )
    checkpoint = tmp_path / "resumed" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    killed.kill()
    _, err = killed.communicate()
    assert checkpoint.exists(), err.decode()
    stopped_at = torch.load(checkpoint, weights_only=False)["step"]
    assert 1 <= stopped_at < steps  # killed part-way, after at least one checkpoint
    resumed = subprocess.run(
        _train_command(data, tmp_path / "resumed", steps), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at step {stopped_at}" in resumed.stderr
    a = _weights(tmp_path / "straight" / "reader-L2.safetensors")
    b = _weights(tmp_path / "resumed" / "reader-L2.safetensors")
    assert a.keys() == b.keys() and "head.weight" in a
    assert "bert.embeddings.word_embeddings.weight" not in a  # frozen: never shipped
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-3, err_msg=name)
    start = _starting_weights(tiny_cache)
    moved = [n for n in a if n.startswith("bert.") and not np.allclose(start[n], a[n], atol=1e-3)]
    assert moved  # training changed the encoder


def _starting_weights(cache: Path) -> dict[str, np.ndarray]:
    """The tiny encoder's starting weights, named as the shipped file names them."""
    from safetensors.numpy import load_file

    folder = next((cache / "models").iterdir())
    return {f"bert.{k}": v for k, v in load_file(str(folder / "model.safetensors")).items()}


# --------------------------------------------------------------------------- the shipped reader


@pytest.fixture(scope="session")
def reader(settings, embedder):
    from index.model.reader import load_reader

    return load_reader(settings.model_dir, settings.cache_dir)


PASSAGE = (
    "บ้านสวนลำไยเป็นโรงแรมเล็กในอำเภอฝาง จังหวัดเชียงใหม่ เปิดกิจการเมื่อปี พ.ศ. 2548 "
    "โดยนายประยุทธ ศรีสุข ผู้เป็นเจ้าของคนแรก มีห้องพักทั้งหมด 24 ห้อง"
)


def test_reader_finds_a_planted_answer_with_its_offsets(reader):
    got = reader.read("บ้านสวนลำไยมีห้องพักกี่ห้อง", [PASSAGE])[0]
    span = PASSAGE[got.start : got.end]
    assert got.margin > 0
    assert span.startswith("24") and span == span.strip() and len(span) < 12
    owner = reader.read("ใครเป็นเจ้าของคนแรกของบ้านสวนลำไย", [PASSAGE])[0]
    assert "ประยุทธ" in PASSAGE[owner.start : owner.end]


def test_reader_refuses_an_unrelated_passage(reader):
    cooking = (
        "การทำแกงเขียวหวานเริ่มจากการผัดพริกแกงกับหัวกะทิจนหอม จากนั้นใส่เนื้อไก่ "
        "มะเขือเปราะ และใบโหระพา ปรุงรสด้วยน้ำปลาและน้ำตาลปี๊บ"
    )
    assert reader.read("บ้านสวนลำไยมีห้องพักกี่ห้อง", [cooking])[0].margin < 0


def test_reader_never_answers_from_the_skipped_title(reader):
    title = "บ้านสวนลำไยมีห้องพัก 30 ห้อง\n"
    got = reader.read("บ้านสวนลำไยมีห้องพักกี่ห้อง", [title + PASSAGE], [len(title)])[0]
    assert got.start >= len(title)


def test_damaged_reader_weights_are_one_line_errors(settings, tmp_path):
    from index.model.reader import READER_SHA256, ensure_reader, shipped_path

    damaged = tmp_path / "reader.safetensors"
    data = bytearray(shipped_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    target = tmp_path / "reader-onnx"
    with pytest.raises(ModelError, match="is not the reader this dgbot ships") as info:
        ensure_reader(settings.model_dir, target, damaged, READER_SHA256)
    assert "\n" not in str(info.value)
    assert not target.exists()
    with pytest.raises(ModelError, match="not found"):
        ensure_reader(settings.model_dir, target, tmp_path / "missing.safetensors")


def test_damaged_reader_export_is_a_one_line_error(reader, tmp_path):
    from index.model.reader import Reader

    broken = tmp_path / "broken"
    shutil.copytree(reader.folder, broken)
    (broken / "model.onnx").write_bytes(b"not an onnx graph")
    with pytest.raises(ModelError, match=r"delete .* to rebuild it") as info:
        Reader(broken)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- through the engine


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # The survey article's first paragraph once held the 1,928 target and 319 departments
        # and the reader picked 319; the target now sits in the paragraph on the discrepancy.
        ("ปี 2563 สพร. สำรวจกี่หน่วยงาน", "1,926"),
        # The year-by-year article says it in one sentence; a ceremony list once did not.
        ("งานประกาศรางวัลปี 2568 จัดวันไหน", "17 พฤศจิกายน 2568"),
        ("งาน DG Awards ครั้งล่าสุดจัดเมื่อไหร่", "17 พฤศจิกายน 2568"),
        ("ปี 2563 มีรางวัลรัฐบาลดิจิทัลทั้งหมดกี่รางวัล", "24 รางวัล"),
        ("เว็บไซต์ทางการของ DG Awards คืออะไร", "dgawards.dga.or.th"),
        # A "why" is answered by its reason, not by the number beside it ("378 หน่วยงาน").
        ("ทำไมปี 2566 สำรวจแค่ 378 หน่วยงาน", "ไม่ได้สำรวจหน่วยงานส่วนภูมิภาคทีละแห่ง"),
        # A negated question and its positive twin get opposite sides.
        ("ปีไหนบ้างที่นายกไม่ได้มาเป็นประธานมอบรางวัลเอง", "2566, 2567 และ 2568"),
        ("นายกมาเป็นประธานงานเองปีไหนบ้าง", "2562, 2563, 2564 และ 2565"),
        # The reader is given "ปีที่แล้ว" as the year it means, or it answers when, not where.
        ("ปีที่แล้วงาน DG Awards จัดที่ไหน", "ทำเนียบรัฐบาล"),
    ],
)
def test_short_answers_of_citizens_questions(engine, question, expected):
    answer = engine.answer(question)
    assert answer.found, answer.hits[0].chunk.text if answer.hits else "no hits"
    assert expected in answer.span
    assert answer.sentence[answer.span_start : answer.span_end] == answer.span


def test_an_answer_that_says_this_award_is_shown_with_what_it_leans_on(engine):
    """The README's question: the sentence names "this award" only, so the one before it (or the
    title) is shown too, and the award is named."""
    answer = engine.answer("กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563")
    assert answer.found
    shown = f"{answer.lead} {answer.sentence}"
    assert "รางวัลรัฐบาลดิจิทัล" in shown or "DG Awards" in shown
