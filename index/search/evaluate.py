"""Retrieval and answer quality on labelled questions: SQuAD JSON or our JSONL gold format.

A SQuAD file brings its own paragraphs, so it is indexed in a throw-away index and scored by
paragraph; JSONL questions are asked of the engine as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from index.corpus.articles import Article
from index.search.answer import Answer
from index.text.thai import normalize, tokens

SQUAD_URL = "https://github.com/google-deepmind/xquad"


@dataclass
class EvalItem:
    question: str
    article_id: str | None = None  # where the answer is; None for out-of-scope questions
    keywords: tuple[str, ...] = ()  # must all appear in the returned answer
    found: bool | None = None  # expected found flag, when labelled
    id: str = ""
    answers: tuple[str, ...] = ()  # the short answers a reader should give (SQuAD files)
    also: tuple[str, ...] = ()  # other articles that state the answer too (any of them counts)
    kind: str = ""  # what the question tests ("relative-time", "known-unknown", …)

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every article whose retrieval answers the question, ``article_id`` first."""
        return (self.article_id, *self.also) if self.article_id else self.also


def holds(text: str, keywords: tuple[str, ...]) -> bool:
    """Every keyword is in ``text``, compared as match keys (normalised, lower-case). A keyword
    that starts or ends with a digit matches whole numbers only: "5" is not in "2563", nor
    "500" in "1,500"."""
    key = normalize(text).lower()
    return all(re.search(_keyword_pattern(normalize(k).lower()), key) for k in keywords)


@lru_cache(maxsize=4096)
def _keyword_pattern(keyword: str) -> str:
    head = r"(?<!\d)(?<!\d,)(?<!\d\.)" if keyword[:1].isdigit() else ""
    tail = r"(?!\d)(?![,.]\d)" if keyword[-1:].isdigit() else ""
    return head + re.escape(keyword) + tail


@dataclass
class ItemResult:
    item: EvalItem
    ranked: list[str]
    answer: Answer
    ms: float

    @property
    def rank(self) -> int | None:
        ranks = [self.ranked.index(a) + 1 for a in self.item.accepted if a in self.ranked]
        return min(ranks, default=None)

    @property
    def span_scores(self) -> tuple[float, float, float]:
        """Exact match, F1 over characters and F1 over newmm words of the short answer, each
        against the best-matching accepted answer (0 when the engine gave no short answer)."""
        given = self.answer.span if self.answer.found else ""
        return tuple(
            max(metric(given, gold) for gold in self.item.answers)
            for metric in (exact_match, f1_chars, f1_words)
        )

    @property
    def keywords_ok(self) -> bool:
        shown = self.answer.text + " " + self.answer.sentence
        return self.answer.found and holds(shown, self.item.keywords)

    @property
    def top_holds(self) -> bool:
        """The first passage holds the answer, shown or not: what a confidence predicts."""
        if not (self.item.keywords and self.answer.hits) or self.item.found is False:
            return False
        return holds(self.answer.hits[0].chunk.text, self.item.keywords)


@dataclass
class Report:
    results: list[ItemResult] = field(default_factory=list)

    def metrics(self) -> dict[str, float | int | None]:
        ranked = [r for r in self.results if r.item.article_id and r.item.found is not False]
        ranks = [r.rank for r in ranked]
        labelled = [r for r in self.results if r.item.found is not None]
        with_keys = [r for r in self.results if r.item.keywords]
        oos = [r for r in self.results if r.item.found is False]
        ms = sorted(r.ms for r in self.results)
        spans = [r.span_scores for r in self.results if r.item.answers]

        def pct(num: float, den: int) -> float | None:
            return round(100 * num / den, 2) if den else None

        return {
            "questions": len(self.results),
            "r@1": pct(sum(1 for k in ranks if k == 1), len(ranks)),
            "r@5": pct(sum(1 for k in ranks if k and k <= 5), len(ranks)),
            "mrr@10": pct(sum(1 / k for k in ranks if k and k <= 10), len(ranks)),
            "answer_accuracy": pct(sum(r.keywords_ok for r in with_keys), len(with_keys)),
            "not_found_accuracy": pct(
                sum(r.answer.found == r.item.found for r in labelled), len(labelled)
            ),
            "out_of_scope_refusal": pct(sum(not r.answer.found for r in oos), len(oos)),
            "ece": expected_calibration_error(
                [r.answer.confidence for r in labelled], [r.top_holds for r in labelled]
            ),
            "span_em": pct(sum(s[0] for s in spans), len(spans)),
            "span_f1_chars": pct(sum(s[1] for s in spans), len(spans)),
            "span_f1_words": pct(sum(s[2] for s in spans), len(spans)),
            "latency_p50_ms": round(statistics.median(ms), 2) if ms else None,
            "latency_p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2) if ms else None,
        }


def _answer_texts(qa: dict) -> tuple[str, ...]:
    """SQuAD's first answer span, so answer accuracy means "the passage shown holds it"."""
    answers = qa.get("answers") or []
    return (answers[0]["text"],) if answers and answers[0].get("text") else ()


