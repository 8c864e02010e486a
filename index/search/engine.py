"""The engine's public face: open once, then ``answer`` and ``search`` as often as needed.

Everything outside ``index/`` (the bot, the CLI, benchmarks) goes through this class. It only
reads an index: building one is ``index.build``'s (``from_settings.open_or_build``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.model.embedder import Embedder, load_embedder
from index.model.reader import Reader, load_reader
from index.search.answer import (
    Answer,
    ReaderCalibration,
    Threshold,
    known_gap,
    make_answer,
    read_answer,
    read_hits,
)
from index.search.retrieval import Fusion, Searcher, SearchResult
from index.settings import Settings
from index.store.folder import open_index
from index.text import thai
from index.text.query import (
    names_latest,
    names_relative_year,
    with_years_written,
    written_in_english,
)


@dataclass(frozen=True)
class CorpusInfo:
    articles: int
    chunks: int
    first_date: str
    last_date: str
    years: tuple[int, ...]
    built_at: str
    model_id: str


class Engine:
    def __init__(
        self,
        embedder: Embedder,
        searcher: Searcher,
        threshold: Threshold = Threshold(),
        reader: Reader | None = None,
        passages: int = 1,
        calibration: ReaderCalibration = ReaderCalibration(),
    ):
        """``reader`` reads the first ``passages`` hits of every search; without one the
        retrieval score alone decides against ``threshold``."""
        self.embedder, self.searcher, self.threshold = embedder, searcher, threshold
        self.reader, self.passages, self.calibration = reader, passages, calibration

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        index_dir: Path | None = None,
        reader: Reader | None = None,
    ) -> Engine:
        """Load model and index (``index.build.from_settings.open_or_build`` builds a missing one).

        The Thai word list and sentence splitter load on a second thread meanwhile, so the
        first question does not pay for them and start-up pays for them only once.
        """
        thai_ready = threading.Thread(target=thai.warm_up, name="thai-warm-up", daemon=True)
        thai_ready.start()
        embedder = embedder or load_embedder(settings)
        folder = index_dir or settings.index_path
        if reader is None and settings.reader_passages:
            reader = load_reader(settings.model_dir, settings.cache_dir, settings.threads)
        engine = cls(
            embedder,
            Searcher(open_index(folder, expect_sha256=settings.index_sha256), embedder, Fusion()),
            reader=reader,
            passages=settings.reader_passages,
        )
        thai_ready.join()
        return engine

    def on_index(self, folder: Path) -> Engine:
        """This engine (model, fusion, reader, calibration) over the index at ``folder``."""
        searcher = Searcher(open_index(folder), self.embedder, self.searcher.fusion)
        return Engine(
            self.embedder, searcher, self.threshold, self.reader, self.passages, self.calibration
        )

    def search(self, question: str, k: int = 5, reference_year: int | None = None) -> SearchResult:
        return self.searcher.search(question, k, reference_year)

    def answer(self, question: str, k: int = 5, reference_year: int | None = None) -> Answer:
        """``reference_year`` (e.g. the year of the article a follow-up is about) resolves
        "ปีที่แล้ว"-style years; without it they, and "ล่าสุด" always, mean the corpus's newest
        year, and the answer says which year that was (``relative_year``). A question in
        English is answered by retrieval alone: the reader knows Thai questions only."""
        started = time.perf_counter()
        relative = None
        if names_latest(question) or (reference_year is None and names_relative_year(question)):
            relative = reference_year = self.newest_year()
        result = self.search(question, max(k, self.passages if self.reader else 0), reference_year)
        searched = time.perf_counter()
        timings = dict(result.timings_ms)
        if self.reader and self.passages and not written_in_english(question):
            asked = with_years_written(question, reference_year)
            readings = read_hits(self.reader, asked, result.hits[: self.passages])
            read = time.perf_counter()
            timings["read"] = round((read - searched) * 1000, 2)
            answer = read_answer(question, result, readings, self.calibration)
            searched = read
        else:
            answer = make_answer(question, result, self.threshold)
        answer = known_gap(answer, self.threshold)
        answer.hits = answer.hits[:k]
        answer.relative_year = relative
        done = time.perf_counter()
        answer.timings_ms = {
            **timings,
            "answer": round((done - searched) * 1000, 2),  # choosing the answering sentence
            "total": round((done - started) * 1000, 2),
        }
        return answer

    def newest_year(self) -> int | None:
        """The year (CE) of the corpus's newest article: what "ล่าสุด" and "ปีนี้" mean."""
        dates = self.searcher.index.chunks.dates
        return int(dates[-1][:4]) if dates else None

    def embed_questions(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of questions, as the engine reads them: lets callers group similar
        questions (e.g. the unanswered ones) by cosine without knowing the model."""
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return self.embedder.encode_queries(list(texts))

    def info(self) -> CorpusInfo:
        index = self.searcher.index
        dates = index.chunks.dates
        return CorpusInfo(
            articles=len(index.manifest.articles),
            chunks=len(index.chunks),
            first_date=dates[0] if dates else "",
            last_date=dates[-1] if dates else "",
            years=tuple(sorted({int(d[:4]) for d in dates})),
            built_at=index.manifest.created_at,
            model_id=index.manifest.model_id,
        )
