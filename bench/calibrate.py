"""Calibrate the "not found" threshold on the DEV questions, so the gold set stays unseen.

For every dev question it records the best passage's fused score, then picks the threshold that
maximises balanced accuracy (answered in-scope + refused out-of-scope), breaking ties towards
refusing: a wrong confident answer costs more than an honest "not found".

    python -m bench.calibrate [--questions tests/data/dev_questions.jsonl]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from index.build.builder import build_index, load_articles
from index.model.embedder import load_embedder
from index.search.engine import Engine
from index.search.evaluate import load_jsonl
from index.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def scores(engine: Engine, questions) -> tuple[np.ndarray, np.ndarray]:
    """Best fused score per question; -inf where the best passage is about another year
    (those are refused whatever the threshold)."""
    tops = [engine.search(q.question, 5).best for q in questions]
    best = np.array([h.score if h.year_ok else -np.inf for h in tops])
    in_scope = np.array([q.found is not False for q in questions])
    return best, in_scope


def choose(best: np.ndarray, in_scope: np.ndarray) -> tuple[float, float, float]:
    """Threshold with the best balanced accuracy; ties go to the higher (more refusing) one."""
    candidates = np.unique(np.round(best[np.isfinite(best)], 4))
    rows = []
    for t in candidates:
        answered = (best[in_scope] >= t).mean()
        refused = (best[~in_scope] < t).mean()
        rows.append(((answered + refused) / 2, t, answered, refused))
    _, t, answered, refused = max(rows, key=lambda r: (round(r[0], 6), r[1]))
    return float(t), float(answered), float(refused)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default=str(REPO / "tests/data/dev_questions.jsonl"))
    args = ap.parse_args()
    settings = Settings.load()
    embedder = load_embedder(settings)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "idx"
        build_index(load_articles(REPO / "corpus")[0], embedder, folder)
        engine = Engine.open(settings.model_copy(update={"index_dir": folder}), embedder=embedder)
        best, in_scope = scores(engine, load_jsonl(Path(args.questions)))
    threshold, answered, refused = choose(best, in_scope)
    print(
        json.dumps(
            {
                "threshold": round(threshold, 4),
                "in_scope_answered": round(100 * answered, 1),
                "out_of_scope_refused": round(100 * refused, 1),
                "in_scope_scores": [round(x, 3) for x in np.sort(best[in_scope])],
                "out_of_scope_scores": [round(x, 3) for x in np.sort(best[~in_scope])],
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
