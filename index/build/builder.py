"""corpus → chunks → vectors + BM25 → index directory, re-embedding only what changed.

Built to stay lean at tens of thousands of articles: token lists become int32 ids as they are
made, each vector exists once in memory (inside the vector store; the previous index is read
back in blocks), new embeddings are checkpointed in shards so a killed build resumes (see
embedding_shards.py), and every long step reports progress with an ETA.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

import numpy as np

from index.build import chunk_cache as prep
from index.build.chunking import ChunkParams, make_chunk
from index.build.chunkpool import chunk_pieces, worker_count
from index.build.embedding_shards import Checkpoint, vector_key
from index.corpus.articles import Article, CorpusError, corpus_hash, load_corpus
from index.model.embedder import Embedder
from index.progress import Progress
from index.store.chunkfile import Chunk
from index.store.folder import (
    CHUNKS,
    DENSE,
    ArticleLevel,
    IndexLoadError,
    Manifest,
    iter_chunks,
    open_vectors,
    read_checked_manifest,
    write_index,
)
from index.store.tokenids import TokenIds
from index.store.vectors import (
    DEFAULT_EXACT_LIMIT,
    RowReader,
    VectorStore,
    choose,
    create_store,
    rows_on_disk,
)

SHARD_SIZE = 512  # chunks embedded between checkpoints (about 20 s of work on two cores)
BLOCK = 8192  # vectors moved into the new store at a time
CACHE_EVERY = 300.0  # seconds of chunking between saves of the chunking cache


@dataclass
class BuildReport:
    articles: int
    chunks: int
    embedded: int
    reused: int
    added: list[str]
    changed: list[str]
    removed: list[str]
    skipped: list[str]
    seconds: float
    path: Path
    resumed: int = 0  # vectors found in a killed build's checkpoint shards
    rechunked: int = 0  # articles chunked afresh (the others came from the chunking cache)
    store: str = "flat"

    def summary(self) -> str:
        resumed = f", {self.resumed} from an interrupted build" if self.resumed else ""
        return (
            f"index: {self.articles} articles, {self.chunks} chunks "
            f"({self.embedded} embedded, {self.reused} reused{resumed}; {self.store} search); "
            f"+{len(self.added)} ~{len(self.changed)} -{len(self.removed)} articles; "
            f"{self.seconds:.1f}s → {self.path}"
        )


class _Known:
    """Where every already-embedded text's vector can be read: a row of the previous index, or
    a row of a checkpoint shard. Only locations are held; vectors are read when placed."""

    def __init__(self) -> None:
        self.where: dict[bytes, tuple[int, int]] = {}  # key → (source, row); source 0 = old index
        self.shards: list[Path | None] = [None]
        self.old: VectorStore | RowReader | None = None
        self._cache: dict[int, np.ndarray] = {}

    def add_previous(self, index_dir: Path, model_id: str) -> dict[str, str]:
        """Index the vectors of the index being replaced; its articles' fingerprints."""
        try:
            manifest = read_checked_manifest(index_dir, only=(DENSE, CHUNKS))
            if manifest.model_id != model_id:
                return manifest.articles
            where, rows = {}, 0
            for rows, chunk in enumerate(iter_chunks(index_dir), 1):
                where.setdefault(vector_key(model_id, chunk.embed_text()), (0, rows - 1))
            spec = manifest.store_spec
            old = rows_on_disk(index_dir, spec, rows, manifest.dim) or open_vectors(
                index_dir, manifest
            )
        except (IndexLoadError, OSError, ValueError, TypeError):
            return {}  # unreadable: rebuild from scratch
        if rows != old.ntotal or rows != manifest.chunk_count:
            return {}
        self.old, self.where = old, where
        return manifest.articles

    def add_shard(self, path: Path, keys: list[bytes], vectors: np.ndarray | None = None) -> None:
        source = len(self.shards)
        self.shards.append(path)
        for row, key in enumerate(keys):
            self.where.setdefault(key, (source, row))
        if vectors is not None:
            self._remember(source, vectors)

    def _remember(self, source: int, vectors: np.ndarray) -> None:
        if len(self._cache) >= 4:  # shards are met in build order: a few recent ones suffice
            self._cache.pop(next(iter(self._cache)))
        self._cache[source] = vectors

    def _shard(self, source: int) -> np.ndarray:
        if source not in self._cache:
            with np.load(self.shards[source]) as data:
                self._remember(source, data["vectors"])
        return self._cache[source]

    def gather(self, keys: list[bytes], dim: int) -> np.ndarray:
        out = np.empty((len(keys), dim), dtype=np.float32)
        places = [self.where[k] for k in keys]
        old_rows = [(i, row) for i, (source, row) in enumerate(places) if source == 0]
        if old_rows:
            at, rows = zip(*old_rows, strict=True)
            out[list(at)] = self.old.reconstruct_batch(np.array(rows, dtype=np.int64))
        for i, (source, row) in enumerate(places):
            if source:
                out[i] = self._shard(source)[row]
        return out


