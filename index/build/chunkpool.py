"""Chunking in worker processes, so every core cuts articles into sentences and words.

Each article is chunked on its own (about 0.1 CPU-s for a news article), so the articles a build
must chunk are shared out in batches. Workers are started with "spawn": the building process may
already run ONNX Runtime or PyTorch threads, and a child forked while another thread holds a lock
can hang. A worker loads pythainlp's word list and sentence model on first use (about 2 s), so a
handful of articles are chunked in this process instead. Only a few batches are in flight at a
time and results come back in corpus order, so they never pile up in memory. Workers leave Ctrl-C
to the build, are stopped at once when it stops, and end when it ends, even by SIGKILL.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from index.build.chunking import ChunkParams, chunk_article
from index.corpus.articles import Article
from index.processes import default_threads, follow_parent
from index.text import thai

BATCH = 48  # articles per task at most: their pickling costs little beside their chunking
MIN_PARALLEL = 50  # fewer articles to chunk than this: not worth starting workers
AHEAD = 2  # batches per worker handed out before the oldest result is taken


class ChunkingError(RuntimeError):
    """An article could not be chunked, or a chunking worker died."""


@dataclass
class Pieces:
    """An article's chunking, cheap to send between processes: spans into its body (the
    chunks are rebuilt from them with ``chunking.make_chunk``) and its BM25 words."""

    spans: list[tuple[int, int]]
    chunk_words: list[list[str]]  # of each chunk's embedded text (title and passage)
    article_words: list[str]  # of the whole article


def pieces(article: Article, params: ChunkParams) -> Pieces:
    """Chunk one article; a failure names the article."""
    try:
        chunks = chunk_article(article, params)
        return Pieces(
            [(c.start, c.end) for c in chunks],
            [thai.tokens(c.embed_text()) for c in chunks],
            thai.tokens(f"{article.title}\n{article.body}"),
        )
    except Exception as exc:
        where = f" ({article.path})" if article.path else ""
        problem = f"{exc.__class__.__name__}: {exc}"
        raise ChunkingError(f"cannot chunk article {article.id}{where}: {problem}") from exc


def _batch(articles: list[Article], params: ChunkParams) -> list[Pieces]:
    return [pieces(article, params) for article in articles]


def worker_count(threads: int) -> int:
    """``DGBOT_THREADS``'s meaning: a number of cores, 0 for all this process may use."""
    return threads or default_threads()


def chunk_pieces(articles: list[Article], params: ChunkParams, workers: int) -> Iterator[Pieces]:
    """Each article's pieces in order, from ``workers`` processes when there is enough work.
    Close the iterator (``contextlib.closing``) to stop the workers early."""
    if workers <= 1 or len(articles) < MIN_PARALLEL:
        return (pieces(article, params) for article in articles)
    return _pooled(articles, params, workers)


def _pooled(articles: list[Article], params: ChunkParams, workers: int) -> Iterator[Pieces]:
    size = max(1, min(BATCH, len(articles) // (workers * 8)))  # small corpora: all stay busy
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=follow_parent)
    pending: deque[Future] = deque()
    try:
        for start in range(0, len(articles), size):
            pending.append(pool.submit(_batch, articles[start : start + size], params))
            if len(pending) > workers * AHEAD:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    except BaseException as exc:  # a failure, Ctrl-C, or the build stopped reading
        for process in list((pool._processes or {}).values()):  # no public way before 3.14
            process.terminate()  # now, not after the batches the workers hold
        if isinstance(exc, BrokenProcessPool):
            raise ChunkingError(
                "a chunking worker process died (killed, or out of memory?); run the build "
                "again (with DGBOT_THREADS=1 it chunks in one process)"
            ) from exc
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
