"""From ranked passages to an answer: the sentence that answers, a confidence, or "not found"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import thai
from .search import Hit, SearchResult

MIN_SENTENCE_CHARS = 60  # crfcut cuts Thai at spaces; a shorter "sentence" is usually a fragment


@dataclass(frozen=True)
class Threshold:
    """Below ``min_score`` (fused score of the best passage) the engine says it does not know.

    Calibrated on in-scope and out-of-scope questions (bench/calibrate.py); ``scale`` spreads the
    confidence so 0.5 sits exactly on the threshold.
    """

    min_score: float = 1.719
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


def _sentences(passage: str) -> list[tuple[int, int]]:
    """Sentence spans with fragments joined to what follows (crfcut cuts Thai at spaces, so a
    subject such as "กรมพัฒนาธุรกิจการค้า (DBD)" can come out as a sentence of its own)."""
    spans: list[tuple[int, int]] = []
    for start, end in thai.sentence_spans(passage):
        if spans and spans[-1][1] - spans[-1][0] < MIN_SENTENCE_CHARS:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def best_sentence(question: str, passage: str) -> str:
    """The passage sentence sharing the most (and longest) words with the question.

    Word length stands in for informativeness: in Thai, short tokens are mostly particles.
    """
    spans = _sentences(passage)
    if not spans:
        return passage.strip()
    wanted = set(thai.tokens(question))
    best, best_score = spans[0], -1.0
    for start, end in spans:
        shared = wanted & set(thai.tokens(passage[start:end]))
        score = sum(len(t) for t in shared)
        if score > best_score:
            best, best_score = (start, end), score
    return passage[best[0] : best[1]].strip()


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
