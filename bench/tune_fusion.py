"""Choose chunk size and fusion weight on BOTH kinds of data, side by side in one run.

XQuAD-th questions were translated with their paragraph and share its words; thaigov FAQ questions
are citizens' own and often do not. A fusion is only kept if it holds up on both.

    python bench/tune_fusion.py [--max-tokens 32 64 128] [--weights 0 0.05 0.1 0.2 0.3]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.datasets import faq, xquad
from index import thai
from index.builder import build_chunks
from index.chunking import ChunkParams
from index.embedder import load_embedder
from index.lexical import Lexical
from index.settings import Settings

CACHE = Path("/tmp/dgbot-tune-cache")


def _paragraph_of(chunk, bodies) -> str:
    """The line-paragraph holding a chunk (chunks never cross line breaks)."""
    body = bodies[chunk.article_id]
    start = body.rfind("\n", 0, chunk.start) + 1
    end = body.find("\n", chunk.end)
    return f"{chunk.article_id}:{start}", body[start : end if end >= 0 else len(body)]


def score_matrices(name, articles, items, params, embedder):
    """Dense and BM25 scores of every question against every chunk (vectors cached on disk)."""
    chunks = build_chunks(articles, params)
    owner = np.array([c.article_id for c in chunks])
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{name}-{params.max_tokens}-{len(chunks)}.npy"
    if cached.exists():
        vectors = np.load(cached)
    else:
        vectors = embedder.encode_documents([c.embed_text() for c in chunks], batch_size=64)
        np.save(cached, vectors)
    queries = embedder.encode_queries([thai.normalize(i.question) for i in items])
    dense = queries @ vectors.T
    qtokens = [thai.tokens(i.question) for i in items]
    lexical = Lexical.build([thai.tokens(c.embed_text()) for c in chunks])
    lex = np.stack([lexical.scores(t) for t in qtokens])
    bodies = {a.id: a.body for a in articles}
    titles = {a.id: a.title for a in articles}
    paras = [_paragraph_of(c, bodies) for c in chunks]
    keys = list(dict.fromkeys(k for k, _ in paras))
    texts = dict(paras)
    para_lex = Lexical.build([thai.tokens(titles[k.split(":")[0]] + "\n" + texts[k]) for k in keys])
    col = np.array([keys.index(k) for k, _ in paras])
    plex = np.stack([para_lex.scores(t) for t in qtokens])[:, col]
    return owner, dense, lex, plex


def rank_of(fused_row, owner, target):
    order = np.argsort(-fused_row, kind="stable")
    seen = list(dict.fromkeys(owner[order[:400]]))
    return seen.index(target) + 1 if target in seen else 999


def _max_norm(m):
    top = m.max(axis=1, keepdims=True)
    return np.divide(m, top, out=np.zeros_like(m), where=top > 0)


def evaluate(owner, dense, lex, items, weight, rrf=False, plex=None, pweight=0.0):
    r1 = mrr = 0.0
    lex_norm = _max_norm(lex)
    plex_norm = _max_norm(plex) if plex is not None else np.zeros_like(lex)
    for q, item in enumerate(items):
        if rrf:
            rd = np.argsort(np.argsort(-dense[q]))
            rl = np.argsort(np.argsort(-lex[q]))
            fused = 1 / (60 + rd) + 1 / (60 + rl)
        else:
            fused = dense[q] + weight * lex_norm[q] + pweight * plex_norm[q]
        k = rank_of(fused, owner, item.article_id)
        r1 += k == 1
        mrr += 1 / k if k <= 10 else 0
    n = len(items)
    return round(100 * r1 / n, 2), round(100 * mrr / n, 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, nargs="+", default=[32, 64, 128, 100000])
    ap.add_argument(
        "--weights", type=float, nargs="+", default=[0, 0.02, 0.05, 0.1, 0.2, 0.3, 1000]
    )
    args = ap.parse_args()
    embedder = load_embedder(Settings.load())
    sets = {"xquad": xquad(), "faq": faq()}
    results = []
    for max_tokens in args.max_tokens:
        params = ChunkParams(max_tokens=max_tokens)
        for name, (articles, items) in sets.items():
            owner, dense, lex = score_matrices(articles, items, params, embedder)
            for w in args.weights:
                r1, mrr = evaluate(owner, dense, lex, items, w)
                results.append(
                    {
                        "set": name,
                        "max_tokens": max_tokens,
                        "fusion": f"w={w}",
                        "r@1": r1,
                        "mrr@10": mrr,
                    }
                )
                print(json.dumps(results[-1]), flush=True)
            r1, mrr = evaluate(owner, dense, lex, items, 0, rrf=True)
            results.append(
                {"set": name, "max_tokens": max_tokens, "fusion": "rrf", "r@1": r1, "mrr@10": mrr}
            )
            print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
