"""From ranked passages to an answer: the sentence that answers, a confidence, or "not found"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from . import thai
from .search import Hit, SearchResult

MIN_SENTENCE_CHARS = 60  # crfcut cuts Thai at spaces; a shorter "sentence" is usually a fragment


@dataclass(frozen=True)
class Threshold:
    """Below ``min_score`` (fused score of the best passage) the engine says it does not know.

    Calibrated on in-scope and out-of-scope questions (bench/calibrate.py); ``scale`` spreads the
    confidence so 0.5 sits exactly on the threshold.
    """

    min_score: float = 1.744
    scale: float = 0.03


@dataclass
class Answer:
    question: str
    found: bool
    text: str  # the passage the answer comes from
    sentence: str  # the sentence(s) in it that answer
    confidence: float  # 0..1, 0.5 at the not-found threshold
    hits: list[Hit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=4096)
def _sentences(passage: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """Sentences of a passage with their words, fragments joined to what follows (crfcut cuts
    Thai at spaces, so a subject such as "กรมพัฒนาธุรกิจการค้า (DBD)" can come out alone).

    Kept per passage: splitting and tokenising is most of an answer's time, and the passages
    that answer are few and asked about again and again."""
    spans: list[tuple[int, int]] = []
    for start, end in thai.sentence_spans(passage):
        if spans and spans[-1][1] - spans[-1][0] < MIN_SENTENCE_CHARS:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return tuple(
        (passage[start:end].strip(), frozenset(thai.tokens(passage[start:end])))
        for start, end in spans
    )


def best_sentence(question: str, passage: str) -> str:
    """The passage sentence sharing the most (and longest) words with the question.

    Word length stands in for informativeness: in Thai, short tokens are mostly particles.
    """
    sentences = _sentences(passage)
    if not sentences:
        return passage.strip()
    wanted = set(thai.tokens(question))
    best, best_score = sentences[0][0], -1.0
    for sentence, words in sentences:
        score = sum(len(t) for t in wanted & words)
        if score > best_score:
            best, best_score = sentence, score
    return best


def confidence(score: float, threshold: Threshold) -> float:
    return 1.0 / (1.0 + math.exp(-(score - threshold.min_score) / threshold.scale))


def make_answer(question: str, result: SearchResult, threshold: Threshold) -> Answer:
    hits, best = result.hits, result.best
    if best is None:
        return Answer(question, False, "", "", 0.0, hits)
    conf = confidence(best.score, threshold)
    # A passage about another year than the one asked is not an answer, however close it is.
    if not best.year_ok:
        conf = min(conf, 0.2)
    found = best.year_ok and best.score >= threshold.min_score
    top = hits[0]
    sentence = best_sentence(question, top.chunk.text) if found else ""
    return Answer(question, found, top.chunk.text if found else "", sentence, round(conf, 4), hits)
