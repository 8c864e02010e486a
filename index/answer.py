"""From ranked passages to an answer: the sentence that answers, a confidence, or "not found"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import thai
from .search import Hit


@dataclass(frozen=True)
class Threshold:
    """Below ``min_score`` (fused score of the best passage) the engine says it does not know.

    Calibrated on in-scope and out-of-scope questions (bench/calibrate.py); ``scale`` spreads the
    confidence so 0.5 sits exactly on the threshold.
    """

    min_score: float = 0.80
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


def best_sentence(question: str, passage: str) -> str:
    """The passage sentence sharing the most (and longest) words with the question.

    Word length stands in for informativeness: in Thai, short tokens are mostly particles.
    """
    spans = thai.sentence_spans(passage)
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


def make_answer(question: str, hits: list[Hit], threshold: Threshold) -> Answer:
    if not hits:
        return Answer(question, False, "", "", 0.0, hits)
    top = hits[0]
    conf = confidence(top.score, threshold)
    found = top.score >= threshold.min_score
    sentence = best_sentence(question, top.chunk.text) if found else ""
    return Answer(question, found, top.chunk.text if found else "", sentence, round(conf, 4), hits)
