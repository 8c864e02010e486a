"""corpus → chunks → vectors + BM25 → index directory, re-embedding only what changed."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import thai
from .chunking import Chunk, ChunkParams, chunk_article
from .corpus import Article, CorpusError, corpus_hash, load_corpus
from .embedder import Embedder
from .lexical import Lexical
from .store import ArticleLevel, IndexError_, Manifest, open_index, write_index


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

    def summary(self) -> str:
        return (
            f"index: {self.articles} articles, {self.chunks} chunks "
            f"({self.embedded} embedded, {self.reused} reused); "
            f"+{len(self.added)} ~{len(self.changed)} -{len(self.removed)} articles; "
            f"{self.seconds:.1f}s → {self.path}"
        )


def _vector_key(model_id: str, text: str) -> str:
    return hashlib.sha1(f"{model_id}\x1f{text}".encode()).hexdigest()


def _previous_vectors(index_dir: Path, model_id: str) -> tuple[dict[str, np.ndarray], dict]:
    """Vectors of the index being replaced, keyed by what was embedded; empty if unusable."""
    try:
        old = open_index(index_dir, verify=True)
    except IndexError_:
        return {}, {}
    if old.manifest.model_id != model_id:
        return {}, old.manifest.articles
    vectors = old.vectors()
    keys = (_vector_key(model_id, c.embed_text()) for c in old.chunks)
    return dict(zip(keys, vectors, strict=True)), old.manifest.articles


def article_vectors(chunks: list[Chunk], vectors: np.ndarray, article_ids: list[str]) -> np.ndarray:
    """An article's vector is the normalised mean of its chunks' vectors: the whole topic,
    at no extra embedding cost (citizens' questions often match an article, not a sentence)."""
    row = {aid: i for i, aid in enumerate(article_ids)}
    out = np.zeros((len(article_ids), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.array([row[c.article_id] for c in chunks], dtype=np.int64), vectors)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=out, where=norms > 0)


def build_chunks(articles: list[Article], params: ChunkParams) -> list[Chunk]:
    return [chunk for article in articles for chunk in chunk_article(article, params)]


def build_index(
    articles: list[Article],
    embedder: Embedder,
    index_dir: Path,
    params: ChunkParams = ChunkParams(),
    progress: bool = False,
    extra: dict | None = None,
) -> BuildReport:
    started = time.perf_counter()
    chunks = build_chunks(articles, params)
    cache, old_articles = _previous_vectors(index_dir, embedder.model_id)
    keys = [_vector_key(embedder.model_id, c.embed_text()) for c in chunks]
    missing = [i for i, key in enumerate(keys) if key not in cache]
    fresh = embedder.encode_documents([chunks[i].embed_text() for i in missing], progress=progress)
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    for row, i in enumerate(missing):
        vectors[i] = fresh[row]
    for i, key in enumerate(keys):
        if key in cache:
            vectors[i] = cache[key]
    lexical = Lexical.build([thai.tokens(c.embed_text()) for c in chunks])
    fingerprints = {a.id: a.fingerprint() for a in articles}
    article_level = ArticleLevel(
        article_vectors(chunks, vectors, list(fingerprints)),
        Lexical.build([thai.tokens(f"{a.title}\n{a.body}") for a in articles]),
    )
    manifest = Manifest(
        model_id=embedder.model_id,
        dim=embedder.dim,
        chunker=params.as_dict(),
        corpus_hash=corpus_hash(articles),
        articles=fingerprints,
        chunk_count=len(chunks),
        extra=extra or {},
    )
    path = write_index(index_dir, manifest, chunks, vectors, lexical, article_level)
    return BuildReport(
        articles=len(articles),
        chunks=len(chunks),
        embedded=len(missing),
        reused=len(chunks) - len(missing),
        added=sorted(set(fingerprints) - set(old_articles)),
        changed=sorted(
            a for a in fingerprints if a in old_articles and old_articles[a] != fingerprints[a]
        ),
        removed=sorted(set(old_articles) - set(fingerprints)),
        skipped=[],
        seconds=time.perf_counter() - started,
        path=path,
    )


def load_articles(corpus_dir: Path, skip_bad: bool = False) -> tuple[list[Article], list[str]]:
    """Articles of a corpus; bad files stop the build unless ``skip_bad`` (then they are listed)."""
    result = load_corpus(corpus_dir)
    if result.problems and (not skip_bad or not result.articles):
        raise CorpusError(result.problems)
    return result.articles, [str(p) for p in result.problems]
