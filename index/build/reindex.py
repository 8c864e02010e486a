"""Rebuild the index beside the live one, check it, and only then put it in place.

A running service keeps answering from the engine it holds while this works in a staging
folder; the caller swaps engines once ``install`` has succeeded, so no question ever meets a
half-built index, and a failure leaves the live index untouched on disk and in memory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from index.build.builder import BuildReport, load_articles
from index.build.from_settings import build_with
from index.search.engine import Engine
from index.search.evaluate import EvalItem, quality_drops, run
from index.settings import Settings
from index.store.folder import swap_in


class ReindexError(RuntimeError):
    """The new index was not installed; the message says why."""


@dataclass
class Reindexed:
    engine: Engine
    report: BuildReport
    before: dict = field(default_factory=dict)  # gold-set metrics of the old index
    after: dict = field(default_factory=dict)  # and of the new one


def _staging(live: Path) -> Path:
    """A copy of the live index: unchanged articles keep their vectors, and added/changed/
    removed are reported against what is in service. Each reindex gets a folder of its own
    (named like a build's work folder, so ``store.sweep`` clears it after a kill): two at once
    never delete each other's."""
    live.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{live.name}-new-{os.getpid()}-", dir=live.parent))
    if live.exists():
        shutil.copytree(live, folder, dirs_exist_ok=True)
    return folder


def reindex(settings: Settings, live: Engine, gold: list[EvalItem], tolerance: float) -> Reindexed:
    """Build, open, compare on ``gold`` with ``live``, then install on disk; raises ReindexError."""
    folder = _staging(settings.index_path)
    try:
        articles, _ = load_articles(settings.corpus_dir)
        report = build_with(settings, articles, live.embedder, folder)
        fresh = live.on_index(folder)
        before, after = run(live, gold).metrics(), run(fresh, gold).metrics()
        drops = quality_drops(before, after, tolerance)
        if drops:
            raise ReindexError("the new index answers the gold set worse: " + "; ".join(drops))
        swap_in(folder, settings.index_path)
    except ReindexError:
        raise
    except Exception as exc:  # a bad corpus, a corrupt build, a full disk: all stop here
        raise ReindexError(f"{exc.__class__.__name__}: {exc}".splitlines()[0]) from exc
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Reindexed(fresh, report, before, after)
