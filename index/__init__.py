"""dgbot's retrieval engine: corpus → chunks → index → search → answer. Knows nothing of Telegram.

The public API is re-exported here; names load lazily so ``import index.text.thai`` stays light.
"""

from importlib import import_module

_EXPORTS = {
    "Engine": "search.engine",
    "CorpusInfo": "search.engine",
    "rebuild": "search.engine",
    "Answer": "search.answer",
    "Hit": "search.retrieval",
    "Article": "corpus.articles",
    "Chunk": "build.chunking",
    "Settings": "settings",
    "ModelError": "model.e5",
    "IndexLoadError": "store.folder",
    "CorpusError": "corpus.articles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
