"""Indexing throughput and quality of the two backends on the same XQuAD-th chunks, in one run.

The fp32 PyTorch encoder (sentence-transformers) and the int8 ONNX Runtime encoder embed the same
chunks in turn, several rounds, so a burst of load from elsewhere hits both; the result is the
median chunks/s of each and the median of the per-round ratios. Then XQuAD-th is indexed and
asked with each backend (R@1, MRR@10 of the shipped engine) to show what int8 costs in quality.

    python -m bench.throughput [--chunks 256] [--rounds 5] [--no-speed] [--no-quality]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import datasets
from bench.chunks import build_chunks
from index.build.builder import build_index
from index.build.chunking import ChunkParams
from index.model.embedder import Embedder, load_embedder
from index.search.engine import Engine
from index.search.evaluate import run
from index.settings import MODEL_RUNTIMES, Settings

BATCH = 32  # what the index builder uses


def embedders(settings: Settings) -> dict[str, Embedder]:
    return {
        name: load_embedder(settings.model_copy(update={"backend": name}))
        for name in MODEL_RUNTIMES
    }


def speed(models: dict[str, Embedder], texts: list[str], rounds: int) -> dict:
    """Chunks/s of each backend per round (alternating), medians and per-round ratios."""
    for model in models.values():
        model.encode_documents(texts[:BATCH], batch_size=BATCH)  # lazy initialisation
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            started = time.perf_counter()
            model.encode_documents(texts, batch_size=BATCH)
            seconds[name].append(time.perf_counter() - started)
    ratios = [t / o for t, o in zip(seconds["torch"], seconds["onnx-int8"], strict=True)]
    return {
        "chunks": len(texts),
        "rounds": rounds,
        "chunks_per_s": {
            name: round(len(texts) / statistics.median(times), 1) for name, times in seconds.items()
        },
        "ratio_median": round(statistics.median(ratios), 2),
        "ratios": [round(r, 2) for r in ratios],
    }


def agreement(models: dict[str, Embedder], texts: list[str]) -> dict:
    """Cosine between the two backends' vectors of the same texts (passage and query side)."""
    out = {}
    for side in ("documents", "queries"):
        vectors = [getattr(m, f"encode_{side}")(texts) for m in models.values()]
        cos = np.sum(vectors[0] * vectors[1], axis=1)
        out[side] = {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}
    return out


def quality(models: dict[str, Embedder]) -> dict:
    """XQuAD-th through the shipped engine, one index per backend."""
    articles, items = datasets.xquad()
    out = {}
    for name, model in models.items():
        with tempfile.TemporaryDirectory(prefix=f"dgbot-xquad-{name}-") as tmp:
            folder = Path(tmp) / "idx"
            build_index(articles, model, folder)
            engine = Engine.open(Settings(), embedder=model, index_dir=folder)
            metrics = run(engine, items).metrics()
            out[name] = {k: metrics[k] for k in ("r@1", "r@5", "mrr@10")}
    out["r@1_loss"] = round(out["torch"]["r@1"] - out["onnx-int8"]["r@1"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=256, help="XQuAD chunks timed per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-speed", action="store_true", help="skip the chunks/s comparison")
    ap.add_argument("--no-quality", action="store_true", help="skip the XQuAD R@1 comparison")
    args = ap.parse_args()
    settings = Settings.load()
    models = embedders(settings)
    articles, _ = datasets.xquad()
    texts = [c.embed_text() for c in build_chunks(articles, ChunkParams())]
    # Every k-th chunk, so the timed sample has the length mix of the whole set.
    sample = texts[:: max(1, len(texts) // args.chunks)][: args.chunks]
    if not args.no_speed:
        report = speed(models, sample, args.rounds)
        print(json.dumps({"speed": report, "agreement": agreement(models, sample)}), flush=True)
    if not args.no_quality:
        print(json.dumps({"xquad": quality(models)}), flush=True)


if __name__ == "__main__":
    main()
