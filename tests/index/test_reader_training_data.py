"""The reader's hand-written training sets stay what their README says: well-formed, their
paragraphs as the corpus stood when they were written, far from every test question, and the
held-out "why"/negation paragraphs never among the trained ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from index.model.reader_data import read_rows

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "bench/data"
SETS = ("reader_domain.jsonl", "reader_shapes.jsonl", "reader_shapes_heldout.jsonl")


@pytest.mark.parametrize("name", SETS)
def test_a_training_set_passes_its_check(name):
    done = subprocess.run(
        [sys.executable, "-m", "bench.check_domain_disjoint", str(DATA / name)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.rstrip().endswith("OK")


def test_the_held_out_paragraphs_were_never_trained_on():
    def paragraphs(name: str) -> set[str]:
        return {row.context for row in read_rows(DATA / name)}

    held_out = paragraphs("reader_shapes_heldout.jsonl")
    assert held_out
    assert not held_out & (paragraphs("reader_shapes.jsonl") | paragraphs("reader_domain.jsonl"))


def test_the_shapes_set_teaches_both_shapes_and_when_to_refuse():
    rows = read_rows(DATA / "reader_shapes.jsonl")
    why = [r for r in rows if "ทำไม" in r.question or "เพราะอะไร" in r.question]
    negated = [r for r in rows if "ไม่ได้" in r.question or "ไม่ใช่" in r.question]
    assert sum(bool(r.answer) for r in why) >= 30
    assert sum(not r.answer for r in why) >= 20  # a why whose paragraph gives no reason
    assert sum(bool(r.answer) for r in negated) >= 15
