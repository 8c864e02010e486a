"""dgbot's retrieval engine: corpus → chunks → index → search → answer. Knows nothing of Telegram.

The public API is re-exported here, and it is all the bot may use of the engine (an
import-linter contract in pyproject.toml holds it to that); names load lazily so
``import index.text.thai`` stays light. A value ``"module:name"`` exports ``name`` under another
name, where two modules use the same one.
"""

from importlib import import_module

_EXPORTS = {
    "Engine": "search.engine",
    "CorpusInfo": "search.engine",
    "open_or_build": "build.from_settings",
    "rebuild": "build.from_settings",
    "reindex": "build.reindex",
    "ReindexError": "build.reindex",
    "Answer": "search.answer",
    "answer_line": "search.answer",
    "Hit": "search.retrieval",
    "load_jsonl": "search.evaluate",
    "outcomes": "search.evaluate",
    "regressions": "search.evaluate",
    "run_evaluation": "search.evaluate:run",
    "Article": "corpus.articles",
    "Chunk": "store.chunkfile",
    "BE_OFFSET": "text.thaidate",
    "arabic_digits": "text.thaidate",
    "thai_date": "text.thaidate",
    "merge_followup": "text.followup:merge",
    "Settings": "settings",
    "SettingsError": "settings",
    "EnvSettings": "settings",
    "CsvInts": "settings",
    "create_once": "atomic",
    "build_parser": "cli",
    "run_command": "cli:run",
    "ModelError": "model.e5",
    "IndexLoadError": "store.folder",
    "CorpusError": "corpus.articles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module, _, attribute = _EXPORTS[name].partition(":")
        return getattr(import_module(f".{module}", __name__), attribute or name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")
