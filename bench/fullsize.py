"""The whole thaigov corpus as one index, with a stand-in for the embedding model (issue 6).

Embedding the ~395,000 chunks of 28,555 news articles with e5-small takes hours on two CPU cores
(``bench.throughput`` gives the chunks/s); nothing else in a build does. So this bench runs the
real ``build_index`` on the whole corpus (chunking, checkpoint shards, both BM25 indexes, the
vector store chosen by size, the index write) with the passage encoder replaced by a stand-in
that hashes character trigrams into the model's 384 dimensions (cheap, deterministic, and with
some of the neighbourhood structure of text, unlike random vectors), while the real model is
loaded beside it as a build would hold it. Then the thaigov FAQ questions are asked through
``Engine.answer`` with the real int8 model encoding them: every step's cost is the full-size
one; only which passages rank first is meaningless.

Reported: the build's phases (from its progress lines), peak memory, the index on disk,
question latency (p50/p95 and per step) at full size, and the time to open the model and the
index together as the bot starts (once the index exists). ``--add N``: a first build without the
last N articles, then the rebuild that adds them (what it embeds, how long, peak memory).
``--embed-sample N``: the real model's chunks/s on N of the corpus's chunks, hence the hours
its embedding would add. A second run with the index in place only measures.

    python -m bench.fullsize --corpus CORPUS_DIR --index /tmp/full/index [--embed-sample 1024]
    python -m bench.fullsize --corpus CORPUS_DIR --index /tmp/full/index-add --add 100

CORPUS_DIR is the output of ``dgbot ingest ../shared/data/thaigov/news.jsonl.gz --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench import datasets
from bench.latency import measure
from index.build.builder import load_articles
from index.build.from_settings import build_with
from index.model.embedder import load_embedder
from index.search.engine import Engine
from index.settings import Settings
from index.store.folder import IndexLoadError

TRIGRAM_MIX = np.array([1_000_003, 10_007, 1], dtype=np.uint64)


class StandIn:
    """Passage vectors from hashed character trigrams (signed counts, L2-normalised)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.model_id = f"stand-in/char-trigram-hash-{dim}"

    def _vector(self, text: str) -> np.ndarray:
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        if len(points) < 3:
            points = np.concatenate([points, np.zeros(3 - len(points), np.uint64)])
        grams = points[:-2] * TRIGRAM_MIX[0] + points[1:-1] * TRIGRAM_MIX[1] + points[2:]
        hashed = (grams * np.uint64(2654435761)) % np.uint64(2**32)
        signs = ((hashed >> np.uint64(16)) & np.uint64(1)).astype(np.float64) * 2 - 1
        vector = np.bincount((hashed % np.uint64(self.dim)).astype(np.int64), signs, self.dim)
        return (vector / max(np.linalg.norm(vector), 1e-9)).astype(np.float32)

    def encode_documents(self, texts: list[str], batch_size: int = 32, progress: bool = False):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim))

    encode_queries = encode_documents


