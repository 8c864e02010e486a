"""The gold question set, shipped engine beside a dense-only baseline and the grid's choice.

Each fusion gets its own "not found" threshold, calibrated on the dev questions the same way
(bench/calibrate.py), then is scored on the gold questions it never saw.

    python -m bench.gold
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.calibrate import REPO, choose, scores
from bench.retrieval import GRID_CHOICE
from index.answer import Threshold
from index.builder import build_index, load_articles
from index.embedder import load_embedder
from index.engine import Engine
from index.evaluate import load_jsonl, run
from index.search import DENSE_ONLY, Fusion, Searcher
from index.settings import Settings
from index.store import open_index

DEV = REPO / "tests/data/dev_questions.jsonl"
GOLD = REPO / "tests/data/gold_questions.jsonl"
KEYS = (
    "answer_accuracy",
    "out_of_scope_refusal",
    "r@1",
    "mrr@10",
    "latency_p50_ms",
    "latency_p95_ms",
)


def main() -> None:
    embedder = load_embedder(Settings.load())
    dev, gold = load_jsonl(DEV), load_jsonl(GOLD)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "idx"
        build_index(load_articles(REPO / "corpus")[0], embedder, folder)
        index = open_index(folder)
        fusions = {"hybrid": Fusion(), "dense-only": DENSE_ONLY, "grid-choice": GRID_CHOICE}
        for label, fusion in fusions.items():
            engine = Engine(embedder, Searcher(index, embedder, fusion))
            threshold, _, _ = choose(*scores(engine, dev))
            engine.threshold = Threshold(min_score=threshold)
            run(engine, gold[:5])  # warm-up
            metrics = run(engine, gold).metrics()
            row = {"fusion": label, "threshold": round(threshold, 4)}
            print(json.dumps({**row, **{k: metrics[k] for k in KEYS}}), flush=True)


if __name__ == "__main__":
    main()
