"""Scale features of the index (issue 6): the vector store chosen by size, approximate search
agreeing with exact search, builds that resume after SIGKILL, incremental adds, progress lines."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.build.builder import build_index
from index.build.embedding_shards import work_folder
from index.corpus.articles import Article
from index.progress import Progress
from index.search.engine import Engine
from index.store.folder import IndexLoadError, open_index
from index.store.tokenids import TokenIds
from index.store.vectors import StoreSpec, choose, create_store
from tests.support.articles import synthetic_article
from tests.support.paths import REPO


def _same_vectors(got: np.ndarray, want: np.ndarray) -> None:
    """Row by row the same embeddings. A text embedded in another batch can differ slightly
    (int8 ONNX quantises each batch's activations), so: each row is nearest its own twin."""
    assert got.shape == want.shape
    sims = got @ want.T
    assert (sims.argmax(axis=1) == np.arange(len(got))).all()
    assert (np.diag(sims) > 0.99).all()


def _unit(rows: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# ------------------------------------------------------------------------- the vector store


def test_the_store_is_exact_up_to_the_limit_and_a_graph_beyond() -> None:
    assert choose(1000, exact_limit=1000).kind == "flat"
    assert choose(1001, exact_limit=1000).kind == "hnsw"


def test_hnsw_finds_what_exact_search_finds_and_keeps_vectors_exact() -> None:
    vectors = _unit(3000, 32, seed=1)
    exact = create_store(32, StoreSpec(kind="flat"))
    graph = create_store(32, StoreSpec(kind="hnsw"))
    for start in range(0, len(vectors), 1000):  # added block by block, as a build does
        exact.add(vectors[start : start + 1000])
        graph.add(vectors[start : start + 1000])
    queries = vectors[::30] + 0.05 * _unit(100, 32, seed=2)
    _, truth = exact.search(queries, 10)
    scores, found = graph.search(queries, 10)
    assert (found[:, 0] == truth[:, 0]).all()
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found, strict=True)])
    assert recall >= 0.99
    assert np.allclose(scores[:, 0], np.sum(queries * vectors[found[:, 0]], axis=1), atol=1e-5)
    ids = np.array([5, 2999, 17])
    assert np.array_equal(graph.reconstruct_batch(ids), vectors[ids])
    assert np.array_equal(graph.reconstruct_n(0, graph.ntotal), vectors)


def test_bm25_from_token_ids_scores_like_bm25_from_token_lists() -> None:
    from index.store.lexical import Lexical

    rng = np.random.default_rng(3)
    docs = [[f"w{i}" for i in rng.integers(0, 50, rng.integers(0, 20))] for _ in range(200)]
    ids = TokenIds()
    for doc in docs:
        ids.add(doc)
    for query in (["w1", "w2"], ["w7", "unknown"], []):
        assert np.allclose(ids.lexical().share(query), Lexical.build(docs).share(query))


# ------------------------------------------------------------------------------ full builds


@pytest.fixture(scope="module")
def small(embedder, tmp_path_factory) -> tuple[list[Article], Path]:
    """Twelve articles indexed once with the default (exact) store."""
    articles = [synthetic_article(n) for n in range(12)]
    folder = tmp_path_factory.mktemp("small") / "idx"
    build_index(articles, embedder, folder)
    return articles, folder


def test_a_large_index_uses_hnsw_and_searches_like_the_exact_one(
    settings, embedder, engine, tmp_path
) -> None:
    exact_dir, graph_dir = tmp_path / "exact", tmp_path / "graph"
    shutil.copytree(settings.index_path, exact_dir)
    shutil.copytree(settings.index_path, graph_dir)
    from index.build.builder import load_articles

    articles, _ = load_articles(settings.corpus_dir)
    report = build_index(articles, embedder, graph_dir, exact_limit=10)
    assert report.store == "hnsw" and report.embedded == 0  # every vector reused
    graph = open_index(graph_dir)
    assert graph.manifest.vectors["kind"] == "hnsw"
    again = build_index(articles, embedder, graph_dir, exact_limit=10)  # read back from a graph
    assert again.embedded == 0
    assert np.array_equal(open_index(graph_dir).vectors(), open_index(exact_dir).vectors())
    assert open_index(exact_dir).manifest.store_spec.kind == "flat"
    exact_engine = Engine.open(settings, embedder=embedder, index_dir=exact_dir)
    graph_engine = Engine.open(settings, embedder=embedder, index_dir=graph_dir)
    for question in ("กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563", "DG Awards คืออะไร"):
        want = exact_engine.search(question, k=5).hits
        got = graph_engine.search(question, k=5).hits
        assert [h.chunk.id for h in got] == [h.chunk.id for h in want]
        assert np.allclose([h.score for h in got], [h.score for h in want], atol=1e-5)


