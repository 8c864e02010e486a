"""Readers side by side on the held-out "why" and negation questions.

``bench/data/reader_shapes_heldout.jsonl`` holds whole paragraphs of the shapes set that training
never saw (``reader_shapes.jsonl`` is the rest). Each reader given (a weights file; the shipped
one by default) is exported to int8 ONNX as shipped and reads every held-out question beside its
paragraph. Per question shape: exact match and F1 over characters of the short answer on the
answerable questions, the share of those it answers at all, and the share of the unanswerable
ones (a "why" whose paragraph gives no reason, a negation whose paragraph names only one side) it
refuses. One run, one machine, so the readers compare directly.

    python -m bench.reader_shapes [WEIGHTS …]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.reader import trial_reader
from index.model.reader import shipped_path
from index.model.reader_data import read_rows
from index.search.evaluate import exact_match, f1_chars
from index.settings import Settings

HELD_OUT = Path(__file__).resolve().parent / "data/reader_shapes_heldout.jsonl"
WHY = re.compile("ทำไม|ทำมัย|เพราะอะไร|เพราะเหตุใด|เหตุใด|สาเหตุ|เหตุผล")
# Negation, but not the yes/no particle "หรือไม่" nor "ไม่ว่า" (whatever).
NEGATION = re.compile(r"(?<!หรือ)ไม่(?!ว่า)|ยกเว้น")


def shape(question: str) -> str:
    if WHY.search(question):
        return "why"
    return "negation" if NEGATION.search(question) else "plain"


def score(reader, rows) -> dict[str, dict]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        got = reader.read(row.question, [row.context])[0]
        s = sums[shape(row.question)]
        if row.answer:
            span = row.context[got.start : got.end] if got.margin > 0 else ""
            s["answerable"] += 1
            s["em"] += exact_match(span, row.answer)
            s["f1"] += f1_chars(span, row.answer)
            s["answered"] += got.margin > 0
        else:
            s["unanswerable"] += 1
            s["refused"] += got.margin <= 0
    out = {}
    for name, s in sorted(sums.items()):
        n, u = max(s["answerable"], 1), max(s["unanswerable"], 1)
        out[name] = {
            "answerable": int(s["answerable"]),
            "em": round(100 * s["em"] / n, 1),
            "f1": round(100 * s["f1"] / n, 1),
            "answered": round(100 * s["answered"] / n, 1),
            "unanswerable": int(s["unanswerable"]),
            "refused": round(100 * s["refused"] / u, 1),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, nargs="*", default=[shipped_path()])
    args = ap.parse_args()
    settings = Settings.load()
    rows = read_rows(HELD_OUT)
    with tempfile.TemporaryDirectory(prefix="dgbot-shapes-") as tmp:
        for n, weights in enumerate(args.weights):
            reader = trial_reader(weights, Path(tmp) / f"onnx-{n}", settings)
            print(json.dumps({"weights": str(weights), **score(reader, rows)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
