"""Retrieval benchmark: XQuAD-th and the thaigov FAQ through the project's own chunker and index.

Each data set is indexed once; the shipped hybrid, dense-only and lexical-only fusions are then
run side by side on the same index, so the ratios are measured in one run.

    python -m bench.retrieval [--sets xquad faq] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench import datasets
from index.build.builder import build_index
from index.model.embedder import load_embedder
from index.search.answer import Threshold
from index.search.engine import Engine
from index.search.evaluate import run
from index.search.retrieval import DENSE_ONLY, LEXICAL_ONLY, Fusion, Searcher
from index.settings import Settings
from index.store.folder import open_index

# bench/tune_fusion.py's choice on the int8 backend; not shipped: through the engine it falls
# below dense-only on the FAQ (see BENCHMARKS.md)
GRID_CHOICE = Fusion(lexical=0.05, article_lexical=0.2)
FUSIONS = {
    "hybrid": Fusion(),
    "dense-only": DENSE_ONLY,
    "lexical-only": LEXICAL_ONLY,
    "grid-choice": GRID_CHOICE,
}
KEYS = ("r@1", "r@5", "mrr@10", "latency_p50_ms", "latency_p95_ms")
LOADERS = {"xquad": datasets.xquad, "faq": datasets.faq, "iapp": datasets.iapp_valid}


def bench_set(name: str, embedder, settings: Settings) -> dict[str, dict]:
    articles, items = LOADERS[name]()
    out = {}
    with tempfile.TemporaryDirectory(prefix=f"dgbot-{name}-") as tmp:
        folder = Path(tmp) / "idx"
        build_index(articles, embedder, folder)
        index = open_index(folder)
        for label, fusion in FUSIONS.items():
            engine = Engine(embedder, Searcher(index, embedder, fusion), Threshold())
            run(engine, items[:5])  # warm-up: first calls pay for lazy initialisation
            metrics = run(engine, items).metrics()
            out[label] = {
                k: metrics[k] for k in ("r@1", "r@5", "mrr@10", "latency_p50_ms", "latency_p95_ms")
            }
            print(json.dumps({"set": name, "fusion": label, **out[label]}), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="+", default=list(LOADERS), choices=list(LOADERS))
    args = ap.parse_args()
    settings = Settings.load()
    embedder = load_embedder(settings)
    for name in args.sets:
        bench_set(name, embedder, settings)


if __name__ == "__main__":
    main()
