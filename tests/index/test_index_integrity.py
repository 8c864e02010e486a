"""A damaged index is refused by name at every entry point; a failed or killed rebuild leaves the
old index serving and nothing half-written where the bot looks."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import index.store.folder as store
from bot.cli import main
from index import Engine
from index.build.reindex import ReindexError, reindex
from index.store.folder import MANIFEST, REQUIRED, IndexLoadError, open_index, sweep
from tests.support.articles import write_tiny_index
from tests.support.damage import DISK_FULL, damage, file_kinds
from tests.support.paths import REPO


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_every_kind_of_index_file_is_checked(tmp_path, how) -> None:
    built, _ = write_tiny_index(tmp_path / "built")
    kinds = file_kinds(built)
    assert set(kinds) == set(REQUIRED)
    every = json.loads((built / MANIFEST).read_text(encoding="utf-8"))["files"]
    for rel in every:
        folder = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}"
        shutil.copytree(built, folder)
        damage(folder / rel, how)
        with pytest.raises(IndexLoadError, match="checksum mismatch") as refused:
            open_index(folder)
        assert str(folder / rel) in str(refused.value)


def test_a_damaged_manifest_is_refused_by_name(tmp_path) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx")
    manifest = folder / MANIFEST
    good = manifest.read_text(encoding="utf-8")
    damage(manifest, "truncated")
    with pytest.raises(IndexLoadError, match="unreadable manifest") as refused:
        open_index(folder)
    assert str(manifest) in str(refused.value)
    data = json.loads(good)
    data["files"] = {k: v for k, v in data["files"].items() if k != "dense.faiss"}
    manifest.write_text(json.dumps(data), encoding="utf-8")
    (folder / "dense.faiss").write_bytes(b"not an index")  # unlisted, so no checksum to catch it
    with pytest.raises(IndexLoadError, match=r"dense\.faiss: not listed"):
        open_index(folder)


def _rewrite_manifest(folder: Path, change) -> None:
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    change(data["files"])
    (folder / MANIFEST).write_text(json.dumps(data), encoding="utf-8")


def test_a_file_the_manifest_does_not_list_is_refused(tmp_path) -> None:
    """A manifest that vouches for only part of the folder once passed; the rest was trusted."""
    folder, _ = write_tiny_index(tmp_path / "idx")
    (folder / "lexical" / "extra.json").write_text("{}", encoding="utf-8")
    with pytest.raises(IndexLoadError, match=r"lexical/extra\.json: not listed in manifest\.json"):
        open_index(folder)


@pytest.mark.parametrize("outside", ["../outside.bin", "/etc/hostname", "lexical/../../x"])
def test_a_manifest_path_outside_the_index_is_refused_before_any_file_is_read(
    tmp_path, outside
) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx")
    (tmp_path / "outside.bin").write_bytes(b"secret")
    _rewrite_manifest(folder, lambda files: files.update({outside: "0" * 64}))
    with pytest.raises(IndexLoadError, match="lists a path outside the index folder"):
        open_index(folder)


def test_every_file_is_checked_before_any_is_parsed(tmp_path, monkeypatch) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx")
    damage(folder / "chunks.jsonl", "flipped")
    parsed = []
    monkeypatch.setattr(store, "ChunkFile", lambda *a: parsed.append(a))
    monkeypatch.setattr(store.Lexical, "load", lambda *a: parsed.append(a))
    with pytest.raises(IndexLoadError, match="checksum mismatch"):
        open_index(folder)
    assert parsed == []


def test_a_pinned_index_is_checked_against_its_manifests_sha256(
    tmp_path, monkeypatch, capsys
) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx")
    pinned = store.manifest_sha256(folder)
    assert open_index(folder, expect_sha256=pinned).manifest.chunk_count > 0
    # A whole index rebuilt consistently (every checksum right) is still not the pinned one.
    _rewrite_manifest(folder, lambda files: None)  # same content, new bytes
    with pytest.raises(IndexLoadError, match="not the index that was pinned"):
        open_index(folder, expect_sha256=pinned)
    for key in [k for k in os.environ if k.startswith("DGBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    now = store.manifest_sha256(folder)
    assert main(["index", "verify", "--index", str(folder), "--expect", now]) == 0
    assert f"manifest sha256 {now}" in capsys.readouterr().out
    monkeypatch.setenv("DGBOT_INDEX_SHA256", pinned)
    assert main(["index", "verify", "--index", str(folder)]) == 1
    assert "not the index that was pinned" in capsys.readouterr().err


def test_engine_open_refuses_each_damaged_file_kind(settings, embedder, live_copy) -> None:
    for kind, rel in file_kinds(live_copy).items():
        folder = live_copy.with_name(f"bad-{kind}")
        shutil.copytree(live_copy, folder)
        damage(folder / rel, "truncated")
        with pytest.raises(IndexLoadError, match="checksum") as refused:
            Engine.open(settings, embedder=embedder, index_dir=folder)
        assert str(folder / rel) in str(refused.value)


# ---------------------------------------------------------------------------- failed rebuilds

KILLED_BUILD = """
import sys, time
from pathlib import Path
from index.store.lexical import Lexical
from tests.support.articles import write_tiny_index

