"""Warm, in-process question latency through ``Engine.answer`` (the call the bot makes).

Two corpora: the bundled one (questions: the gold set) and about 10,000 chunks of thaigov news
from ../shared (questions: the thaigov FAQ). Each corpus is indexed once, with the int8 model,
and kept under ``$DGBOT_CACHE_DIR/bench/`` so a second run only measures. The fp32 backend asks
the same index with its own query vectors: the search steps cost the same whichever model made
the stored vectors, and a 10,000-chunk fp32 index would take most of an hour here to build.
Questions are asked ``--rounds`` times after a warm-up, backends taking turns per round; reported
are p50/p95 of the total, the median of each step in ``timings_ms``, and p50/p95 of the CPU time
a question takes (all threads), which, unlike wall time, does not grow when others load the cores.

Each backend also runs with the reader reading ``--readers`` passages (0: without the reader),
taking turns in the same run.

    python -m bench.latency [--corpora bundled news10k] [--readers 4 0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import gzip
import json
import statistics
import time
from pathlib import Path

from bench import datasets
from bench.chunks import build_chunks
from index.build.builder import build_index, load_articles
from index.build.chunking import ChunkParams
from index.corpus.articles import Article
from index.model.embedder import Embedder, load_embedder
from index.search.engine import Engine
from index.search.evaluate import load_jsonl
from index.settings import MODEL_RUNTIMES, Settings

REPO = Path(__file__).resolve().parents[1]
NEWS_CHUNKS = 10_000


def news_articles(limit: int = NEWS_CHUNKS) -> list[Article]:
    """thaigov news in file order until ``limit`` chunks (the chunker decides how many)."""
    articles, chunks = [], 0
    with gzip.open(datasets.require(datasets.NEWS), "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            lines = [x for x in row["text"].splitlines() if x.strip()]
            if len(lines) < 3:
                continue
            body, title = "\n".join(lines[2:]), row["title"] or lines[0]
            article = Article(f"news{row['id']}", title, dt.date(2020, 1, 1), (row["url"],), body)
            chunks += len(build_chunks([article], ChunkParams()))
            articles.append(article)
            if chunks >= limit:
                break
    return articles


def corpus(name: str) -> tuple[list[Article], list[str]]:
    if name == "bundled":
        articles, _ = load_articles(REPO / "corpus")
        questions = [i.question for i in load_jsonl(REPO / "tests/data/gold_questions.jsonl")]
        return articles, questions
    rows = [json.loads(x) for x in datasets.require(datasets.FAQ).open(encoding="utf-8")]
    return news_articles(), [r["question"] for r in rows]


def engines_for(
    name: str,
    articles: list[Article],
    models: dict[str, Embedder],
    cache: Path,
    readers: tuple[int, ...] = (4,),
) -> dict[str, Engine]:
    """One index built by the first model; each model asks it with its own query vectors, with
    the reader reading each of ``readers`` passages (0: no reader)."""
    builder = next(iter(models.values()))
    folder = cache / "bench" / f"latency-{name}-{builder.model_id.rsplit('+', 1)[-1]}"
    if not (folder / "manifest.json").is_file():
        print(f"building {folder} ({len(articles)} articles)", flush=True)
        build_index(articles, builder, folder)
    engines = {}
    for backend, model in models.items():
        engine = Engine.open(Settings(cache_dir=cache), embedder=builder, index_dir=folder)
        engine.embedder = engine.searcher.embedder = model
        for passages in readers:
            variant = copy.copy(engine)
            variant.passages = passages
            label = f"{backend}, reads {passages}" if passages else f"{backend}, no reader"
            engines[label] = variant
    return engines


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(engines: dict[str, Engine], questions: list[str], rounds: int) -> dict:
    for engine in engines.values():
        for q in questions[:10]:
            engine.answer(q)  # warm-up: caches, lazy imports, first-call allocations
    steps: dict[str, dict[str, list[float]]] = {name: {} for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            for q in questions:
                cpu = time.process_time()
                timings = engine.answer(q).timings_ms
                # CPU time of all threads: what the question costs when no one else wants the
                # cores (wall time on a shared machine also counts waiting for a core).
                timings["cpu"] = (time.process_time() - cpu) * 1000
                for step, ms in timings.items():
                    steps[name].setdefault(step, []).append(ms)
    out = {}
    for name, timings in steps.items():
        total = timings["total"]
        out[name] = {
            "n": len(total),
            "p50": round(statistics.median(total), 2),
            "p95": round(percentile(total, 0.95), 2),
            "cpu_p50": round(statistics.median(timings["cpu"]), 2),
            "cpu_p95": round(percentile(timings["cpu"], 0.95), 2),
            "steps_median": {s: round(statistics.median(v), 2) for s, v in timings.items()},
            "steps_mean": {s: round(statistics.fmean(v), 2) for s, v in timings.items()},
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", nargs="+", default=["bundled", "news10k"])
    ap.add_argument(
        "--backends", nargs="+", default=list(MODEL_RUNTIMES), choices=list(MODEL_RUNTIMES)
    )
    ap.add_argument("--readers", type=int, nargs="+", default=[4, 0], help="passages read")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--questions", type=int, default=100, help="questions per corpus")
    args = ap.parse_args()
    settings = Settings.load()
    models = {b: load_embedder(settings.model_copy(update={"backend": b})) for b in args.backends}
    for name in args.corpora:
        articles, questions = corpus(name)
        engines = engines_for(name, articles, models, settings.cache_dir, tuple(args.readers))
        chunks = len(next(iter(engines.values())).searcher.index.chunks)
        result = measure(engines, questions[: args.questions], args.rounds)
        print(json.dumps({"corpus": name, "chunks": chunks, **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
