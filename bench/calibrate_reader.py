"""Calibrate the reader's confidence on the DEV questions, so the gold set stays unseen.

For every dev question the engine searches, the reader reads the first passages, and they are
re-ranked as shipped (``ReaderCalibration.rerank``); the top passage's retrieval score and reader
margin are recorded with whether it holds the answer (in scope, all keywords in the passage).
A logistic model of "holds the answer" on those two (L2-regularised: dev is small) becomes the
confidence; the cut (``found_at``) is the probability with the best balanced accuracy
(in-scope answered correctly + out-of-scope refused), ties towards refusing.

    python -m bench.calibrate_reader [--shipped reader-L8.safetensors] [--questions FILE ...]

Both dev sets are used by default (v2, then v1): more questions for three parameters, and
both kinds of wording. Questions written in English are left out: the engine answers them by
retrieval alone (the reader never reads them), and fitted as "no reading" they pulled the
retrieval score's weight below zero.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.calibrate import REPO
from bench.reader import trial_reader
from index.build.from_settings import open_or_build
from index.search.engine import Engine
from index.search.evaluate import load_jsonl, run
from index.settings import Settings
from index.text.query import written_in_english

DEV = (REPO / "tests/data/dev_questions.jsonl", REPO / "tests/data/dev_v1.jsonl")
L2 = 0.1  # ridge on the weights (not the bias): a few hundred questions, three parameters
MARGIN_CLIP = 20.0  # logits beyond this say nothing more


def collect(engine: Engine, items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per question: (score, margin) of the top passage after re-ranking, whether it holds the
    answer, whether the question is in scope. Another-year passages get the worst features."""
    features = []
    report = run(engine, items, depth=engine.passages)
    for result in report.results:
        top = result.answer.hits[0] if result.answer.hits else None
        if top is None or top.span_score is None or not top.year_ok:
            features.append((0.0, -MARGIN_CLIP))
        else:
            margin = np.clip(top.span_score - top.null_score, -MARGIN_CLIP, MARGIN_CLIP)
            features.append((top.score, float(margin)))
    holds = [r.top_holds for r in report.results]
    in_scope = [r.item.found is not False for r in report.results]
    return np.array(features), np.array(holds), np.array(in_scope)


def fit(x: np.ndarray, y: np.ndarray, steps: int = 100) -> np.ndarray:
    """Logistic regression by Newton's method: returns (bias, w_score, w_margin)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    ridge = np.diag([0.0] + [L2] * x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-design @ w))
        grad = design.T @ (p - y) + ridge @ w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + ridge
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def choose_cut(p: np.ndarray, holds: np.ndarray, in_scope: np.ndarray) -> tuple[float, ...]:
    """The probability cut with the best balanced accuracy; ties go to the higher cut."""
    rows = []
    for cut in np.unique(np.round(np.append(p, 0.5), 4)):
        answered_right = (holds & (p >= cut))[in_scope].mean()
        refused = (p < cut)[~in_scope].mean()
        rows.append(((answered_right + refused) / 2, cut, answered_right, refused))
    _, cut, right, refused = max(rows, key=lambda r: (round(r[0], 6), r[1]))
    return float(cut), float(right), float(refused)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shipped", type=Path, help="reader weights to calibrate (default: shipped)")
    ap.add_argument("--questions", type=Path, nargs="+", default=list(DEV))
    args = ap.parse_args()
    settings = Settings.load()
    with tempfile.TemporaryDirectory(prefix="dgbot-calibrate-") as tmp:
        reader = None
        if args.shipped:
            reader = trial_reader(args.shipped, Path(tmp) / "reader", settings)
        engine = open_or_build(
            settings.model_copy(update={"index_dir": Path(tmp) / "idx"}), reader=reader
        )
        items = [item for path in args.questions for item in load_jsonl(path)]
        read = [item for item in items if not written_in_english(item.question)]
        x, holds, in_scope = collect(engine, read)
    bias, w_score, w_margin = fit(x, holds.astype(float))
    calibration = replace(engine.calibration, bias=bias, score=w_score, margin=w_margin)
    p = np.array([calibration.probability(s, m) for s, m in x])
    cut, right, refused = choose_cut(p, holds, in_scope)
    print(
        json.dumps(
            {
                "bias": round(float(bias), 4),
                "score": round(float(w_score), 4),
                "margin": round(float(w_margin), 4),
                "found_at": round(cut, 4),
                "dev_in_scope_answered_right": round(100 * right, 1),
                "dev_out_of_scope_refused": round(100 * refused, 1),
                "dev_top_passage_holds_answer": round(100 * holds[in_scope].mean(), 1),
                "questions": len(read),
                "left_out_english": len(items) - len(read),
            }
        )
    )


if __name__ == "__main__":
    main()
