"""Reading-comprehension examples for the reader: SQuAD-style rows → token windows with a span.

The reader reads ``<s> question </s></s> passage window </s>`` and points at the first and last
token of the answer, or at ``<s>`` (position 0) when the window does not hold one. Training and
inference cut windows the same way (``window_ids``), so what the model learnt is what it reads.

Unanswerable examples are made here, SQuAD-2.0 style, so the model learns to refuse near misses:
the question against the passage of another article that shares its words (what retrieval would
wrongly propose), against its own passage with the answering sentence cut out, and against a part
of its own article that does not hold the answer.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.store.lexical import Lexical
from index.text import thai

NULL = 0  # the <s> token: where a window with no answer points
MAX_QUESTION_TOKENS = 48  # longer questions are cut: their tail is rarely what picks the span
WINDOW_TOKENS = 256  # question and passage together, special tokens included


@dataclass(frozen=True)
class QARow:
    """One question over one context; ``answer_start`` is -1 when the context holds no answer."""

    id: str
    article_id: str
    question: str
    context: str
    answer: str
    answer_start: int
    title: str = ""

    @property
    def answer_end(self) -> int:
        return self.answer_start + len(self.answer)


def read_rows(path: Path) -> list[QARow]:
    """iApp-style JSONL (optionally gzipped): ``question_id, article_id, context, question,
    answers: {text: [..], answer_start: [..]}``. The first answer is the one trained on; a row
    with no answer is a question its context does not answer."""
    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            raw = json.loads(line)
            answers = raw["answers"]
            text, start = "", -1
            if answers["text"]:
                text, start = answers["text"][0], int(answers["answer_start"][0])
                if raw["context"][start : start + len(text)] != text:
                    raise ValueError(f"{path}: {raw['question_id']}: answer is not at its offset")
            rows.append(
                QARow(
                    raw["question_id"],
                    raw["article_id"],
                    raw["question"],
                    raw["context"],
                    text,
                    start,
                    raw.get("title", ""),
                )
            )
    return rows


@dataclass(frozen=True)
class Tokenized:
    """A text's token ids with each token's character span in the text."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    text: str = ""


def tokenize(tokenizer, text: str) -> Tokenized:
    """Token ids without special tokens, and offsets into ``text`` (tokenizers' ``Tokenizer``)."""
    enc = tokenizer.encode(text, add_special_tokens=False)
    return Tokenized(list(enc.ids), [tuple(o) for o in enc.offsets], text)


def window_capacity(question_len: int, max_tokens: int = WINDOW_TOKENS) -> int:
    """Passage tokens that fit beside a question: four special tokens frame the pair."""
    return max_tokens - min(question_len, MAX_QUESTION_TOKENS) - 4


def window_ids(
    question: list[int], passage: list[int], bos: int, eos: int
) -> tuple[list[int], int]:
    """``<s> q </s></s> passage </s>`` and the position of the passage's first token."""
    question = question[:MAX_QUESTION_TOKENS]
    ids = [bos, *question, eos, eos, *passage, eos]
    return ids, len(question) + 3


