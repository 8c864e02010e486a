"""Chunking speed (issue 6): a build's chunking phase in one process and in worker processes,
on the same articles, in alternating rounds of one run so load from elsewhere hits both.

    python -m bench.chunking --corpus DIR [--workers 2] [--rounds 3]

A round times the builder's chunking (sentences, windows, BM25 words as token ids; no chunking
cache) once in this process and once with ``--workers`` processes, worker start-up included (a
build pays it each time). The Thai models are loaded in this process first, as a build has them
by then. Printed as JSON: articles/s of each per round, medians, the median per-round ratio, CPU
seconds (this process and its workers) and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from index.build.builder import _chunk_all, load_articles
from index.build.chunking import ChunkParams
from index.progress import Progress
from index.text import thai


def _cpu() -> float:
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def timed(articles: list, workers: int) -> dict:
    fingerprints = [a.fingerprint() for a in articles]
    cpu, started = _cpu(), time.perf_counter()
    done = _chunk_all(articles, fingerprints, ChunkParams(), Progress(), None, workers)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "articles_per_s": round(len(articles) / seconds, 2),
        "cpu_seconds": round(_cpu() - cpu, 1),
        "chunks": len(done.chunks),
        "tokens": len(done.tokens.arrays()[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    articles, _ = load_articles(args.corpus)
    thai.warm_up()
    rounds = []
    for _ in range(args.rounds):
        one, many = timed(articles, 1), timed(articles, args.workers)
        if (one["chunks"], one["tokens"]) != (many["chunks"], many["tokens"]):
            raise SystemExit(f"the two chunkings differ: {one} vs {many}")
        rounds.append({"serial": one, "pool": many})
        print(json.dumps({**rounds[-1], "load_avg_1m": os.getloadavg()[0]}), flush=True)
    rate = {key: statistics.median(r[key]["articles_per_s"] for r in rounds) for key in rounds[0]}
    ratios = [r["pool"]["articles_per_s"] / r["serial"]["articles_per_s"] for r in rounds]
    summary = {
        "articles": len(articles),
        "chunks": rounds[0]["serial"]["chunks"],
        "workers": args.workers,
        "median_articles_per_s": rate,
        "median_ratio": round(statistics.median(ratios), 2),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