def test_a_manifest_that_misnames_the_store_is_refused(small, tmp_path) -> None:
    import json

    _, built = small
    folder = tmp_path / "idx"
    shutil.copytree(built, folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["vectors"]["kind"] = "hnsw"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexLoadError, match="cannot read index"):
        open_index(folder)


def test_adding_articles_embeds_only_their_chunks(small, embedder, tmp_path) -> None:
    articles, built = small
    folder = tmp_path / "idx"
    shutil.copytree(built, folder)
    more = [synthetic_article(n) for n in range(12, 14)]
    report = build_index([*articles, *more], embedder, folder)
    new_chunks = sum(
        c.article_id.startswith(("synthetic-12", "synthetic-13")) for c in open_index(folder).chunks
    )
    assert report.added == ["synthetic-12", "synthetic-13"]
    assert report.embedded == new_chunks == 6 and report.reused == report.chunks - 6
    assert not work_folder(folder).exists()  # a finished build leaves no checkpoint behind
    vectors = open_index(folder).vectors()
    assert np.array_equal(vectors[: report.reused], open_index(built).vectors())  # copied as is
    fresh = tmp_path / "fresh"
    build_index([*articles, *more], embedder, fresh)
    _same_vectors(vectors, open_index(fresh).vectors())


def test_progress_lines_give_a_rate_and_an_eta(small, embedder, tmp_path) -> None:
    articles, _ = small
    stream = io.StringIO()
    build_index(articles[:3], embedder, tmp_path / "idx", progress=stream)
    lines = stream.getvalue().splitlines()
    assert any(line.startswith("chunking: 3/3 articles (100.0%)") for line in lines)
    assert any(line.startswith("embedding: 9/9 chunks") and "chunks/s" in line for line in lines)
    assert lines[-1].startswith("index: 3 articles, 9 chunks (9 embedded, 0 reused")
    stage = Progress(stream, every=0).stage("embedding", 4, "chunks")
    stage.advance()
    assert "ETA 0:" in stream.getvalue().splitlines()[-1]


KILLED = """
import sys, time
from pathlib import Path
from index.build import builder
from index.build import embedding_shards as checkpoint
from index.build import chunk_cache as prepared
from index.build.builder import build_index
from index.model.embedder import load_embedder
from index.settings import Settings
from tests.support.articles import synthetic_article

def hang_after(owner, name, calls):
    real, done = getattr(owner, name), []

    def wrapper(*args, **kwargs):
        done.append(real(*args, **kwargs))
        if len(done) == calls:
            Path(sys.argv[3]).write_text("reached")
            time.sleep(600)
        return done[-1]

    setattr(owner, name, wrapper)

%s
embedder = load_embedder(Settings(cache_dir=Path(sys.argv[1])))
articles = [synthetic_article(n) for n in range(12)]
build_index(articles, embedder, Path(sys.argv[2]), shard_size=5, cache_chunks=True)
"""