def load_squad(path: Path) -> tuple[list[Article], list[EvalItem]]:
    """Paragraphs become articles ``p0001…``; each question expects its own paragraph."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    articles, items = [], []
    for doc in data["data"]:
        for para in doc["paragraphs"]:
            pid = f"p{len(articles):04d}"
            articles.append(
                Article(
                    pid, doc.get("title", pid), dt.date(2000, 1, 1), (SQUAD_URL,), para["context"]
                )
            )
            items += [
                EvalItem(
                    qa["question"],
                    pid,
                    _answer_texts(qa),
                    id=qa.get("id", ""),
                    answers=tuple(a["text"] for a in qa.get("answers") or ()),
                )
                for qa in para["qas"]
            ]
    return articles, items


def load_jsonl(path: Path) -> list[EvalItem]:
    items = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "question" not in row:
                raise ValueError(f"{path}:{n}: no 'question' field")
            ids = row.get("article_ids") or ([row["article_id"]] if row.get("article_id") else [])
            found = row.get("found")
            if found is None and row.get("out_of_scope") is not None:
                found = not row["out_of_scope"]
            items.append(
                EvalItem(
                    question=row["question"],
                    article_id=ids[0] if ids else None,
                    also=tuple(ids[1:]),
                    keywords=tuple(row.get("keywords", ())),
                    found=found,
                    id=str(row.get("id", n)),
                    kind=str(row.get("kind", "")),
                )
            )
    return items


def expected_calibration_error(
    confidence: list[float], right: list[bool], bins: int = 10
) -> float | None:
    """How far confidence is from the share of answers that are right, averaged over ten
    equal-width confidence bins weighted by their size (0 = a confidence of 0.8 is right 80 % of
    the time)."""
    if not confidence:
        return None
    conf, ok = np.array(confidence), np.array(right, dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gap = sum(
        abs(ok[which == b].mean() - conf[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    )
    return round(float(gap / len(conf)), 4)


def _answer_key(text: str) -> str:
    """A short answer as compared: normalised, lower-case, one space, no edge punctuation."""
    return " ".join(normalize(text).lower().split()).strip(" .,;:!?()[]\"'“”‘’")


def exact_match(given: str, gold: str) -> float:
    return float(_answer_key(given) == _answer_key(gold) != "")


def _f1(given: list[str], gold: list[str]) -> float:
    common = sum((Counter(given) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(given), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1_chars(given: str, gold: str) -> float:
    """SQuAD's F1 over characters (spaces left out): Thai has no spaces between words."""
    return _f1(list(_answer_key(given).replace(" ", "")), list(_answer_key(gold).replace(" ", "")))


def f1_words(given: str, gold: str) -> float:
    """SQuAD's F1 over newmm words."""
    return _f1(tokens(given), tokens(gold))


def ranked_articles(answer: Answer) -> list[str]:
    """Articles in the order their first chunk appears (how a paragraph's rank is defined)."""
    return list(dict.fromkeys(h.chunk.article_id for h in answer.hits))


def run(engine, items: list[EvalItem], depth: int = 30, progress=None) -> Report:
    report = Report()
    for item in items:
        started = time.perf_counter()
        answer = engine.answer(item.question, k=depth)
        ms = (time.perf_counter() - started) * 1000
        report.results.append(ItemResult(item, ranked_articles(answer), answer, ms))
        if progress:
            progress()
    return report


def evaluate_file(path: Path, engine_factory, squad_engine_factory) -> Report:
    """JSONL → ``engine_factory()``; SQuAD JSON → ``squad_engine_factory(articles, tmpdir)``."""
    path = Path(path)
    if path.suffix == ".json":
        articles, items = load_squad(path)
        with tempfile.TemporaryDirectory(prefix="dgbot-eval-") as tmp:
            engine = squad_engine_factory(articles, Path(tmp))
            return run(engine, items)
    return run(engine_factory(), load_jsonl(path))


# --------------------------------------------------------------------------- comparing runs

COMPARED = ("r@1", "mrr@10", "answer_accuracy", "out_of_scope_refusal")


def outcomes(report: Report) -> dict[str, dict]:
    """Per question, what a later run is compared against: rank, answer right, refused."""
    return {
        r.item.id: {
            "question": r.item.question,
            "rank": r.rank,
            "answer_ok": r.keywords_ok if r.item.keywords else None,
            "refused": (not r.answer.found) if r.item.found is False else None,
        }
        for r in report.results
    }


def _rank_worse(before: int | None, after: int | None) -> bool:
    return (after or 10**6) > (before or 10**6)


def regressions(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """One line per question that got worse between two ``outcomes`` (same ids only)."""
    lines = []
    for qid, now in after.items():
        old = before.get(qid)
        if old is None:
            continue
        changes = []
        if _rank_worse(old["rank"], now["rank"]):
            changes.append(f"rank {old['rank'] or '-'} → {now['rank'] or '-'}")
        if old["answer_ok"] and now["answer_ok"] is False:
            changes.append("answer wrong")
        if old["refused"] and now["refused"] is False:
            changes.append("no longer refused")
        if changes:
            lines.append(f"{qid} {now['question']}: {', '.join(changes)}")
    return lines


def quality_drops(before: dict, after: dict, tolerance: float) -> list[str]:
    """Headline metrics that fell by more than ``tolerance`` points (why a new index is refused)."""
    return [
        f"{name} {before[name]} → {after[name]}"
        for name in COMPARED
        if before.get(name) is not None
        and after.get(name) is not None
        and after[name] < before[name] - tolerance
    ]
