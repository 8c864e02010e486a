"""``dgbot serve``: the subcommand exists and fails helpfully without a token."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys

import pytest

from bot.cli import main
from tests.support.paths import REPO
from tests.support.users import FakeTelegram


def test_serve_without_a_token_is_one_clear_line(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGBOT_")}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("dgbot: error: DGBOT_TELEGRAM_TOKEN is not set")
    assert "dgbot chat" in line and "Traceback" not in done.stderr


def test_serve_is_added_to_the_engine_commands(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--webhook URL" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "serve" in out and "ask" in out and "chat" in out


def test_a_plain_http_webhook_is_refused(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DGBOT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("DGBOT_CACHE_DIR", str(tmp_path))
    assert main(["serve", "--webhook", "http://bot.example/hook"]) == 1
    assert capsys.readouterr().err.strip() == (
        "dgbot: error: --webhook needs an https:// URL, got 'http://bot.example/hook'"
    )


def test_a_rejected_token_is_one_clear_line(monkeypatch, tmp_path, capsys) -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())  # serve polls on it, then closes it
    try:
        with FakeTelegram() as tg:
            monkeypatch.chdir(tmp_path)
            monkeypatch.setenv("DGBOT_TELEGRAM_TOKEN", "999:not-the-configured-token")
            monkeypatch.setenv("DGBOT_TELEGRAM_BASE_URL", tg.base_url)
            monkeypatch.setenv("DGBOT_CACHE_DIR", str(tmp_path))
            assert main(["serve"]) == 1
    finally:
        asyncio.set_event_loop(None)  # no closed loop left behind for later tests
    err = capsys.readouterr().err
    assert err == "dgbot: error: Telegram rejected DGBOT_TELEGRAM_TOKEN; check it\n"


def test_stats_and_export_read_the_record(tmp_path, monkeypatch, capsys) -> None:
    from bot.records import Records
    from index import Answer
    from tests.support.records import record_answer

    for key in [k for k in os.environ if k.startswith("DGBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DGBOT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DGBOT_HASH_SALT", "a-test-salt-of-24-chars!")
    monkeypatch.chdir(tmp_path)  # no .env
    records = Records(f"sqlite:///{tmp_path / 'dgbot.sqlite3'}", "a-test-salt-of-24-chars!")
    record_answer(records, Answer("คำถามทดสอบ", False, "", "", 0.1), "private", 9, 12.0)
    records.close()
    assert main(["stats"]) == 0
    assert "คำถามวันนี้ 1" in capsys.readouterr().out
    out = tmp_path / "log.csv"
    assert main(["export", "--since", "2020-01-01", "--out", str(out)]) == 0
    assert "คำถามทดสอบ" in out.read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["export", "--since", "yesterday"])


def test_forget_deletes_one_users_records_and_says_how_many(tmp_path, monkeypatch, capsys) -> None:
    from bot.records import Records
    from bot.salt import hash_salt
    from bot.settings import BotSettings
    from index import Answer, Settings
    from tests.support.records import record_answer, record_vote

    for key in [k for k in os.environ if k.startswith("DGBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DGBOT_CACHE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no .env
    assert main(["forget", "9"]) == 1  # no salt yet: nothing could match, so say so
    assert "no hash salt" in capsys.readouterr().err
    salt = hash_salt(
        BotSettings(engine=Settings(cache_dir=tmp_path))
    )  # the salt the bot made on its first start
    records = Records(f"sqlite:///{tmp_path / 'dgbot.sqlite3'}", salt)
    mine = record_answer(records, Answer("ของฉัน", False, "", "", 0.1), "private", 9, 12.0)
    other = record_answer(records, Answer("ของคนอื่น", False, "", "", 0.1), "private", 10, 12.0)
    record_vote(records, 9, True, other)
    record_vote(records, 10, False, mine)
    assert main(["forget", "9"]) == 0
    said = capsys.readouterr().out
    assert said == "deleted 1 question(s) and 2 vote(s) or verdict(s) of user 9\n"
    record_answer(records, Answer("อีกคำถาม", False, "", "", 0.1), "private", 11, 12.0)
    monkeypatch.setattr("sys.stdin", io.StringIO("11\n"))  # kept out of ps and shell history
    assert main(["forget"]) == 0
    assert capsys.readouterr().out.startswith("deleted 1 question(s)")
    assert records.forget(9).questions == 0 and records.forget(10).questions == 1
    assert records.forget(11).questions == 0
    records.close()
    with pytest.raises(SystemExit):
        main(["forget", "not-a-number"])
    assert "invalid int value" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("someone\n"))
    assert main(["forget"]) == 1
    assert "expected a Telegram user id on stdin" in capsys.readouterr().err


def test_a_bad_bot_variable_is_one_line_naming_it(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DGBOT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("DGBOT_WEBHOOK_PORT", "https")
    assert main(["serve"]) == 1
    assert capsys.readouterr().err == (
        "dgbot: error: DGBOT_WEBHOOK_PORT='https': must be an integer\n"
    )