class Timestamped:
    """The build's progress stream, each line kept with the seconds since the build began."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> None:
        for line in filter(None, text.splitlines()):
            at = time.monotonic() - self.started
            self.lines.append((at, line))
            print(f"[{at:8.1f} s] {line}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        pass

    def phases(self) -> dict[str, float]:
        """Seconds from the start at which each phase ended (the line after it began)."""
        marks = {
            "chunking": "articles →",
            "embedding": "building BM25",
            "bm25": "indexing (",
            "store": "writing the index",
            "write": "index:",
        }
        return {
            phase: next((round(at, 1) for at, line in self.lines if mark in line), -1.0)
            for phase, mark in marks.items()
        }


def embedding_rate(engine: Engine, model, sample: int) -> dict:
    """What the stand-in saved: the real model's chunks/s on every k-th chunk of this corpus,
    and the hours all of its chunks would take at that rate."""
    chunks = engine.searcher.index.chunks
    texts = [c.embed_text() for c in chunks[:: max(1, len(chunks) // sample)][:sample]]
    model.encode_documents(texts[:32])  # warm-up
    started = time.perf_counter()
    model.encode_documents(texts)
    rate = len(texts) / (time.perf_counter() - started)
    tokens = [len(e.ids) for e in model.model.tokenizer.encode_batch(texts)]  # the int8 encoder's
    return {
        "chunks": len(texts),
        "tokens_per_chunk": round(float(np.mean(tokens)), 1),
        "chunks_per_s": round(rate, 1),
        "all_chunks_hours": round(len(chunks) / rate / 3600, 2),
    }


def open_with_model(settings: Settings, index: Path) -> float:
    """Seconds ``Engine.open`` takes to load the model, the Thai word list and this index side
    by side, as ``dgbot serve`` does; it then refuses the stand-in index for its model, which is
    checked once both are loaded."""
    started = time.perf_counter()
    try:
        Engine.open(settings, index_dir=index)
    except IndexLoadError as refused:
        if "was built with model" not in str(refused):
            raise
    return round(time.perf_counter() - started, 2)


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started or since ``reset_peak_rss``."""
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from now


def timed_build(articles: list, stand_in: StandIn, index: Path, settings: Settings) -> dict:
    """``build_index`` as ``dgbot index build`` runs it, with its phases and peak memory."""
    stream = Timestamped()
    report = build_with(settings, articles, stand_in, index, progress=stream, cache_chunks=True)
    return {
        "articles": report.articles,
        "chunks": report.chunks,
        "embedded": report.embedded,
        "reused": report.reused,
        "store": report.store,
        "seconds": round(report.seconds, 1),
        "phases_end_s": stream.phases(),
        "peak_rss_mib": peak_rss_mib(),
        "index_mib": round(sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 2**20),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="an ingested corpus folder")
    ap.add_argument("--index", type=Path, required=True, help="where the index is built")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--questions", type=int, default=260, help="thaigov FAQ questions asked")
    ap.add_argument("--embed-sample", type=int, default=0, help="chunks timed with the model")
    ap.add_argument("--add", type=int, default=0, help="build without the last N, then add them")
    args = ap.parse_args()
    settings = Settings.load()
    result: dict = {}
    if (args.index / "manifest.json").is_file():  # first, while nothing is loaded yet
        result["open_with_model_s"] = open_with_model(settings, args.index)
    model = load_embedder(settings.model_copy(update={"backend": "onnx-int8"}))
    stand_in = StandIn(model.dim)
    result["model_rss_mib"] = peak_rss_mib()
    if not (args.index / "manifest.json").is_file():
        articles, skipped = load_articles(args.corpus, skip_bad=True)
        result["loaded_rss_mib"] = peak_rss_mib()
        first = articles[: len(articles) - args.add]
        result["skipped"] = len(skipped)
        result["build"] = timed_build(first, stand_in, args.index, settings)
        if args.add:  # then the last ``add`` articles arrive, as a user adding news would
            reset_peak_rss()
            result["add"] = timed_build(articles, stand_in, args.index, settings)
        del articles, first
        print(json.dumps(result), flush=True)
    started = time.perf_counter()
    engine = Engine.open(settings, embedder=stand_in, index_dir=args.index)
    engine.embedder = engine.searcher.embedder = model  # questions through the real model
    result["open_seconds"] = round(time.perf_counter() - started, 2)
    result["chunks"] = len(engine.searcher.index.chunks)
    rows = [json.loads(x) for x in datasets.require(datasets.FAQ).open(encoding="utf-8")]
    questions = [r["question"] for r in rows][: args.questions]
    result["latency"] = measure({"onnx-int8": engine}, questions, args.rounds)["onnx-int8"]
    if args.embed_sample:
        result["embedding"] = embedding_rate(engine, model, args.embed_sample)
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