@dataclass
class _Chunked:
    chunks: list[Chunk]
    tokens: TokenIds  # BM25 words of each chunk, as ids (never kept as strings)
    article_tokens: TokenIds  # and of each whole article
    counts: list[int]  # chunks per article
    cached: int  # articles whose chunking came from the cache


def _chunk_all(
    articles: list[Article],
    fingerprints: list[str],
    params: ChunkParams,
    progress: Progress,
    cached: prep.Prepared | None,
    workers: int = 1,
    keep: Callable[[_Chunked], None] | None = None,
) -> _Chunked:
    """Chunks in corpus order; an article chunked by an earlier build is taken from ``cached``,
    the others are chunked by ``workers`` processes. ``keep`` is handed what is done so far
    every ``CACHE_EVERY`` seconds, once only fresh articles are left (saving then loses no
    cached article), so a build killed while chunking keeps its work."""
    stage = progress.stage("chunking", len(articles), "articles")
    out = _Chunked([], TokenIds(), TokenIds(), [], 0)
    rows = [cached.row.get(fingerprint) if cached else None for fingerprint in fingerprints]
    fresh = [article for article, row in zip(articles, rows, strict=True) if row is None]
    last_cached = max((i for i, row in enumerate(rows) if row is not None), default=-1)
    kept = time.monotonic()
    with closing(chunk_pieces(fresh, params, workers)) as chunked:
        for i, (article, row) in enumerate(zip(articles, rows, strict=True)):
            if row is None:
                made = next(chunked)
                for words in made.chunk_words:
                    out.tokens.add(words)
                out.article_tokens.add(made.article_words)
                spans = made.spans
            else:
                spans = cached.spans_of(row).tolist()
                cached.add_tokens(row, out.tokens, out.article_tokens)
                out.cached += 1
            out.chunks.extend(make_chunk(article, n, a, b) for n, (a, b) in enumerate(spans))
            out.counts.append(len(spans))
            stage.advance()
            if keep and i >= last_cached and time.monotonic() - kept >= CACHE_EVERY:
                keep(out)
                kept = time.monotonic()
    return out


def _keep_chunking(folder: Path, version: str, fingerprints: list[str], done: _Chunked) -> None:
    """Write the chunking of the first ``len(done.counts)`` articles to the chunking cache."""
    spans = np.array([(c.start, c.end) for c in done.chunks], dtype=np.int64)
    fingerprints = fingerprints[: len(done.counts)]
    prep.save(folder, version, fingerprints, done.counts, spans, done.tokens, done.article_tokens)


def _embed_missing(
    todo: list[int],
    chunks: list[Chunk],
    keys: list[bytes],
    embedder: Embedder,
    checkpoint: Checkpoint,
    known: _Known,
    progress: Progress,
    shard_size: int,
) -> None:
    """Embed the chunks at ``todo``, a checkpoint shard at a time."""
    stage = progress.stage("embedding", len(todo), "chunks")
    for start in range(0, len(todo), shard_size):
        part = todo[start : start + shard_size]
        vectors = embedder.encode_documents([chunks[i].embed_text() for i in part])
        shard_keys = [keys[i] for i in part]
        known.add_shard(checkpoint.write(shard_keys, vectors), shard_keys, vectors)
        stage.advance(len(part))


def _fill_store(
    keys: list[bytes],
    article_rows: np.ndarray,
    n_articles: int,
    known: _Known,
    dim: int,
    exact_limit: int,
    progress: Progress,
) -> tuple[VectorStore, np.ndarray]:
    """The vector store in chunk order, and each article's vector: the normalised mean of its
    chunks' vectors (the whole topic, at no extra embedding cost)."""
    store = create_store(dim, choose(len(keys), exact_limit))
    sums = np.zeros((n_articles, dim), dtype=np.float32)
    stage = progress.stage(f"indexing ({store.spec.kind})", len(keys), "vectors")
    for start in range(0, len(keys), BLOCK):
        block = known.gather(keys[start : start + BLOCK], dim)
        store.add(block)
        np.add.at(sums, article_rows[start : start + BLOCK], block)
        stage.advance(len(block))
    return store, unit_rows(sums)


