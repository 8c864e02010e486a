"""The gold question sets: the shipped engine (hybrid retrieval + the reader) beside retrieval
alone with the shipped fusion, a dense-only baseline and the grid's choice, on one index in one run.

Each fusion without the reader gets its own "not found" threshold, calibrated on the dev
questions the same way (bench/calibrate.py); the reader's confidence was calibrated on dev too
(bench/calibrate_reader.py). All are scored on the gold questions they never saw: gold v2 (the
default) and gold v1 (tests/data/gold_v1.jsonl) side by side, then v2's shipped-engine results
per kind of question.

    python -m bench.gold [--questions FILE ...] [--reader WEIGHTS]
                         [--calibration BIAS SCORE MARGIN FOUND_AT]

``--reader`` and ``--calibration`` add the shipped engine with another reader (a training run's
weights) and/or another calibration (fitted on dev for that reader) beside the shipped one, on
the same index in the same run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.calibrate import REPO, choose, scores
from bench.reader import trial_reader
from bench.retrieval import GRID_CHOICE
from index.build.builder import build_index, load_articles
from index.model.embedder import load_embedder
from index.model.reader import load_reader
from index.search.answer import Threshold
from index.search.engine import Engine
from index.search.evaluate import load_jsonl, run
from index.search.retrieval import DENSE_ONLY, Fusion, Searcher
from index.settings import Settings
from index.store.folder import open_index

DEV = REPO / "tests/data/dev_questions.jsonl"
GOLD = REPO / "tests/data/gold_questions.jsonl"
GOLD_V1 = REPO / "tests/data/gold_v1.jsonl"
KEYS = (
    "answer_accuracy",
    "out_of_scope_refusal",
    "ece",
    "r@1",
    "mrr@10",
    "latency_p50_ms",
    "latency_p95_ms",
)


def by_kind(report) -> dict[str, dict]:
    """Per kind of question: how many, answered right (in scope) or refused (not)."""
    kinds: dict[str, list] = {}
    for r in report.results:
        kinds.setdefault(r.item.kind or "-", []).append(r)
    out = {}
    for kind, results in sorted(kinds.items()):
        if results[0].item.found is False:
            ok = sum(not r.answer.found for r in results)
            said = sum(r.answer.unknown for r in results)
            out[kind] = {"n": len(results), "refused": ok, "said_not_in_sources": said}
        else:
            out[kind] = {"n": len(results), "right": sum(r.keywords_ok for r in results)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=Path, nargs="+", default=[GOLD, GOLD_V1])
    ap.add_argument("--reader", type=Path, help="another reader's weights, run beside")
    ap.add_argument("--calibration", type=float, nargs=4, metavar=("BIAS", "SCORE", "MARGIN", "AT"))
    args = ap.parse_args()
    settings = Settings.load()
    embedder = load_embedder(settings)
    reader = load_reader(settings.model_dir, settings.cache_dir, settings.threads)
    dev = load_jsonl(DEV)
    sets = {path.name: load_jsonl(path) for path in args.questions}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "idx"
        build_index(load_articles(REPO / "corpus")[0], embedder, folder)
        index = open_index(folder)
        engine = Engine(embedder, Searcher(index, embedder, Fusion()), reader=reader)
        run(engine, dev[:5])  # warm-up
        kinds = {}
        for name, gold in sets.items():
            report = run(engine, gold)
            metrics, kinds[name] = report.metrics(), by_kind(report)
            row = {"set": name, "fusion": "hybrid + reader", "reads": engine.passages}
            print(json.dumps({**row, **{k: metrics[k] for k in KEYS}}), flush=True)
        if args.reader or args.calibration:
            if args.reader:
                reader = trial_reader(args.reader, Path(tmp) / "reader", settings)
            other = Engine(embedder, engine.searcher, reader=reader)
            if args.calibration:
                bias, score, margin, found_at = args.calibration
                other.calibration = replace(
                    engine.calibration, bias=bias, score=score, margin=margin, found_at=found_at
                )
            run(other, dev[:5])  # warm-up
            for name, gold in sets.items():
                metrics = run(other, gold).metrics()
                row = {"set": name, "fusion": "hybrid + reader", "reader": str(args.reader or "")}
                row["calibration"] = args.calibration
                print(json.dumps({**row, **{k: metrics[k] for k in KEYS}}), flush=True)
        fusions = {"hybrid": Fusion(), "dense-only": DENSE_ONLY, "grid-choice": GRID_CHOICE}
        for label, fusion in fusions.items():
            engine = Engine(embedder, Searcher(index, embedder, fusion))
            threshold, _, _ = choose(*scores(engine, dev))
            engine.threshold = Threshold(min_score=threshold)
            run(engine, dev[:5])  # warm-up
            for name, gold in sets.items():
                metrics = run(engine, gold).metrics()
                row = {"set": name, "fusion": label, "threshold": round(threshold, 4)}
                print(json.dumps({**row, **{k: metrics[k] for k in KEYS}}), flush=True)
        for name, table in kinds.items():
            print(json.dumps({"set": name, "per_kind": table}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