real = Lexical.save

def save_then_hang(self, where):
    real(self, where)
    Path(sys.argv[2]).write_text("half written")
    time.sleep(600)

Lexical.save = save_then_hang
write_tiny_index(Path(sys.argv[1]), n=5)
"""


def test_a_build_killed_half_way_leaves_the_old_index_and_its_litter_is_swept(tmp_path) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx", n=3)
    flag = tmp_path / "flag"
    build = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(folder), str(flag)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        while not flag.exists() and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists(), "the build did not reach the middle of its write"
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    assert len(open_index(folder).chunks) == 3  # the old index, whole and verified
    (litter,) = [p for p in tmp_path.iterdir() if p.name.startswith(".idx-new-")]
    assert str(build.pid) in litter.name
    assert sweep(folder) == [litter]
    write_tiny_index(folder, n=4)  # and the next build works as usual
    assert len(open_index(folder).chunks) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flag", "idx"]


def test_a_running_builds_folder_is_not_swept(tmp_path) -> None:
    mine = tmp_path / f".idx-new-{os.getpid()}-abc"
    mine.mkdir()
    assert sweep(tmp_path / "idx") == [] and mine.exists()


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_failed_swap_keeps_the_old_index_in_place(tmp_path, monkeypatch, exchange) -> None:
    folder, _ = write_tiny_index(tmp_path / "idx", n=3)
    if not exchange:
        monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    write_tiny_index(folder, n=4)  # the swap itself works either way
    assert len(open_index(folder).chunks) == 4
    real, calls = os.replace, []

    def second_rename_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise DISK_FULL
        real(src, dst)

    monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    monkeypatch.setattr(store.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="No space left"):
        write_tiny_index(folder, n=5)
    assert len(open_index(folder).chunks) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]


def test_a_full_disk_during_reindex_keeps_the_live_index(settings, engine, tmp_path, monkeypatch):
    corpus, live = tmp_path / "corpus", tmp_path / "live" / "index"
    shutil.copytree(settings.corpus_dir, corpus)
    shutil.copytree(settings.index_path, live)
    (corpus / "agency-lopburi.md").unlink()  # a real change, so a new index would differ
    before = (live / MANIFEST).read_bytes()

    def disk_full(*_args, **_kwargs):
        raise DISK_FULL

    monkeypatch.setattr(store.np, "save", disk_full)
    own = settings.model_copy(update={"corpus_dir": corpus, "index_dir": live})
    with pytest.raises(ReindexError, match="No space left on device"):
        reindex(own, engine, [], tolerance=1.0)
    assert (live / MANIFEST).read_bytes() == before
    assert "agency-lopburi" in open_index(live).manifest.articles
    assert [p.name for p in live.parent.iterdir()] == ["index"]  # no staging, no work folder


def test_a_reader_during_a_swap_without_renameat2_waits_for_the_new_index(
    tmp_path, monkeypatch
) -> None:
    """Without an atomic exchange the old index is moved aside, then the new one in; a reader
    in between once found no index at all. It now waits for the second rename."""
    import threading

    folder, _ = write_tiny_index(tmp_path / "idx", n=3)
    monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    real, moved_aside = os.replace, threading.Event()

    def slow_swap(src, dst):  # the moment between the two renames, made long enough to hit
        real(src, dst)
        if Path(dst).name.startswith(".idx-old-"):
            moved_aside.set()
            time.sleep(0.3)

    monkeypatch.setattr(store.os, "replace", slow_swap)
    writer = threading.Thread(target=write_tiny_index, args=(folder,), kwargs={"n": 4})
    writer.start()
    assert moved_aside.wait(10)
    assert not (folder / MANIFEST).exists()  # the reader comes in the gap
    assert len(open_index(folder).chunks) == 4
    writer.join()


def test_two_reindexes_at_once_never_share_a_staging_folder(settings, tmp_path) -> None:
    from index.build.reindex import _staging

    live = tmp_path / "index"
    shutil.copytree(settings.index_path, live)
    first, second = _staging(live), _staging(live)
    assert first != second and (first / MANIFEST).is_file() and (second / MANIFEST).is_file()
    assert re.fullmatch(rf"\.index-new-{os.getpid()}-.+", first.name)  # sweep() knows the name