def _build_killed_at(patch: str, settings, folder: Path, flag: Path) -> None:
    """Build the 12 ``small`` articles in a child process that ``patch`` makes stop at a
    chosen point (it writes ``flag`` there), then SIGKILL it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    build = subprocess.Popen(
        [sys.executable, "-c", KILLED % patch, str(settings.cache_dir), str(folder), str(flag)],
        env=env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 300
        while not flag.exists() and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert flag.exists(), f"the build did not reach the point to kill it at ({patch})"
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    assert not folder.exists()  # nothing half-built where the bot looks


def test_a_build_killed_half_way_resumes_without_re_embedding(
    settings, embedder, small, tmp_path
) -> None:
    articles, built = small
    folder = tmp_path / "idx"
    _build_killed_at(
        "hang_after(checkpoint.Checkpoint, 'write', 2)", settings, folder, tmp_path / "f"
    )
    shards = sorted(work_folder(folder).glob("emb-*.npz"))
    assert len(shards) == 2
    saved = np.concatenate([np.load(path)["vectors"] for path in shards])
    report = build_index(articles, embedder, folder, shard_size=5, cache_chunks=True)
    assert report.resumed == 10 and report.embedded == report.chunks - 10
    assert report.rechunked == 0  # the killed build's chunking was kept too
    assert [p.name for p in work_folder(folder).iterdir()] == ["prepared.npz"]
    assert np.array_equal(open_index(folder).vectors()[:10], saved)  # used, not re-embedded
    _assert_same_index(folder, built)


def test_a_build_killed_while_chunking_keeps_the_articles_it_chunked(
    settings, embedder, small, tmp_path
) -> None:
    articles, built = small
    folder = tmp_path / "idx"
    # The chunking cache saved after every article; killed once five are in it.
    patch = "builder.CACHE_EVERY = 0\nhang_after(prepared, 'save', 5)"
    _build_killed_at(patch, settings, folder, tmp_path / "f")
    assert [p.name for p in work_folder(folder).iterdir()] == ["prepared.npz"]
    report = build_index(articles, embedder, folder, cache_chunks=True)
    assert report.rechunked == 7
    _assert_same_index(folder, built)


def _assert_same_index(folder: Path, reference: Path) -> None:
    """Chunks, vectors and BM25 as a build from scratch makes them."""
    got, want = open_index(folder), open_index(reference)
    assert list(got.chunks) == list(want.chunks)
    _same_vectors(got.vectors(), want.vectors())
    _same_vectors(got.articles.vectors, want.articles.vectors)
    for words in (["หน่วยงาน", "รางวัล"], ["ข้อมูล", "เปิด", "13"], ["ไม่มี"]):
        assert np.allclose(got.lexical.share(words), want.lexical.share(words))
        assert np.allclose(got.articles.lexical.share(words), want.articles.lexical.share(words))


def test_the_chunking_cache_chunks_only_new_articles(small, embedder, tmp_path) -> None:
    articles, _ = small
    folder = tmp_path / "idx"
    first = build_index(articles[:10], embedder, folder, cache_chunks=True)
    assert first.rechunked == 10
    edited = replace(articles[3], body=articles[3].body + "\n\nย่อหน้าที่เพิ่มใหม่ในข่าวนี้")
    more = [*articles[:3], edited, *articles[4:10], synthetic_article(12)]
    second = build_index(more, embedder, folder, cache_chunks=True)
    assert second.rechunked == 2 and second.changed == ["synthetic-3"]
    assert second.added == ["synthetic-12"]
    assert second.embedded == 4  # the edited article's new paragraph and the new article
    fresh = tmp_path / "fresh"
    build_index(more, embedder, fresh)
    _assert_same_index(folder, fresh)


def test_index_verify_accepts_a_whole_index_and_names_a_damaged_file(small, env, tmp_path):
    _, built = small
    folder = tmp_path / "shipped"
    shutil.copytree(built, folder)

    def verify():
        return subprocess.run(
            [sys.executable, "-m", "index.cli", "index", "verify", "--index", str(folder)],
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=300,
        )

    ok = verify()
    assert ok.returncode == 0 and ok.stdout.startswith(f"ok: {folder}: 12 articles, 36 chunks")
    chunks = folder / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes()[:-10])
    bad = verify()
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        == f"dgbot: error: {chunks}: checksum mismatch (corrupt or modified); rebuild it"
    )


def test_ingest_reports_progress_while_it_parses(tmp_path) -> None:
    import json

    from index.corpus.ingest import ingest

    source = tmp_path / "news.jsonl"
    records = [
        {
            "title": f"ข่าวที่ {n}",
            "date": f"2020-01-0{n}",
            "url": f"https://example.org/{n}",
            "text": f"เนื้อหาข่าวที่ {n}",
        }
        for n in range(1, 4)
    ]
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    stream = io.StringIO()
    report = ingest([source], out=tmp_path / "corpus", progress=Progress(stream, every=0))
    assert report.ok and len(report.outcomes) == 3
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("ingest news.jsonl: 1/3 articles (33.3%)") and "ETA" in lines[0]
    assert lines[-1].startswith("ingest news.jsonl: 3/3 articles (100.0%)")
    assert lines[-1].endswith("done")
