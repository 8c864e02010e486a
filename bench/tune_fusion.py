"""Choose the fusion weights on BOTH kinds of data, side by side in one run.

XQuAD-th questions were translated with their paragraph and share its words; thaigov FAQ questions
are citizens' own and often do not. For each data set it scores every question against every
chunk once (dense cosine, chunk BM25 share, article cosine, article BM25 share), then evaluates a
grid of weights on those matrices. The kept fusion must beat dense-only on both sets; among those,
the largest summed R@1 gain wins (a symmetric rule, so neither set is tuned alone). Chunks are cut
as the engine cuts them unless --max-tokens says, and vectors come from the configured backend.

    python -m bench.tune_fusion [--max-tokens N]
"""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np

from bench.chunks import article_vectors, build_chunks
from bench.datasets import faq, xquad
from index.build.chunking import ChunkParams
from index.model.embedder import load_embedder
from index.settings import Settings
from index.store.lexical import Lexical
from index.text import thai
from index.text.query import understand

GRID = {
    "article_dense": [0.0, 0.25, 0.5, 1.0],
    "lexical": [0.0, 0.05, 0.1, 0.2],
    "article_lexical": [0.0, 0.05, 0.1, 0.2, 0.3],
}


def features(articles, items, params: ChunkParams, embedder) -> dict[str, np.ndarray]:
    """Question × chunk matrices of every signal the fusion can weigh."""
    chunks = build_chunks(articles, params)
    vectors = embedder.encode_documents([c.embed_text() for c in chunks], batch_size=64)
    ids = [a.id for a in articles]
    col = np.array([ids.index(c.article_id) for c in chunks])
    understood = [understand(i.question) for i in items]
    queries = embedder.encode_queries([u.dense_text for u in understood])
    tokens = [list(u.tokens) for u in understood]
    chunk_lex = Lexical.build([thai.tokens(c.embed_text()) for c in chunks])
    article_lex = Lexical.build([thai.tokens(f"{a.title}\n{a.body}") for a in articles])
    return {
        "dense": queries @ vectors.T,
        "article_dense": (queries @ article_vectors(chunks, vectors, ids).T)[:, col],
        "lexical": np.stack([chunk_lex.share(t) for t in tokens]),
        "article_lexical": np.stack([article_lex.share(t) for t in tokens])[:, col],
        "owner": col,
        "target": np.array([ids.index(i.article_id) for i in items]),
    }


def rank_metrics(fused: np.ndarray, owner: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """R@1 and MRR@10 of each question's article, an article ranking by its best chunk."""
    hits = mrr = 0.0
    for q in range(fused.shape[0]):
        best = np.full(owner.max() + 1, -np.inf)
        np.maximum.at(best, owner, fused[q])
        rank = 1 + int((best > best[target[q]]).sum())
        hits += rank == 1
        mrr += 1 / rank if rank <= 10 else 0.0
    n = fused.shape[0]
    return round(100 * hits / n, 2), round(100 * mrr / n, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=ChunkParams().max_tokens)
    args = ap.parse_args()
    embedder = load_embedder(Settings.load())
    params = ChunkParams(max_tokens=args.max_tokens)
    sets = {
        name: features(*load(), params, embedder) for name, load in (("xquad", xquad), ("faq", faq))
    }
    rows = []
    for weights in itertools.product(*GRID.values()):
        w = dict(zip(GRID, weights, strict=True))
        row = {**w}
        for name, f in sets.items():
            fused = f["dense"] + sum(w[k] * f[k] for k in GRID)
            row[name] = rank_metrics(fused, f["owner"], f["target"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = next(r for r in rows if not any(r[k] for k in GRID))
    better = [r for r in rows if all(r[s][0] > base[s][0] for s in sets)]
    chosen = max(better, key=lambda r: sum(r[s][0] - base[s][0] for s in sets), default=base)
    print(json.dumps({"dense_only": base, "chosen": chosen}))


if __name__ == "__main__":
    main()
