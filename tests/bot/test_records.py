"""The question record on both backends: SQLite (always) and PostgreSQL (when one is given)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bot.records import (
    MIGRATIONS,
    ONE_VERDICT,
    ONE_VOTE,
    Forgotten,
    Records,
    feedback,
    metadata,
    questions,
    schema_migrations,
    utcnow,
    verdicts,
)
from index import Answer, Chunk, Hit
from tests.support.postgres import postgres_url
from tests.support.records import record_answer, record_vote

USER, OTHER = 31337, 4242


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request, tmp_path) -> Iterator[Records]:
    """A fresh, empty record; PostgreSQL needs DGBOT_TEST_POSTGRES_URL (CI: .ci/postgres.sh)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sub' / 'dgbot.sqlite3'}"
    else:
        url = postgres_url()
        wipe = sa.create_engine(url)
        metadata.drop_all(wipe)
        wipe.dispose()
    rec = Records(url, "test-salt")
    yield rec
    rec.close()


def answer(question: str = "กรมพัฒน์ได้รางวัลอะไร", found: bool = True) -> Answer:
    chunk = Chunk("c1", "dg-2020-dbd", "DBD", "2020-12-03", "https://x.example", "t", 0, 1)
    hits = [Hit(chunk, 1.9, 0.91, 0.5), Hit(chunk, 1.2, 0.8, 0.1)]
    return Answer(question, found, "t" if found else "", "s", 0.9 if found else 0.1, hits)


def set_time(rec: Records, question_id: int, at: dt.datetime) -> None:
    with rec.db.begin() as conn:
        conn.execute(questions.update().where(questions.c.id == question_id).values(at=at))


def test_schema_is_migrated_once(records) -> None:
    latest = MIGRATIONS[-1][0]
    assert records.version() == latest
    assert records.migrate() == latest  # a second start (or replica) changes nothing
    with records.db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM schema_migrations")) == len(MIGRATIONS)


def test_answers_are_kept_with_a_hash_never_the_user_id(records) -> None:
    qid = record_answer(records, answer(), "private", USER, 21.5)
    with records.db.connect() as conn:
        row = conn.execute(sa.select(questions)).one()
    assert row.id == qid and row.found and row.chat_type == "private"
    assert row.user_hash == records.user_hash(USER) and len(row.user_hash) == 32
    assert str(USER) not in str(tuple(row))
    assert row.sources[0] == {
        "article_id": "dg-2020-dbd",
        "score": 1.9,
        "dense": 0.91,
        "lexical": 0.5,
    }
    assert Records("sqlite://", "other salt").user_hash(USER) != row.user_hash


def test_no_table_holds_a_raw_user_id(records) -> None:
    """Whoever reads the database (a backup, an export) cannot find a user from it."""
    user = 8123456789
    asked = record_answer(records, answer("คำถาม"), "private", user, 3.0)
    record_vote(records, user, True, asked)
    records.record_verdict(asked, user, correct=True)
    with records.db.connect() as conn:
        rows = [
            (table.name, row)
            for table in metadata.sorted_tables
            for row in conn.execute(sa.select(table))
        ]
    tables = {name for name, _ in rows}
    assert {"questions", "feedback", "verdicts"} <= tables
    assert not [row for _, row in rows if str(user) in repr(tuple(row))]
    unsalted = hashlib.sha256(str(user).encode()).hexdigest()[:32]
    assert records.user_hash(user) != unsalted


def test_votes_and_verdicts_feed_the_bad_answer_list(records) -> None:
    good = record_answer(records, answer("ดี"), "private", USER, 10)
    bad = record_answer(records, answer("แย่"), "group", OTHER, 10)
    record_vote(records, USER, True, good)
    record_vote(records, OTHER, False, bad)
    assert records.record_verdict(good, 7, correct=False)
    assert not records.record_verdict(999_999, 7, correct=True)  # no such question
    listed = records.bad_answers()
    assert {(b.why, b.question) for b in listed} == {("👎", "แย่"), ("❌", "ดี")}
    assert all(b.article_id == "dg-2020-dbd" for b in listed)


def test_stats_count_today_and_this_week_in_thai_time(records) -> None:
    now = dt.datetime(2026, 11, 25, 5, 0)  # Wednesday 12:00 in Bangkok
    times = [now, now - dt.timedelta(hours=1), now - dt.timedelta(days=1), now - dt.timedelta(10)]
    for n, at in enumerate(times):
        qid = record_answer(records, answer(found=n != 1), "private", USER, 10.0 * (n + 1))
        set_time(records, qid, at)
        record_vote(records, USER, n == 0, qid)
    stats = records.stats(now)
    assert (stats.today, stats.week) == (2, 3)
    assert stats.found_rate == pytest.approx(200 / 3)
    assert (stats.up, stats.down) == (1, 2)
    assert (stats.p50_ms, stats.p95_ms) == (20.0, 30.0)
    assert stats.busiest == [(12, 2), (11, 1)]
    assert "สัปดาห์นี้ 3" in stats.text() and "👍 1" in stats.text()


def test_unanswered_are_recent_not_found_questions(records) -> None:
    record_answer(records, answer("found"), "private", USER, 1)
    old = record_answer(records, answer("old", found=False), "private", USER, 1)
    set_time(records, old, utcnow() - dt.timedelta(days=40))
    record_answer(records, answer("new", found=False), "private", USER, 1)
    assert records.unanswered(days=30) == ["new"]


