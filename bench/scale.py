"""Scale benchmark (issue 6): ingest and index the thaigov news dump as a user would.

Runs the real ``dgbot ingest`` and ``dgbot index build`` as child processes, each under
``/usr/bin/time`` for its wall time and peak memory (max RSS), on the first ``--limit`` articles
of ``../shared/data/thaigov/news.jsonl.gz`` (0 = all 28,555):

1. ingest, then a fresh build: wall time, chunks, chunks/s, peak RSS of each step;
2. ``--add N``: N more articles ingested, the index rebuilt: how many chunks were embedded;
3. ``--resume-limit M``: a fresh build of the first M articles killed with SIGKILL once half of
   its embedding shards exist, then run again: how much the second run embedded;
4. recall@10 of the approximate (HNSW) store against exact search, for real questions (thaigov
   FAQ and XQuAD-th) over the vectors of the index built in step 1.

    python -m bench.scale --limit 1000 --add 100 --resume-limit 200 --work /tmp/scale

Progress lines of every step go to ``WORK/*.log``; the results are printed as JSON.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import datasets
from index.build.builder import SHARD_SIZE

SUMMARY = re.compile(r"index: (\d+) articles, (\d+) chunks \((\d+) embedded, (\d+) reused")


def _sample(out: Path, start: int, count: int) -> Path:
    """Lines ``start``..``start+count`` of the news dump (count 0: to the end)."""
    with gzip.open(datasets.require(datasets.NEWS), "rt", encoding="utf-8") as src:
        stop = start + count if count else None
        with open(out, "w", encoding="utf-8") as dst:
            dst.writelines(itertools.islice(src, start, stop))
    return out


def _dgbot(args: list[str], log: Path, env: dict) -> dict:
    """Run ``dgbot ARGS`` under /usr/bin/time; wall seconds, peak RSS (MiB) and its output."""
    timing = log.with_suffix(".time")
    timed = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(timing)]
    cmd = [*timed, sys.executable, "-m", "index.cli"]
    with open(log, "w", encoding="utf-8") as fh:
        done = subprocess.run([*cmd, *args], stdout=subprocess.PIPE, stderr=fh, text=True, env=env)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dgbot {' '.join(args)} failed ({done.returncode}); see {log}")
    seconds, kib, user, system = timing.read_text().split()[-4:]
    return {
        "seconds": float(seconds),
        "cpu_seconds": round(float(user) + float(system), 1),  # what the load of others spares
        "peak_rss_mib": round(int(kib) / 1024, 1),
        "load_avg_1m": os.getloadavg()[0],
        "out": done.stdout,
    }


def _build(corpus: Path, index: Path, log: Path, env: dict) -> dict:
    run = _dgbot(["index", "build", "--corpus", str(corpus), "--index", str(index)], log, env)
    found = SUMMARY.search(run.pop("out"))
    if not found:
        raise SystemExit(f"no build summary; see {log}")
    articles, chunks, embedded, reused = map(int, found.groups())
    run.update(articles=articles, chunks=chunks, embedded=embedded, reused=reused)
    run["embedded_per_s"] = round(embedded / run["seconds"], 2)
    return run


def _ingest(source: Path, corpus: Path, log: Path, env: dict) -> dict:
    run = _dgbot(["ingest", str(source), "--out", str(corpus), "--progress"], log, env)
    run["written"] = sum(1 for line in run.pop("out").splitlines() if line.startswith("written"))
    return run


def _killed_then_resumed(work: Path, limit: int, env: dict) -> dict:
    """A fresh build killed (SIGKILL) half way through embedding, then run again."""
    corpus, index = work / "resume-corpus", work / "resume-index"
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(index, ignore_errors=True)
    _ingest(_sample(work / "resume.jsonl", 0, limit), corpus, work / "resume-ingest.log", env)
    shards = index.with_name(f".{index.name}-work")
    shutil.rmtree(shards, ignore_errors=True)
    log = work / "resume-killed.log"
    args = [sys.executable, "-m", "index.cli", "index", "build"]
    with open(log, "w", encoding="utf-8") as fh:
        build = subprocess.Popen(
            [*args, "--corpus", str(corpus), "--index", str(index)], stderr=fh, env=env
        )
    total = None
    while build.poll() is None:
        text = log.read_text(encoding="utf-8")
        found = re.search(r"([\d,]+) to embed", text)
        if found:
            total = int(found.group(1).replace(",", ""))
        done = len(list(shards.glob("emb-*.npz"))) * SHARD_SIZE
        if total and done >= total / 2:
            build.send_signal(signal.SIGKILL)
            break
        time.sleep(1)
    build.wait()
    finished = len(list(shards.glob("emb-*.npz"))) * SHARD_SIZE
    again = _build(corpus, index, work / "resume-again.log", env)
    return {
        "to_embed": total,
        "embedded_before_kill": min(finished, total or 0),
        "killed": build.returncode == -signal.SIGKILL,
        "rerun": again,
        "redone": again["embedded"],
    }


def _questions() -> list[str]:
    faq = [json.loads(line)["question"] for line in datasets.require(datasets.FAQ).open()]
    _, xquad = datasets.xquad()
    return faq + [item.question for item in xquad[: 1000 - len(faq)]]


def _grown(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """``size`` vectors: the real ones, then noisy copies of them (cosine ≈ 0.9 to their
    original), a stand-in for a corpus this machine cannot embed in the time available; near
    duplicates make the graph search harder, not easier."""
    rng = np.random.default_rng(seed)
    out = np.empty((size, vectors.shape[1]), dtype=np.float32)
    out[: len(vectors)] = vectors
    for start in range(len(vectors), size, len(vectors)):
        n = min(len(vectors), size - start)
        block = vectors[:n] + rng.normal(0, 0.0247, (n, vectors.shape[1])).astype(np.float32)
        out[start : start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def recall_at_10(
    index_dir: Path, env: dict, grow: int = 0, ef_values=(128, 256, 512, 1024)
) -> dict:
    """Recall@10 and per-question search time of HNSW against exact, on one set of vectors."""
    from index.model.embedder import load_embedder
    from index.settings import Settings
    from index.store.folder import open_index
    from index.store.vectors import StoreSpec, create_store

    os.environ.update(env)
    vectors = open_index(index_dir).vectors()
    out = {"real_vectors": len(vectors)}
    if grow > len(vectors):
        vectors = _grown(vectors, grow)
    queries = load_embedder(Settings.load()).encode_queries(_questions())
    exact = create_store(vectors.shape[1], StoreSpec(kind="flat"))
    exact.add(vectors)
    started = time.perf_counter()
    _, truth = exact.search(queries, 10)
    out.update(vectors=len(vectors), queries=len(queries))
    out["exact_ms_per_query"] = round((time.perf_counter() - started) * 1000 / len(queries), 3)
    hnsw = create_store(vectors.shape[1], StoreSpec(kind="hnsw"))
    started = time.perf_counter()
    hnsw.add(vectors)
    out["hnsw_build_s"] = round(time.perf_counter() - started, 1)
    for ef in ef_values:
        hnsw.index.hnsw.efSearch = ef
        started = time.perf_counter()
        _, found = hnsw.search(queries, 10)
        ms = (time.perf_counter() - started) * 1000 / len(queries)
        hits = sum(
            len(set(a) & set(b)) for a, b in zip(truth.tolist(), found.tolist(), strict=True)
        )
        out[f"ef{ef}"] = {"recall@10": round(hits / truth.size, 4), "ms_per_query": round(ms, 3)}
    return out


def memory_probe(index_dir: Path, size: int, out_dir: Path) -> dict:
    """Peak memory of everything a build holds after chunking, at ``size`` chunks, without
    the hours of chunking and embedding: the real chunks of ``index_dir`` copied (each copy
    its own strings, tokens and a noisy vector) until there are ``size``, then the vector store,
    article vectors, both BM25 indexes and the index write, with the embedding model loaded as
    in a real build. A stand-in for the full corpus, labelled as such in BENCHMARKS.md."""
    import resource
    from dataclasses import replace

    from index.build.builder import _fill_store, _Known
    from index.build.embedding_shards import Checkpoint, vector_key
    from index.model.embedder import load_embedder
    from index.settings import Settings
    from index.store.folder import ArticleLevel, Manifest, open_index, write_index
    from index.store.tokenids import TokenIds
    from index.text import thai

    embedder = load_embedder(Settings.load())
    base = open_index(index_dir)
    real = base.chunks
    words = [thai.tokens(c.embed_text()) for c in real]
    real_vectors = base.vectors()
    del base
    per_article = 14  # chunks per news article (300-article sample: 4,152 chunks)
    chunks, tokens, articles = [], TokenIds(), TokenIds()
    for i in range(size):
        c = real[i % len(real)]
        aid = f"a{i // per_article}"
        text = f"{c.text} {i}"  # every copy its own string, as real chunks are
        chunks.append(replace(c, id=f"{aid}#{i % per_article}", article_id=aid, text=text))
        tokens.add([*words[i % len(real)], str(i)])
        if i % per_article == 0:
            articles.add([w for n in range(per_article) for w in words[(i + n) % len(real)]])
    keys = [vector_key("probe", c.embed_text()) for c in chunks]
    known, checkpoint = _Known(), Checkpoint(out_dir / "index", 384)
    checkpoint.remove()
    for start in range(0, size, SHARD_SIZE):
        part = keys[start : start + SHARD_SIZE]
        block = _grown(real_vectors, len(real_vectors) + len(part), seed=start)
        known.add_shard(checkpoint.write(part, block[len(real_vectors) :]), part)
    n_articles = len(articles)
    rows = np.arange(size, dtype=np.int64) // per_article
    started = time.perf_counter()
    lexical, article_lexical = tokens.lexical(), articles.lexical()  # in the build's order
    del tokens, articles
    store, article_vecs = _fill_store(keys, rows, n_articles, known, 384, 10**9, _quiet())
    level = ArticleLevel(article_vecs, article_lexical)
    ids = {f"a{n}": "probe" for n in range(n_articles)}
    manifest = Manifest("probe", 384, {}, "probe", ids, size)
    write_index(out_dir / "index", manifest, chunks, store, lexical, level)
    checkpoint.remove()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "chunks": size,
        "articles": n_articles,
        "model": embedder.model_id,
        "after_chunking_s": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(peak, 1),
    }


def _quiet():
    from index.progress import Progress

    return Progress()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=1000, help="articles (0 = all 28,555)")
    parser.add_argument("--add", type=int, default=100, help="articles added afterwards")
    parser.add_argument("--resume-limit", type=int, default=200, help="0: skip the kill test")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dgbot-scale"))
    parser.add_argument("--no-recall", action="store_true")
    parser.add_argument("--resume-only", action="store_true", help="only the kill -9 test")
    parser.add_argument(
        "--recall-only", type=Path, help="only recall@10 on this index's vectors (no build)"
    )
    parser.add_argument("--memory-probe", type=Path, help="peak memory at --grow chunks (no build)")
    parser.add_argument("--grow", type=int, default=0, help="pad to N vectors (--recall-only)")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if args.resume_only:
        print(json.dumps(_killed_then_resumed(work, args.resume_limit, env), indent=1))
        return
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, args.grow, work), indent=1))
        return
    if args.recall_only:
        print(json.dumps(recall_at_10(args.recall_only, env, args.grow), indent=1))
        return
    corpus, index = work / "corpus", work / "index"
    for old in (corpus, index, index.with_name(f".{index.name}-work")):
        shutil.rmtree(old, ignore_errors=True)
    result: dict = {"limit": args.limit}
    source = _sample(work / "sample.jsonl", 0, args.limit)
    result["ingest"] = _ingest(source, corpus, work / "ingest.log", env)
    result["build"] = _build(corpus, index, work / "build.log", env)
    build = result["build"]
    build["chunks_per_s"] = round(build["chunks"] / build["seconds"], 2)
    print(json.dumps(result), flush=True)
    if args.add:
        extra = _sample(work / "extra.jsonl", args.limit, args.add)
        result["add_ingest"] = _ingest(extra, corpus, work / "add-ingest.log", env)
        result["add_build"] = _build(corpus, index, work / "add-build.log", env)
        print(json.dumps(result), flush=True)
    if not args.no_recall:
        result["recall"] = recall_at_10(index, env)
        print(json.dumps(result), flush=True)
    if args.resume_limit:
        result["resume"] = _killed_then_resumed(work, args.resume_limit, env)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
