"""Choose how much the reader re-ranks, and how many passages it reads, on BOTH kinds of data.

XQuAD-th (translated, shares words with its paragraph) and the thaigov FAQ (citizens' own
wording) are each indexed once; every question is searched with the shipped fusion and the reader
reads its first ``--read`` passages once. Orders for every (passages read, weight) pair are then
computed from those readings: passages read are ordered by score + weight · margin, the rest
follow. A choice must not lose R@1 on either set against retrieval alone; among those the largest
summed R@1 gain wins (a symmetric rule, so neither set is tuned alone). Dense-only retrieval runs
beside it, since the FAQ must not fall below it.

    python -m bench.tune_rerank [--read 8]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from bench import datasets
from index.build.builder import build_index
from index.model.embedder import load_embedder
from index.model.reader import load_reader
from index.search.answer import read_hits, rerank
from index.search.engine import Engine
from index.search.evaluate import run
from index.search.retrieval import DENSE_ONLY, Fusion, Searcher
from index.settings import Settings
from index.store.folder import open_index

WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
PASSAGES = (2, 3, 4, 5, 8)
DEPTH = 30  # hits per question, as bench.retrieval ranks them
LOADERS = {"xquad": datasets.xquad, "faq": datasets.faq}


def rank_metrics(orders: list[list[str]], targets: list[str]) -> tuple[float, float]:
    """R@1 and MRR@10 of each question's article in its article order."""
    r1 = mrr = 0.0
    for order, target in zip(orders, targets, strict=True):
        ranked = list(dict.fromkeys(order))
        rank = ranked.index(target) + 1 if target in ranked else None
        r1 += rank == 1
        mrr += 1 / rank if rank and rank <= 10 else 0.0
    return round(100 * r1 / len(targets), 2), round(100 * mrr / len(targets), 2)


def readings_of(name: str, embedder, reader, most: int) -> tuple[list, list[str], dict]:
    """(hits, readings) per question, the targets, and dense-only metrics on the same index."""
    articles, items = LOADERS[name]()
    with tempfile.TemporaryDirectory(prefix=f"dgbot-{name}-") as tmp:
        build_index(articles, embedder, Path(tmp) / "idx")
        index = open_index(Path(tmp) / "idx")
        dense = run(Engine(embedder, Searcher(index, embedder, DENSE_ONLY)), items).metrics()
        searcher = Searcher(index, embedder, Fusion())
        rows = []
        for item in items:
            hits = searcher.search(item.question, DEPTH).hits
            rows.append((hits, read_hits(reader, item.question, hits[:most])))
    return rows, [i.article_id for i in items], {"r@1": dense["r@1"], "mrr@10": dense["mrr@10"]}


def orders(rows, passages: int, weight: float) -> list[list[str]]:
    out = []
    for hits, readings in rows:
        read = hits[:passages]
        order = rerank([h.score for h in read], [r.margin for r in readings[:passages]], weight)
        out.append([read[i].chunk.article_id for i in order])
        out[-1] += [h.chunk.article_id for h in hits[passages:]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--read", type=int, default=max(PASSAGES))
    args = ap.parse_args()
    settings = Settings.load()
    embedder = load_embedder(settings)
    reader = load_reader(settings.model_dir, settings.cache_dir, settings.threads)
    sets = {name: readings_of(name, embedder, reader, args.read) for name in LOADERS}
    for name, (_, _, dense) in sets.items():
        print(json.dumps({"set": name, "dense_only": dense}), flush=True)
    table = []
    for passages, weight in itertools.product(PASSAGES, WEIGHTS):
        if passages > args.read:
            continue
        row = {"passages": passages, "weight": weight}
        for name, (rows, targets, _) in sets.items():
            row[name] = rank_metrics(orders(rows, passages, weight), targets)
        table.append(row)
        print(json.dumps(row), flush=True)
    base = table[0]  # weight 0: retrieval's own order
    kept = [r for r in table if all(r[s][0] >= base[s][0] for s in sets)]
    chosen = max(kept, key=lambda r: (sum(r[s][0] - base[s][0] for s in sets), -r["passages"]))
    print(json.dumps({"retrieval_alone": base, "chosen": chosen}))


if __name__ == "__main__":
    main()