def test_retention_and_forget_delete_questions_with_their_votes(records) -> None:
    old = record_answer(records, answer("old"), "private", USER, 1)
    set_time(records, old, utcnow() - dt.timedelta(days=100))
    record_vote(records, USER, False, old)
    records.record_verdict(old, 7, correct=False)
    kept = record_answer(records, answer("kept"), "private", OTHER, 1)
    mine = record_answer(records, answer("mine"), "private", USER, 1)
    assert records.purge(0) == 0  # 0 = keep forever
    assert records.purge(90) == 1
    assert records.bad_answers() == []
    record_vote(records, OTHER, False, mine)  # a vote on the user's question goes with it
    record_vote(records, USER, True, kept)  # the user's own vote on another's question too
    assert records.forget(USER) == Forgotten(questions=1, votes=2)
    with records.db.connect() as conn:
        assert set(conn.scalars(sa.select(questions.c.id))) == {kept}
        assert conn.scalar(sa.select(sa.func.count()).select_from(feedback)) == 0
    assert records.forget(USER) == Forgotten(0, 0)


def test_export_writes_csv_since_a_date(records) -> None:
    before = record_answer(records, answer("ก่อน"), "private", USER, 1)
    set_time(records, before, dt.datetime(2026, 1, 1))
    qid = record_answer(records, answer("หลัง"), "supergroup", USER, 12.5)
    record_vote(records, OTHER, False, qid)
    records.record_verdict(qid, 7, correct=True)
    out = io.StringIO()
    assert records.export(out, dt.date(2026, 2, 1)) == 1
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["question"] == "หลัง" and row["chat_type"] == "supergroup"
    assert row["user_hash"] == records.user_hash(USER) and str(USER) not in out.getvalue()
    assert (row["thumbs_down"], row["staff_correct"], row["found"]) == ("1", "1", "1")
    assert row["sources"].startswith("dg-2020-dbd:1.9")


def test_eval_runs_return_the_previous_outcomes(records) -> None:
    assert records.save_eval({"r@1": 90.0}, {"g1": {"rank": 1}}) is None
    assert records.save_eval({"r@1": 80.0}, {"g1": {"rank": 2}}) == {"g1": {"rank": 1}}


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    rec = Records(f"sqlite:///{tmp_path / 'x.sqlite3'}", "s")
    with rec.db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    rec.close()


def test_update_journal_remembers_per_bot_and_forgets_after_two_days(records) -> None:
    now = utcnow()
    records.mark_handled(1, 500, now - dt.timedelta(days=3))
    records.mark_handled(1, 501, now)
    records.mark_handled(1, 501, now)  # a second note of the same update is harmless
    assert records.handled(1, [500, 501, 502]) == {500, 501}
    assert records.handled(2, [500, 501]) == set()  # update ids are only unique per bot
    assert records.prune_journal(now) == 1
    assert records.handled(1, [500, 501]) == {501}


@pytest.mark.parametrize(
    "question", ['=HYPERLINK("http://evil.example","คลิก")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd"]
)
def test_export_never_writes_a_question_as_a_spreadsheet_formula(records, question) -> None:
    record_answer(records, answer(question), "private", USER, 1)
    out = io.StringIO()
    records.export(out, dt.date(2020, 1, 1))
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["question"] == "'" + question  # shown as text, every word kept


def test_export_leaves_ordinary_questions_as_written(records) -> None:
    record_answer(records, answer("DG Awards 2020 = รางวัลอะไร"), "private", USER, 1)
    out = io.StringIO()
    records.export(out, dt.date(2020, 1, 1))
    assert (
        next(csv.DictReader(io.StringIO(out.getvalue())))["question"]
        == "DG Awards 2020 = รางวัลอะไร"
    )


def test_one_vote_per_user_and_question_holds_across_replicas(records) -> None:
    qid = record_answer(records, answer(), "private", USER, 1)
    replica = Records(records.db.url.render_as_string(hide_password=False), "test-salt")
    try:
        assert records.insert_vote(records.vote_row(OTHER, True), qid)
        assert not replica.insert_vote(replica.vote_row(OTHER, False), qid)  # the first stands
        assert records.record_verdict(qid, 7, correct=True)
        assert not replica.record_verdict(qid, 7, correct=False)
    finally:
        replica.close()
    with records.db.connect() as conn:
        assert conn.execute(sa.select(feedback.c.helpful)).scalars().all() == [True]
        assert conn.execute(sa.select(verdicts.c.correct)).scalars().all() == [True]


def test_the_migration_keeps_each_users_first_vote_then_enforces_one(records) -> None:
    qid = record_answer(records, answer(), "private", USER, 1)
    with records.db.begin() as conn:  # a database from before the rule, with repeated votes
        ONE_VOTE.drop(conn)
        ONE_VERDICT.drop(conn)
        conn.execute(schema_migrations.delete().where(schema_migrations.c.version == 4))
        for helpful in (False, True, True):
            conn.execute(
                feedback.insert(), {**records.vote_row(OTHER, helpful), "question_id": qid}
            )
    assert records.migrate() == 4
    with records.db.connect() as conn:
        assert conn.execute(sa.select(feedback.c.helpful)).scalars().all() == [False]
    assert not records.insert_vote(records.vote_row(OTHER, True), qid)
