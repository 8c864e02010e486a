"""The reader at each trained depth: short-answer quality on iApp valid and reading time.

For every exit depth of a training run (``reader-L{n}.safetensors``, or the run's latest
checkpoint with ``--checkpoint``) the reader is exported to int8 ONNX as shipped, then:
- reads each iApp valid question beside its own context: exact match, F1 over characters and
  over newmm words of the short answer (the SQuAD measures);
- reads it beside the best-matching paragraph of another valid article (a near miss): the share
  it refuses (no-answer score above its best span);
- reads the dev questions' first four passages from the bundled corpus index: the time one
  question's reading takes on this machine (p50, p95).

    python -m bench.reader --run /work/reader-run [--checkpoint] [--layers 6 8 12] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.datasets import SHARED, require
from index.build.from_settings import open_or_build
from index.checksum import sha256_of
from index.model.reader import Reader, build_reader
from index.model.reader_data import NearMisses, read_rows
from index.search.answer import read_hits
from index.search.engine import Engine
from index.search.evaluate import exact_match, f1_chars, f1_words, load_jsonl
from index.settings import Settings

IAPP_VALID = SHARED / "data/iapp/valid.jsonl.gz"
DEV = Path(__file__).resolve().parents[1] / "tests/data/dev_questions.jsonl"
PASSAGES = 4


def reading_comprehension(reader: Reader, rows, misses: NearMisses) -> dict:
    """SQuAD measures of the best span (every valid question has an answer), the share the
    reader would answer (span above "no answer"), and the share of near misses it refuses."""
    em = f1c = f1w = answered = refused = asked = 0.0
    for row in rows:
        got = reader.read(row.question, [row.context])[0]
        span = row.context[got.start : got.end]
        em += exact_match(span, row.answer)
        f1c += f1_chars(span, row.answer)
        f1w += f1_words(span, row.answer)
        answered += got.margin > 0
        near = misses.for_row(row)
        if near:
            asked += 1
            refused += reader.read(row.question, [near[0]])[0].margin <= 0
    n = len(rows)
    return {
        "em": round(100 * em / n, 2),
        "f1_chars": round(100 * f1c / n, 2),
        "f1_words": round(100 * f1w / n, 2),
        "answered": round(100 * answered / n, 2),
        "near_miss_refused": round(100 * refused / max(asked, 1), 2),
    }


def reading_time(reader: Reader, engine: Engine, questions: list[str]) -> dict:
    times = []
    for question in questions:
        hits = engine.search(question, PASSAGES).hits
        started = time.perf_counter()
        read_hits(reader, question, hits)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "read_p50_ms": round(statistics.median(times), 1),
        "read_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
    }


def trial_reader(shipped: Path, folder: Path, settings: Settings) -> Reader:
    """A reader built from any weights file (a run's, not only the shipped one) into ``folder``."""
    build_reader(shipped, settings.model_dir, folder, sha256_of(shipped))
    return Reader(folder, settings.threads)


def shipped_files(run: Path, layers: list[int], checkpoint: bool, tmp: Path) -> dict[int, Path]:
    if not checkpoint:
        return {n: run / f"reader-L{n}.safetensors" for n in layers}
    from index.model.reader_train import export_exits, load_checkpoint

    settings = Settings.load()
    model, step = load_checkpoint(settings.model_dir, run)
    print(json.dumps({"checkpoint_step": step}), flush=True)
    paths = export_exits(model, tmp)
    return {n: p for n, p in zip(model.exits, paths, strict=True) if n in layers}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--layers", type=int, nargs="+", default=[6, 8, 12])
    ap.add_argument("--checkpoint", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="first N valid questions only")
    args = ap.parse_args()
    settings = Settings.load()
    rows = read_rows(require(IAPP_VALID))
    misses = NearMisses(rows)
    rows = rows[: args.limit] if args.limit else rows
    engine = open_or_build(settings.model_copy(update={"reader_passages": 0}))
    questions = [item.question for item in load_jsonl(DEV)]
    with tempfile.TemporaryDirectory(prefix="dgbot-reader-") as tmp:
        files = shipped_files(args.run, args.layers, args.checkpoint, Path(tmp))
        for layers, shipped in sorted(files.items()):
            reader = trial_reader(shipped, Path(tmp) / f"onnx-{layers}", settings)
            out = {"layers": layers, "questions": len(rows)}
            out |= reading_comprehension(reader, rows, misses)
            out |= reading_time(reader, engine, questions)
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
