"""The build as ``Settings`` ask for it: ``dgbot index build``, and a first run's build.

The query side (``index.search``) never builds: whoever may start without an index (the bot,
the CLI) calls ``open_or_build`` here, which builds the missing index and then opens the engine.
"""

from __future__ import annotations

from pathlib import Path

from index.build.builder import BuildReport, build_index, load_articles
from index.build.chunking import ChunkParams
from index.corpus.articles import Article
from index.model.embedder import Embedder, load_embedder
from index.model.reader import Reader
from index.search.engine import Engine
from index.settings import Settings
from index.store.folder import MANIFEST


def build_with(
    settings: Settings, articles: list[Article], embedder: Embedder, folder: Path, **options
) -> BuildReport:
    """``build_index`` as the settings ask (store kind by size, chunking processes); ``options``
    are the build's own (progress, chunking cache)."""
    return build_index(
        articles,
        embedder,
        folder,
        ChunkParams(),
        exact_limit=settings.exact_limit,
        workers=settings.threads,
        **options,
    )


def rebuild(settings: Settings, embedder: Embedder, skip_bad: bool = False) -> BuildReport:
    """``dgbot index build``: the corpus into ``settings.index_path``, reusing unchanged vectors."""
    articles, skipped = load_articles(settings.corpus_dir, skip_bad=skip_bad)
    report = build_with(
        settings, articles, embedder, settings.index_path, progress=True, cache_chunks=True
    )
    report.skipped = skipped
    return report


def open_or_build(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    index_dir: Path | None = None,
    reader: Reader | None = None,
) -> Engine:
    """``Engine.open``, after building the index from the corpus when there is none yet (a first
    run). The model is loaded here only for that build, and then handed on, so it loads once."""
    folder = index_dir or settings.index_path
    if not (folder / MANIFEST).is_file():
        embedder = embedder or load_embedder(settings)
        articles, _ = load_articles(settings.corpus_dir)
        build_with(settings, articles, embedder, folder)
    return Engine.open(settings, embedder=embedder, index_dir=folder, reader=reader)
