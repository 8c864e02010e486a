"""dgbot's retrieval engine: corpus → chunks → index → search → answer. Knows nothing of Telegram.

The public API is re-exported here; names load lazily so ``import index.thai`` stays light.
"""

from importlib import import_module

_EXPORTS = {
    "Engine": "engine",
    "CorpusInfo": "engine",
    "rebuild": "engine",
    "Answer": "answer",
    "Hit": "search",
    "Article": "corpus",
    "Chunk": "chunking",
    "Settings": "settings",
    "ModelError": "e5model",
    "IndexError_": "store",
    "CorpusError": "corpus",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