def window_starts(n_tokens: int, capacity: int) -> list[int]:
    """Where the windows over a passage of ``n_tokens`` start: half a window apart, the last one
    flush with the end, so every answer of up to half a window lies whole inside one."""
    if n_tokens <= capacity:
        return [0]
    stride = max(1, capacity // 2)
    starts = list(range(0, n_tokens - capacity, stride))
    return [*starts, n_tokens - capacity]


def token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """First and last token covering characters ``start:end``, or None if no token does."""
    first = next((i for i, (_, e) in enumerate(offsets) if e > start), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


@dataclass(frozen=True)
class Example:
    """A training window: ids, and the answer's first and last position (``NULL`` if none)."""

    ids: list[int]
    start: int
    end: int
    kind: str  # "answer", "other-article", "sentence-cut" or "same-article"


class ExampleMaker:
    """Turns rows into windows; one instance per tokenizer, seeded for reproducible sampling."""

    def __init__(self, tokenizer, bos: int, eos: int, seed: int = 0):
        self.tokenizer, self.bos, self.eos = tokenizer, bos, eos
        self.rng = random.Random(seed)

    def answerable(self, row: QARow) -> Example | None:
        """A window holding the answer, placed at random around it (the model must not learn
        that answers sit at the start)."""
        q = tokenize(self.tokenizer, row.question).ids
        ctx = tokenize(self.tokenizer, row.context)
        span = token_span(ctx.offsets, row.answer_start, row.answer_end)
        cap = window_capacity(len(q))
        if span is None or span[1] - span[0] + 1 > cap:
            return None
        lo = max(0, span[1] - cap + 1)
        hi = min(span[0], max(0, len(ctx.ids) - cap))
        first = self.rng.randint(lo, hi) if hi >= lo else lo
        ids, offset = window_ids(q, ctx.ids[first : first + cap], self.bos, self.eos)
        return Example(ids, span[0] - first + offset, span[1] - first + offset, "answer")

    def unanswerable(self, row: QARow, passage: str, kind: str) -> Example | None:
        """The question against ``passage``, which must not contain the answer's text."""
        if row.answer and row.answer in passage:
            return None
        q = tokenize(self.tokenizer, row.question).ids
        ctx = tokenize(self.tokenizer, passage).ids
        cap = window_capacity(len(q))
        if not ctx:
            return None
        first = self.rng.randint(0, max(0, len(ctx) - cap))
        ids, _ = window_ids(q, ctx[first : first + cap], self.bos, self.eos)
        return Example(ids, NULL, NULL, kind)

    def sentence_cut(self, row: QARow) -> Example | None:
        """The own context with every sentence touching the answer removed."""
        spans = thai.sentence_spans(row.context)
        kept = [row.context[s:e] for s, e in spans if e <= row.answer_start or s >= row.answer_end]
        if len(kept) == len(spans):
            return None
        return self.unanswerable(row, " ".join(kept), "sentence-cut")

    def same_article(self, row: QARow) -> Example | None:
        """A part of the own context far from the answer, when the context is long enough."""
        q = tokenize(self.tokenizer, row.question).ids
        ctx = tokenize(self.tokenizer, row.context)
        cap = window_capacity(len(q))
        span = token_span(ctx.offsets, row.answer_start, row.answer_end)
        if span is None or len(ctx.ids) < 2 * cap:
            return None
        choices = [s for s in window_starts(len(ctx.ids), cap) if s > span[1] or s + cap <= span[0]]
        if not choices:
            return None
        first = self.rng.choice(choices)
        lo, hi = ctx.offsets[first][0], ctx.offsets[min(first + cap, len(ctx.ids)) - 1][1]
        return self.unanswerable(row, row.context[lo:hi], "same-article")


def paragraphs(rows: list[QARow]) -> list[tuple[str, str]]:
    """(article id, paragraph) for every distinct paragraph of the rows' contexts."""
    seen: set[str] = set()
    out = []
    for row in rows:
        if row.context in seen:
            continue
        seen.add(row.context)
        out += [(row.article_id, p.strip()) for p in row.context.split("\n") if len(p) > 80]
    return out


class NearMisses:
    """Paragraphs of other articles that share the question's words: what retrieval proposes
    wrongly. BM25 over newmm words of every paragraph in the training contexts."""

    def __init__(self, rows: list[QARow]):
        self.paragraphs = paragraphs(rows)
        self.lexical = Lexical.build([thai.tokens(text) for _, text in self.paragraphs])

    def for_row(self, row: QARow, depth: int = 10) -> list[str]:
        """The best-matching paragraphs of other articles, best first."""
        scores = self.lexical.scores(thai.tokens(row.question))
        best = np.argsort(-scores, kind="stable")[:depth]
        return [
            self.paragraphs[i][1]
            for i in best.tolist()
            if scores[i] > 0 and self.paragraphs[i][0] != row.article_id
        ]


def build_examples(
    rows: list[QARow], tokenizer, bos: int, eos: int, seed: int, negatives: float = 0.8
) -> list[Example]:
    """Every answerable window plus about ``negatives`` unanswerable ones per question, drawn in
    equal parts from near-miss paragraphs, sentence cuts and other parts of the same article."""
    maker = ExampleMaker(tokenizer, bos, eos, seed)
    misses = NearMisses(rows)
    rng = random.Random(seed + 1)
    out: list[Example] = []
    for row in rows:
        if row.answer_start < 0:  # written unanswerable: its own context is the near miss
            example = maker.unanswerable(row, row.context, "written-unanswerable")
            out += [example] if example else []
            continue
        example = maker.answerable(row)
        if example:
            out.append(example)
        for kind in ("other-article", "sentence-cut", "same-article"):
            if rng.random() >= negatives / 3:
                continue
            if kind == "other-article":
                near = misses.for_row(row)
                negative = maker.unanswerable(row, near[0], kind) if near else None
            elif kind == "sentence-cut":
                negative = maker.sentence_cut(row)
            else:
                negative = maker.same_article(row) or maker.sentence_cut(row)
            if negative:
                out.append(negative)
    return out


def batches(examples: list[Example], size: int, seed: int, epoch: int) -> Iterator[list[Example]]:
    """The epoch's examples in a shuffled order fixed by (seed, epoch), so a resumed run sees
    exactly the batches the killed one would have."""
    order = list(range(len(examples)))
    random.Random(seed * 1000 + epoch).shuffle(order)
    for i in range(0, len(order) - size + 1, size):
        yield [examples[j] for j in order[i : i + size]]


def collate(batch: list[Example], pad: int) -> dict[str, np.ndarray]:
    """Pad a batch to its longest window: ids, mask, start and end positions."""
    width = max(len(e.ids) for e in batch)
    ids = np.full((len(batch), width), pad, dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for r, e in enumerate(batch):
        ids[r, : len(e.ids)] = e.ids
        mask[r, : len(e.ids)] = 1
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "start": np.array([e.start for e in batch], dtype=np.int64),
        "end": np.array([e.end for e in batch], dtype=np.int64),
    }
