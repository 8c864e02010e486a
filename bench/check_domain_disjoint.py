"""Check a hand-written domain reader set (bench/data/reader_domain.jsonl, reader_shapes.jsonl).

Every row must be iApp-shaped, its context one paragraph copied exactly from its article's body
as the corpus stood when the set was written (``WRITTEN_OVER``, read from git: the corpus has been
edited since, and the training data stays what was trained on), and its answer exactly at its
offsets (``context[answer_start:answer_end] == text``); an unanswerable row has three empty lists.
A row whose ``article_id`` starts ``written-`` has a paragraph written for training alone (general
knowledge, never a DG Awards fact, so it teaches a question shape and no answer the bot gives).
No question may be near a test question (every version of the gold and dev sets, and the citizen
questions the corpus must answer): words are pythainlp ``newmm`` tokens (lowercased, spaces
dropped) and the Jaccard similarity of the two word sets must not exceed 0.5. Prints the counts
and the closest pair; exits 1 on any problem.

    python -m bench.check_domain_disjoint                       # reader_domain.jsonl
    python -m bench.check_domain_disjoint bench/data/reader_shapes.jsonl
    python -m bench.check_domain_disjoint other.jsonl --rev HEAD   # a new set
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from pythainlp.tokenize import word_tokenize

from index.corpus.articles import Article, parse_article

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench/data/reader_domain.jsonl"
# The commit whose corpus each set's questions were written over, and whether the set must cover
# every article (the domain set teaches the corpus's wording; the shapes set teaches "why" and
# negation questions, which only some paragraphs can answer).
WRITTEN_OVER = {
    "reader_domain.jsonl": ("82bbfa8", True),
    "reader_shapes.jsonl": ("37b98fa", False),
    "reader_shapes_heldout.jsonl": ("37b98fa", False),  # never trained on: bench/reader_shapes.py
}
WRITTEN = "written-"  # article ids of paragraphs written for training alone
TESTS = [
    REPO / "tests/data" / name
    for name in ("gold_questions.jsonl", "dev_questions.jsonl", "gold_v1.jsonl", "dev_v1.jsonl")
]
CITIZEN = REPO / "bench/data/citizen_questions.txt"  # the questions Corpus v2 must answer
KEYS = {"question_id", "article_id", "title", "context", "question", "answers"}
MAX_JACCARD = 0.5


def words(text: str) -> set[str]:
    return {w.lower() for w in word_tokenize(text, engine="newmm") if w.strip()}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]


def check_row(row: dict, articles: dict) -> list[str]:
    """What is wrong with one row (empty when nothing is)."""
    missing = KEYS - row.keys()
    if missing:
        return [f"missing {sorted(missing)}"]
    problems = []
    if row["article_id"].startswith(WRITTEN):
        if row["article_id"] in articles:
            problems.append("a written paragraph has a corpus article's id")
    elif (article := articles.get(row["article_id"])) is None:
        return [f"unknown article {row['article_id']!r}"]
    else:
        if row["title"] != article.title:
            problems.append("title differs from the article's")
        if row["context"] not in paragraphs(article.body):
            problems.append("context is not a paragraph of the article")
    if not row["question"].strip():
        problems.append("empty question")
    ans = row["answers"]
    texts, starts, ends = ans.get("text"), ans.get("answer_start"), ans.get("answer_end")
    if not (isinstance(texts, list) and isinstance(starts, list) and isinstance(ends, list)):
        return [*problems, "answers must hold three lists"]
    if not len(texts) == len(starts) == len(ends):
        problems.append("answer lists differ in length")
    for text, start, end in zip(texts, starts, ends, strict=False):
        if not text or row["context"][start:end] != text or end - start != len(text):
            problems.append(f"answer {text!r} is not at {start}:{end}")
    return problems


def corpus_at(rev: str) -> dict[str, Article]:
    """The corpus articles as they were at git revision ``rev``, by id."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout

    names = git("ls-tree", "--name-only", rev, "corpus/").split()
    articles = [parse_article(git("show", f"{rev}:{name}"), name) for name in names]
    return {a.id: a for a in articles}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DATA)
    parser.add_argument("--max-jaccard", type=float, default=MAX_JACCARD)
    parser.add_argument("--rev", help="the commit the rows were written over (another file)")
    args = parser.parse_args(argv)

    pinned, covers_all = WRITTEN_OVER.get(args.path.name, (None, False))
    rev = args.rev or pinned
    if rev is None:
        parser.error(f"--rev: which commit's corpus {args.path.name} was written over")
    articles = corpus_at(rev)
    tests = []
    for path in TESTS:
        with path.open(encoding="utf-8") as fh:
            test_rows = [json.loads(line) for line in fh if line.strip()]
        tests += [(t["id"], t["question"]) for t in test_rows]
    citizen = CITIZEN.read_text(encoding="utf-8").splitlines()
    tests += [(f"citizen-{n}", q) for n, q in enumerate(citizen, 1) if q.strip()]
    test_words = [(tid, question, words(question)) for tid, question in tests]

    problems: list[str] = []
    rows, ids, questions = [], set(), set()
    with args.path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {n}: not JSON ({exc})")
                continue
            qid = row.get("question_id", f"line {n}")
            if qid in ids:
                problems.append(f"{qid}: duplicate question_id")
            if row.get("question") in questions:
                problems.append(f"{qid}: duplicate question")
            ids.add(qid)
            questions.add(row.get("question"))
            problems += [f"{qid}: {p}" for p in check_row(row, articles)]
            rows.append(row)

    best = (0.0, "", "")  # score, our question, the test question
    for row in rows:
        mine = words(row.get("question", ""))
        for tid, question, theirs in test_words:
            score = jaccard(mine, theirs)
            if score > best[0]:
                best = (
                    score,
                    f"{row.get('question_id')} {row.get('question')}",
                    f"{tid} {question}",
                )
            if score > args.max_jaccard:
                problems.append(
                    f"{row.get('question_id')}: Jaccard {score:.2f} with {tid} ({question})"
                )

    answerable = sum(1 for r in rows if r.get("answers", {}).get("text"))
    per_article = Counter(r.get("article_id") for r in rows)
    print(f"rows {len(rows)}: answerable {answerable}, unanswerable {len(rows) - answerable}")
    print(
        f"corpus articles covered {len(set(per_article) & set(articles))}/{len(articles)}, "
        f"written paragraphs {sum(a.startswith(WRITTEN) for a in per_article)}, "
        f"rows per article {min(per_article.values(), default=0)}-"
        f"{max(per_article.values(), default=0)}"
    )
    print(f"max Jaccard vs the test questions {best[0]:.3f}: {best[1]} ~ {best[2]}")
    uncovered = sorted(set(articles) - set(per_article))
    if covers_all and uncovered:
        problems.append(f"articles without rows: {', '.join(uncovered)}")
    for problem in problems:
        print("PROBLEM", problem)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
