"""From ranked passages to an answer: the sentence that answers, a confidence, or "not found".

With a reader (the default), the reader's margin and the retrieval score decide (the read
passages could also be re-ranked by the margin, ``ReaderCalibration.rerank``, which is 0 as
shipped): the answer is the reader's short span, shown in its sentence (and the sentence before
it, when the sentence only says "this award"). Without one, the sentence sharing most words with
the question is shown, and the retrieval score alone decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache

from index.model.reader import Reader, Reading
from index.search.retrieval import Hit, SearchResult
from index.text import thai
from index.text.query import years_in

MIN_SENTENCE_CHARS = 60  # crfcut cuts Thai at spaces; a shorter "sentence" is usually a fragment
# The sentence an answer is shown by, when shorter than this, is a fragment (it can only be a
# passage's last: shorter ones before are joined to what follows): its passage is shown instead.
SHOWN_SENTENCE_MIN_CHARS = 40


@dataclass(frozen=True)
class Threshold:
    """Below ``min_score`` (fused score of the best passage) the engine says it does not know.

    Calibrated on in-scope and out-of-scope questions (bench/calibrate.py); ``scale`` spreads the
    confidence so 0.5 sits exactly on the threshold.
    """

    min_score: float = 1.744
    scale: float = 0.03


@dataclass(frozen=True)
class ReaderCalibration:
    """How the reader's margin (span score − no-answer score, logits) and the retrieval score
    make a passage's probability of holding the answer: a logistic model fitted on both dev
    sets' Thai questions (v2 and v1, 193; English ones never reach the reader;
    bench/calibrate_reader.py), so a confidence of 0.8 is right about 8 times in 10.

    ``rerank`` orders the read passages by ``score + rerank · margin``, chosen on XQuAD-th and
    the thaigov FAQ together; ``found_at`` is the probability an answer must reach.
    """

    bias: float = -7.2528
    score: float = 4.2804
    margin: float = 0.2192
    rerank: float = 0.0  # every weight tried lost R@1 on both sets (BENCHMARKS.md, "Reader")
    found_at: float = 0.5095

    def probability(self, score: float, margin: float) -> float:
        z = self.bias + self.score * score + self.margin * margin
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass
class Answer:
    question: str
    found: bool
    text: str  # the passage the answer comes from
    sentence: str  # the sentence(s) in it that answer
    confidence: float  # 0..1: the chance the answer is right (reader), or 0.5 at the threshold
    hits: list[Hit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    span: str = ""  # the short answer, as written in ``sentence`` ("" without a reader)
    span_start: int = -1  # its character offsets in ``sentence``
    span_end: int = -1
    lead: str = ""  # the sentence before (or the article's title) when ``sentence`` leans on it
    unknown: bool = False  # not found, and ``sentence`` is the sources saying it is not known
    relative_year: int | None = None  # the newest year (CE) "ล่าสุด"/"ปีที่แล้ว" were read against


def answer_line(answer: Answer) -> str:
    """One line that answers: the reader's short answer, else the answering sentence, or its
    whole passage when the sentence is only a fragment. The one rule for every face of the
    engine (the bot's message and inline results), so none chooses a sentence again."""
    if answer.span:
        return answer.span
    sentence = answer.sentence.strip()
    return sentence if len(sentence) >= SHOWN_SENTENCE_MIN_CHARS else answer.text.strip()


@lru_cache(maxsize=4096)
def sentence_spans(passage: str) -> tuple[tuple[int, int], ...]:
    """Sentences of a passage, fragments joined to what follows (crfcut cuts Thai at spaces,
    so a subject such as "กรมพัฒนาธุรกิจการค้า (DBD)" can come out alone).

    Kept per passage: splitting is much of an answer's time, and the passages that answer are
    few and asked about again and again."""
    spans: list[tuple[int, int]] = []
    for start, end in thai.sentence_spans(passage):
        if spans and spans[-1][1] - spans[-1][0] < MIN_SENTENCE_CHARS:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return tuple(spans)


@lru_cache(maxsize=4096)
def _sentences(passage: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each sentence's text with its words (tokenising is cached with it)."""
    return tuple(
        (passage[start:end].strip(), frozenset(thai.tokens(passage[start:end])))
        for start, end in sentence_spans(passage)
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
    """The answer from retrieval alone: the best fused score decides, the sentence sharing most
    words with the question is shown."""
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


# How a corpus article says its sources do not know something (the corpus format fixes these
# phrases, so a gap is never mistaken for a fact).
GAP_PHRASES = ("ยังไม่พบแหล่งข้อมูล", "ไม่มีในแหล่งข้อมูล", "แหล่งข้อมูลไม่ได้ระบุ")


def gap_sentence(question: str, passage: str) -> str | None:
    """The sentence of ``passage`` stating a gap that shares most words with the question,
    among those about a year it asks about when it names one (a gap of another year is no
    answer)."""
    gaps = [s for s, _ in _sentences(passage) if any(p in s for p in GAP_PHRASES)]
    asked = years_in(question)
    if asked:
        gaps = [s for s in gaps if asked & years_in(s)]
    return best_sentence(question, " ".join(gaps)) if gaps else None


_REFUSED = {"found": False, "span": "", "span_start": -1, "span_end": -1, "lead": ""}


def known_gap(answer: Answer, threshold: Threshold) -> Answer:
    """``answer``, or "the sources do not know" when that is what the best passage says.

    Only a passage retrieval is sure of (the no-reader threshold, the asked year) counts, and
    only when nothing was found or the found sentence is itself a gap: a passage that answers
    with a fact keeps its answer. A found sentence that states a gap about something else is
    no answer at all."""
    said_gap = answer.found and any(p in answer.sentence for p in GAP_PHRASES)
    if not answer.hits or (answer.found and not said_gap):
        return answer
    top = answer.hits[0]
    sentence = gap_sentence(answer.question, top.chunk.text)
    if sentence is not None and top.year_ok and top.score >= threshold.min_score:
        return replace(answer, text=top.chunk.text, sentence=sentence, unknown=True, **_REFUSED)
    if said_gap:
        return replace(answer, text="", sentence="", **_REFUSED)
    return answer


# Words that point back to something named before: a sentence holding one is shown after the
# sentence before it (or its article's title), so the answer never says only "this award".
LEANS_ON_BEFORE = (
    "รางวัลนี้",
    "ดังกล่าว",
    "หน่วยงานนี้",
    "โครงการนี้",
    "งานนี้",
    "ระบบนี้",
    "ทั้งนี้",
    "นอกจากนี้",
    "เช่นกัน",
)


@dataclass(frozen=True)
class Located:
    """A span found in a passage, shown in its sentence."""

    sentence: str
    span_start: int  # offsets into ``sentence``
    span_end: int
    lead: str


def locate(passage: str, start: int, end: int, title: str) -> Located:
    """The sentence(s) of ``passage`` holding characters ``start:end``, the span's offsets in
    it, and what it leans on (the sentence before, or ``title`` for a passage's first)."""
    spans = sentence_spans(passage) or ((0, len(passage)),)
    first = next((n for n, (_, e) in enumerate(spans) if e > start), len(spans) - 1)
    last = next((n for n, (_, e) in enumerate(spans) if e >= end), len(spans) - 1)
    s, e = spans[first][0], spans[max(first, last)][1]
    raw = passage[s:e]
    s += len(raw) - len(raw.lstrip())
    sentence = passage[s:e].strip()
    lead = ""
    if any(word in sentence for word in LEANS_ON_BEFORE):
        lead = passage[spans[first - 1][0] : spans[first - 1][1]].strip() if first else title
    span_start = max(0, start - s)
    span_end = min(len(sentence), end - s)
    return Located(sentence, span_start, span_end, lead)


def reader_text(hit: Hit) -> tuple[str, int]:
    """What the reader reads for a passage: its article's title (context only, never an
    answer: chunks often say "the department" without naming it) and the passage."""
    head = hit.chunk.title + "\n"
    return head + hit.chunk.text, len(head)


def read_hits(reader: Reader, question: str, hits: list[Hit]) -> list[Reading]:
    """The reader's readings of ``hits``, each read with its title as context."""
    texts = [reader_text(hit) for hit in hits]
    return reader.read(question, [t for t, _ in texts], [skip for _, skip in texts])


def rerank(scores: list[float], margins: list[float], weight: float) -> list[int]:
    """Positions of the read passages, best first, by retrieval score + ``weight`` · margin
    (a stable sort: equal passages keep retrieval's order)."""
    return sorted(range(len(scores)), key=lambda i: -(scores[i] + weight * margins[i]))


def read_answer(
    question: str,
    result: SearchResult,
    readings: list[Reading],
    calibration: ReaderCalibration,
) -> Answer:
    """The answer from the reader's ``readings`` of the first passages of ``result``, ordered by
    ``rerank`` (retrieval's order when its weight is 0); the first one's probability decides."""
    hits = result.hits
    if not hits or not readings:
        return Answer(question, False, "", "", 0.0, hits)
    read = [
        replace(hit, span_score=r.span, null_score=r.null)
        for hit, r in zip(hits, readings, strict=False)
    ]
    order = rerank([h.score for h in read], [r.margin for r in readings], calibration.rerank)
    ranked = [read[i] for i in order] + hits[len(read) :]
    top, reading = ranked[0], readings[order[0]]
    conf = calibration.probability(top.score, reading.margin)
    if not top.year_ok:  # a passage about another year than the one asked is not an answer
        conf = min(conf, 0.2)
    found = conf >= calibration.found_at and reading.end > reading.start
    if not found:
        return Answer(question, False, "", "", round(conf, 4), ranked)
    _, skip = reader_text(top)
    spot = locate(top.chunk.text, reading.start - skip, reading.end - skip, top.chunk.title)
    span = spot.sentence[spot.span_start : spot.span_end]
    return Answer(
        question,
        True,
        top.chunk.text,
        spot.sentence,
        round(conf, 4),
        ranked,
        span=span,
        span_start=spot.span_start,
        span_end=spot.span_end,
        lead=spot.lead,
    )
