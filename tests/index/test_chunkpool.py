"""Chunking on several cores (index/chunkpool.py): the same chunks and BM25 token ids as one
process, in corpus order, with progress per article; a bad article or a dead worker stops it with
a clear error, and no worker is left running."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.build import chunk_cache as prep
from index.build.builder import _chunk_all, _Chunked, _keep_chunking, load_articles
from index.build.chunking import ChunkParams
from index.build.chunkpool import MIN_PARALLEL, ChunkingError, chunk_pieces
from index.corpus.articles import Article
from index.progress import Progress
from tests.support.articles import synthetic_article
from tests.support.paths import REPO


class _Watched(io.StringIO):
    """A progress stream that also notes how many worker processes run at each line."""

    def __init__(self) -> None:
        super().__init__()
        self.workers: list[int] = []

    def write(self, text: str) -> int:
        self.workers.append(len(multiprocessing.active_children()))
        return super().write(text)


def _corpus() -> list[Article]:
    """The bundled news articles and short synthetic ones: 120 in all."""
    articles, _ = load_articles(REPO / "corpus")
    return [*articles, *(synthetic_article(n) for n in range(120 - len(articles)))]


def _chunked(
    articles: list[Article], workers: int, cached=None, stream: io.StringIO | None = None
) -> _Chunked:
    fingerprints = [a.fingerprint() for a in articles]
    progress = Progress(stream, every=0)  # a line per article
    return _chunk_all(articles, fingerprints, ChunkParams(), progress, cached, workers)


def _assert_same(got: _Chunked, want: _Chunked) -> None:
    assert got.chunks == want.chunks and got.counts == want.counts
    for mine, theirs in ((got.tokens, want.tokens), (got.article_tokens, want.article_tokens)):
        assert mine.vocab == theirs.vocab
        for a, b in zip(mine.arrays(), theirs.arrays(), strict=True):
            assert np.array_equal(a, b)


def test_two_processes_chunk_as_one_does_and_report_each_article_in_order() -> None:
    articles = _corpus()
    one, two = _Watched(), _Watched()
    serial = _chunked(articles, 1, stream=one)
    parallel = _chunked(articles, 2, stream=two)
    _assert_same(parallel, serial)
    assert len(serial.chunks) > len(articles) and parallel.cached == 0
    lines = two.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == [f"{n}/120" for n in range(1, 121)]
    assert max(one.workers) == 0 and max(two.workers) == 2
    assert not multiprocessing.active_children()  # the workers are gone once chunking ends


def test_cached_and_fresh_articles_interleave_in_corpus_order(tmp_path: Path) -> None:
    articles = _corpus()
    prep_dir = tmp_path / "work"
    fingerprints = [a.fingerprint() for a in articles]
    _keep_chunking(prep_dir, "v", fingerprints, _chunked(articles, 1))
    edited = [
        replace(a, body=f"{a.body}\n\nย่อหน้าที่เพิ่มในข่าวที่ {i}") if i % 2 == 0 else a
        for i, a in enumerate(articles)
    ]
    assert len(edited) // 2 >= MIN_PARALLEL  # enough fresh articles for the workers
    serial = _chunked(edited, 1, cached=prep.Prepared.load(prep_dir, "v"))
    stream = _Watched()
    parallel = _chunked(edited, 2, cached=prep.Prepared.load(prep_dir, "v"), stream=stream)
    _assert_same(parallel, serial)
    assert parallel.cached == 60 and max(stream.workers) == 2
    assert parallel.chunks == _chunked(edited, 1).chunks  # the cache rebuilds chunks exactly


def test_a_bad_article_is_named() -> None:
    articles = [synthetic_article(n) for n in range(60)]
    articles[55] = replace(articles[55], body=None)
    with pytest.raises(ChunkingError, match=r"cannot chunk article synthetic-55: TypeError"):
        list(chunk_pieces(articles, ChunkParams(), 2))
    assert not multiprocessing.active_children()


def test_a_killed_worker_stops_chunking_with_a_clear_error() -> None:
    chunked = chunk_pieces([synthetic_article(n) for n in range(400)], ChunkParams(), 2)
    next(chunked)  # the workers are running
    victim = multiprocessing.active_children()[0]
    os.kill(victim.pid, signal.SIGKILL)
    with pytest.raises(ChunkingError, match=r"a chunking worker process died"):
        list(chunked)
    assert not multiprocessing.active_children()


KILLED = """
import multiprocessing, time
from index.build.chunking import ChunkParams
from index.build.chunkpool import chunk_pieces
from tests.support.articles import synthetic_article

chunked = chunk_pieces([synthetic_article(n) for n in range(400)], ChunkParams(), 2)
next(chunked)
print(*(p.pid for p in multiprocessing.active_children()), flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in "ZX"  # a zombie has ended


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_workers_end_when_the_build_is_killed() -> None:
    build = subprocess.Popen(
        [sys.executable, "-c", KILLED],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        workers = [int(pid) for pid in build.stdout.readline().split()]
        # Checked before the kill: once the build is gone its workers may end at once.
        assert len(workers) == 2 and all(map(_running, workers))
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
        build.stdout.close()
    deadline = time.monotonic() + 60
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in workers if _running(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)  # left running, they would wait for work forever
    assert not survivors, "workers outlived the build"
