"""``dgbot`` as a user runs it: JSON shape, and one-line errors instead of tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import REPO


def dgbot(*args, env, stdin=None, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "index.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def _assert_one_line_error(proc, *words):
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dgbot: error:"), proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def built_env(settings, embedder, tmp_path_factory):
    """A CLI environment whose index is already built (the first ``ask`` would build it too)."""
    import os

    from index.build.builder import build_index, load_articles

    folder = tmp_path_factory.mktemp("cli") / "idx"
    build_index(load_articles(settings.corpus_dir)[0], embedder, folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGBOT_")}
    env.update(
        DGBOT_CACHE_DIR=str(settings.cache_dir),
        DGBOT_CORPUS_DIR=str(settings.corpus_dir),
        DGBOT_INDEX_DIR=str(folder),
    )
    return env


def test_ask_json_shape(built_env):
    proc = dgbot("ask", "กรมพัฒนาธุรกิจการค้าได้รับรางวัลอะไรในปี 2563", "--json", "-k", "3", env=built_env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"question", "answer", "sources", "timings_ms"}
    answer = out["answer"]
    assert set(answer) == {
        *("found", "text", "sentence", "confidence"),
        *("span", "span_start", "span_end", "lead", "unknown", "relative_year"),
    }
    assert answer["found"] is True and answer["unknown"] is False
    assert (
        answer["span"]
        and answer["sentence"][answer["span_start"] : answer["span_end"]] == (answer["span"])
    )
    assert len(out["sources"]) == 3
    assert set(out["sources"][0]) == {
        *("article_id", "title", "date", "url", "urls", "more_urls", "updated", "text"),
        *("score", "dense", "lexical", "span_score", "null_score"),
    }
    top = out["sources"][0]
    assert top["url"] == top["urls"][0] and not set(top["urls"]) & set(top["more_urls"])


def test_ask_stdin_streams_one_object_per_line(built_env):
    proc = dgbot("ask", "--stdin", "--json", env=built_env, stdin="ใครจัดรางวัลนี้\n\nวิธีทำต้มยำกุ้ง\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["ใครจัดรางวัลนี้", "วิธีทำต้มยำกุ้ง"]
    assert rows[1]["answer"]["found"] is False


def test_ask_without_index_builds_it_first(env):
    proc = dgbot("ask", "DG Awards คืออะไร", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "ที่มา:" in proc.stdout


def test_corrupt_index_is_one_line_error(built_env, tmp_path):
    folder = tmp_path / "idx"
    shutil.copytree(built_env["DGBOT_INDEX_DIR"], folder)
    (folder / "dense.faiss").write_bytes(b"garbage")
    proc = dgbot("ask", "อะไร", env={**built_env, "DGBOT_INDEX_DIR": str(folder)})
    _assert_one_line_error(proc, "dense.faiss", "checksum")


def test_bad_corpus_file_is_one_line_error(built_env, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "broken.md").write_text("no front matter")
    proc = dgbot(
        "index", "build", "--corpus", str(corpus), "--index", str(tmp_path / "i"), env=built_env
    )
    _assert_one_line_error(proc, "broken.md", "no front matter")
    assert not (tmp_path / "i").exists()


def test_missing_model_is_one_line_error(built_env, tmp_path):
    proc = dgbot("ask", "อะไร", env={**built_env, "DGBOT_MODEL": str(tmp_path / "no-model")})
    _assert_one_line_error(proc, "no-model")


def test_bad_setting_is_one_line_error(built_env):
    proc = dgbot("ask", "อะไร", env={**built_env, "DGBOT_TOP_K": "many"})
    _assert_one_line_error(proc, "DGBOT_TOP_K")


def test_negative_reader_passages_is_one_line_error(built_env):
    proc = dgbot("ask", "อะไร", env={**built_env, "DGBOT_READER_PASSAGES": "-1"})
    _assert_one_line_error(proc, "DGBOT_READER_PASSAGES")


def test_the_readme_map_names_every_module():
    """A newcomer reads the tree from README's "How it is built"; a package or module missing
    there is a gap."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## How it is built") :]
    missing = []
    for package in ("index", "bot"):
        for path in sorted((REPO / package).rglob("*.py")):
            folder = path.parent.relative_to(REPO).as_posix()
            if f"`{folder}/`" not in layout or f"`{path.name}`" not in layout:
                missing.append(f"{folder}/{path.name}")
    assert missing == []
