"""A damaged index and a full disk as ``dgbot`` and the running bot meet them: refused in one
line before any question is answered, and a failed staff reindex keeps the old index serving."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from bot import texts
from bot.cli import main
from index.store import vectors as vectorstore
from index.store.folder import MANIFEST
from tests.support.damage import DISK_FULL, damage, file_kinds
from tests.support.live_bot import DBD_2020, assert_dbd_2020_answer, reply, running
from tests.support.paths import REPO
from tests.support.staff import CITIZEN, staff_reply, staff_says, starts
from tests.support.users import FakeTelegram


def test_ask_refuses_a_truncated_index_in_one_line(env, live_copy) -> None:
    damage(live_copy / "chunks.jsonl", "truncated")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "อะไร"],
        env={**env, "DGBOT_INDEX_DIR": str(live_copy), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=live_copy.parent,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"dgbot: error: {live_copy / 'chunks.jsonl'}: checksum mismatch (corrupt or modified); "
        "rebuild it"
    ]


def test_serve_refuses_a_corrupt_index_before_answering(
    settings, live_copy, tmp_path, monkeypatch, capsys
) -> None:
    lexical = file_kinds(live_copy)["lexical"]
    damage(live_copy / lexical, "flipped")
    for key in [k for k in os.environ if k.startswith("DGBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env
    asyncio.set_event_loop(asyncio.new_event_loop())  # serve polls on it, then closes it
    try:
        with FakeTelegram() as fake:
            monkeypatch.setenv("DGBOT_TELEGRAM_TOKEN", fake.token)
            monkeypatch.setenv("DGBOT_TELEGRAM_BASE_URL", fake.base_url)
            monkeypatch.setenv("DGBOT_CACHE_DIR", str(settings.cache_dir))  # the test model
            monkeypatch.setenv("DGBOT_INDEX_DIR", str(live_copy))
            monkeypatch.setenv("DGBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
            monkeypatch.setenv("DGBOT_HASH_SALT", "a-test-salt-of-24-chars!")
            assert main(["serve"]) == 1
            assert fake.calls_of("getUpdates") == []  # it never started taking questions
    finally:
        asyncio.set_event_loop(None)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"dgbot: error: {live_copy / lexical}: checksum mismatch (corrupt or modified); rebuild it"
    ]


def test_staff_reindex_on_a_full_disk_says_so_and_keeps_serving(
    tg,
    own_index,
    engine,
    monkeypatch,
) -> None:
    def disk_full(*_args, **_kwargs):
        raise DISK_FULL

    monkeypatch.setattr(vectorstore.faiss, "write_index", disk_full)
    before = (own_index.engine.index_path / MANIFEST).read_bytes()
    with running(own_index, engine):
        staff_says(tg, "reindex")
        failed = staff_reply(tg, starts(texts.REINDEX_FAILED.split("{")[0]))["text"]
        tg.send_text(CITIZEN, DBD_2020)
        assert_dbd_2020_answer(reply(tg, CITIZEN))
    assert "No space left on device" in failed
    assert (own_index.engine.index_path / MANIFEST).read_bytes() == before
    assert [
        p.name for p in own_index.engine.index_path.parent.iterdir() if p.name.startswith(".")
    ] == []