def unit_rows(sums: np.ndarray) -> np.ndarray:
    """``sums`` with each row scaled to unit length, in place (all-zero rows stay zero): an
    article's vector from the sum of its chunks' vectors."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=sums, where=norms > 0)


def build_index(
    articles: list[Article],
    embedder: Embedder,
    index_dir: Path,
    params: ChunkParams = ChunkParams(),
    progress: bool | TextIO = False,
    extra: dict | None = None,
    *,
    exact_limit: int = DEFAULT_EXACT_LIMIT,
    shard_size: int = SHARD_SIZE,
    cache_chunks: bool = False,
    workers: int = 1,
) -> BuildReport:
    """Build ``index_dir`` from ``articles``; vectors of unchanged texts come from the index
    being replaced or from the checkpoint of a build that was interrupted.

    ``progress``: True for progress lines on stderr, or a stream to write them to.
    ``cache_chunks``: keep the chunking in the work folder for the next build (chunk_cache.py);
    for a long-lived index (``dgbot index build``), not for throw-away or staging builds.
    ``workers``: processes that chunk the articles not in that cache (0: one per core).
    """
    started = time.perf_counter()
    report = Progress(sys.stderr if progress is True else progress or None)
    index_dir = Path(index_dir)
    model_id, dim = embedder.model_id, embedder.dim
    checkpoint = Checkpoint(index_dir, dim)
    fingerprints = {a.id: a.fingerprint() for a in articles}
    version = prep.version(params) if cache_chunks else ""
    cached = prep.Prepared.load(checkpoint.folder, version) if cache_chunks else None
    keep = partial(_keep_chunking, checkpoint.folder, version, list(fingerprints.values()))
    chunked = _chunk_all(
        articles,
        list(fingerprints.values()),
        params,
        report,
        cached,
        worker_count(workers),
        keep if cache_chunks else None,
    )
    chunks, cached_articles = chunked.chunks, chunked.cached
    del cached
    if cache_chunks and chunked.cached < len(articles):
        keep(chunked)
    keys = [vector_key(model_id, c.embed_text()) for c in chunks]

    known = _Known()
    old_articles = known.add_previous(index_dir, model_id)
    reusable = len(known.where)
    for path in checkpoint.shards():
        shard = checkpoint.read(path)
        if shard:
            known.add_shard(path, shard[0])
    needed = set(keys)
    resumed = sum(1 for key, (source, _) in known.where.items() if source and key in needed)
    del needed
    first: dict[bytes, int] = {}  # each new text is embedded once, however many chunks share it
    for i, key in enumerate(keys):
        if key not in known.where:
            first.setdefault(key, i)
    todo = list(first.values())
    del first
    report.note(
        f"{len(articles):,} articles → {len(chunks):,} chunks ({chunked.cached:,} articles' "
        f"chunking reused): {len(todo):,} to embed; vectors reused: {resumed:,} from an "
        f"interrupted build, {reusable:,} in the previous index"
    )
    _embed_missing(todo, chunks, keys, embedder, checkpoint, known, report, shard_size)

    report.note("building BM25")  # before the new vector store exists: the two peaks apart
    lexical, article_lexical = chunked.tokens.lexical(), chunked.article_tokens.lexical()
    del chunked
    row_of = {aid: i for i, aid in enumerate(fingerprints)}
    article_rows = np.fromiter((row_of[c.article_id] for c in chunks), np.int64, len(chunks))
    store, article_vecs = _fill_store(
        keys, article_rows, len(fingerprints), known, dim, exact_limit, report
    )
    known.old = None
    article_level = ArticleLevel(article_vecs, article_lexical)
    manifest = Manifest(
        model_id=model_id,
        dim=dim,
        chunker=params.as_dict(),
        corpus_hash=corpus_hash(articles),
        articles=fingerprints,
        chunk_count=len(chunks),
        extra=extra or {},
    )
    report.note("writing the index")
    path = write_index(index_dir, manifest, chunks, store, lexical, article_level)
    checkpoint.remove()
    result = BuildReport(
        articles=len(articles),
        chunks=len(chunks),
        embedded=len(todo),
        reused=len(chunks) - len(todo),
        added=sorted(set(fingerprints) - set(old_articles)),
        changed=sorted(
            a for a in fingerprints if a in old_articles and old_articles[a] != fingerprints[a]
        ),
        removed=sorted(set(old_articles) - set(fingerprints)),
        skipped=[],
        seconds=time.perf_counter() - started,
        path=path,
        resumed=resumed,
        rechunked=len(articles) - cached_articles,
        store=store.spec.kind,
    )
    report.note(result.summary())
    return result


def load_articles(corpus_dir: Path, skip_bad: bool = False) -> tuple[list[Article], list[str]]:
    """Articles of a corpus; bad files stop the build unless ``skip_bad`` (then they are listed)."""
    result = load_corpus(corpus_dir)
    if result.problems and (not skip_bad or not result.articles):
        raise CorpusError(result.problems)
    return result.articles, [str(p) for p in result.problems]
