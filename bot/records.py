"""The record of every question and answer, so staff can see what the bot does and improve it.

One schema for SQLite (the embedded default, in WAL mode so readers never block the writer) and
PostgreSQL (several replicas sharing one record), written with SQLAlchemy Core only, so the same
statements run on both. The schema grows by numbered steps in ``MIGRATIONS``; a database
remembers which steps it has had. Users are stored only as salted hashes, never as ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from index import Answer

from . import texts

LOCAL = dt.timezone(dt.timedelta(hours=7), "ICT")  # Thailand: no daylight saving
SOURCES_KEPT = 5

metadata = sa.MetaData()
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", sa.DateTime, nullable=False),
)
questions = sa.Table(
    "questions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False, index=True),  # UTC
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("chat_type", sa.String(20), nullable=False),
    sa.Column("user_hash", sa.String(32), nullable=False, index=True),
    sa.Column("found", sa.Boolean, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("sources", sa.JSON, nullable=False),  # [{article_id, score, dense, lexical}]
    sa.Column("latency_ms", sa.Float, nullable=False),
)


def _judgements(name: str, judged: str) -> sa.Table:
    """A table of yes/no judgements of recorded answers, one per person and question: citizens'
    votes ("helpful") and staff verdicts ("correct") are kept alike."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("question_id", Id, sa.ForeignKey("questions.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("user_hash", sa.String(32), nullable=False),
        sa.Column(judged, sa.Boolean, nullable=False),
    )


feedback = _judgements("feedback", "helpful")
verdicts = _judgements("verdicts", "correct")
eval_runs = sa.Table(
    "eval_runs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("outcomes", sa.JSON, nullable=False),  # per question, see index.evaluate.outcomes
)
# Updates already answered, so one Telegram delivers again (after a crash, or a webhook retry)
# is skipped; keyed by bot too, since update ids are only unique per bot.
handled_updates = sa.Table(
    "handled_updates",
    metadata,
    sa.Column("bot_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("update_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime, nullable=False, index=True),
)
JOURNAL_DAYS = 2  # Telegram keeps an unconfirmed update for 24 hours
# One 👍/👎 per user and question, one verdict per staff member: kept by the database, so it
# holds across restarts and replicas (the bot's memory of pressed buttons is per process).
ONE_VOTE = sa.Index("uq_feedback_vote", feedback.c.question_id, feedback.c.user_hash, unique=True)
ONE_VERDICT = sa.Index(
    "uq_verdicts_vote", verdicts.c.question_id, verdicts.c.user_hash, unique=True
)


def _one_vote_each(conn: Connection) -> None:
    """Keep each user's first vote (and verdict) on a question, then make that the rule."""
    for table, index in ((feedback, ONE_VOTE), (verdicts, ONE_VERDICT)):
        first = sa.select(sa.func.min(table.c.id)).group_by(table.c.question_id, table.c.user_hash)
        conn.execute(table.delete().where(table.c.id.not_in(first.scalar_subquery())))
        index.create(conn, checkfirst=True)


# Append only: a step, once released, never changes (databases in the field already had it).
MIGRATIONS: tuple[tuple[int, Callable[[Connection], None]], ...] = (
    (1, lambda conn: metadata.create_all(conn, tables=[questions, feedback, verdicts])),
    (2, lambda conn: eval_runs.create(conn)),
    (3, lambda conn: handled_updates.create(conn)),
    (4, _one_vote_each),
)
PG_MIGRATION_LOCK = 0x64676274  # "dgbt": replicas starting together migrate one at a time


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _percentile(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None


@dataclass(frozen=True)
class Stats:
    today: int
    week: int
    found_rate: float | None  # percent of this week's questions answered
    up: int
    down: int
    p50_ms: float | None
    p95_ms: float | None
    busiest: list[tuple[int, int]]  # (local hour, questions) this week, busiest first

    def text(self) -> str:
        """The figures as staff read them, in the chat (/stats) and the terminal alike."""

        def num(value: float | None, unit: str = "") -> str:
            return "-" if value is None else f"{value:.0f}{unit}"

        hours = ", ".join(f"{h:02d}:00 ({n})" for h, n in self.busiest) or "-"
        return texts.STATS.format(
            today=self.today,
            week=self.week,
            found=num(self.found_rate, "%"),
            up=self.up,
            down=self.down,
            p50=num(self.p50_ms, " ms"),
            p95=num(self.p95_ms, " ms"),
            hours=hours,
        )


@dataclass(frozen=True)
class Forgotten:
    """What a deletion removed: questions, and votes plus staff verdicts."""

    questions: int
    votes: int


@dataclass(frozen=True)
class BadAnswer:
    at: dt.datetime
    question: str
    article_id: str
    why: str  # "👎" or "❌"


# A server that stops answering (host down, network cut) must fail a connection, not hang it:
# libpq waits forever by default, and every answer checks the update journal first.
CONNECT_TIMEOUT_SECONDS = 5
POSTGRES_CONNECT_ARGS = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    # An open connection whose server went silent is noticed in about 10 + 3 × 5 seconds.
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _connect_args(url: str) -> dict:
    return dict(POSTGRES_CONNECT_ARGS) if url.startswith("postgresql") else {}


class Records:
    """The database behind the bot; every method is a short transaction, safe from threads."""

    def __init__(self, url: str, salt: str) -> None:
        self._salt = salt
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.db = sa.create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))
        if self.db.dialect.name == "sqlite":
            sa.event.listen(self.db, "connect", _sqlite_pragmas)
        self.migrate()

    def close(self) -> None:
        self.db.dispose()

    def user_hash(self, user_id: int) -> str:
        """Enough to count distinct users and forget one on request, useless to find them."""
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()[:32]

    # ------------------------------------------------------------------ schema

    def version(self) -> int:
        with self.db.connect() as conn:
            if not sa.inspect(conn).has_table(schema_migrations.name):
                return 0
            return conn.scalar(sa.select(sa.func.max(schema_migrations.c.version))) or 0

    def migrate(self) -> int:
        """Apply the steps this database has not had yet; returns the schema version."""
        with self.db.begin() as conn:
            if self.db.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            schema_migrations.create(conn, checkfirst=True)
            done = set(conn.scalars(sa.select(schema_migrations.c.version)))
            for version, step in MIGRATIONS:
                if version not in done:
                    step(conn)
                    row = {"version": version, "applied_at": utcnow()}
                    conn.execute(schema_migrations.insert(), row)
        return MIGRATIONS[-1][0]

    # ------------------------------------------------------------------ writing

    def question_row(
        self,
        answer: Answer,
        chat_type: str,
        user_id: int,
        latency_ms: float,
        at: dt.datetime | None = None,
    ) -> dict:
        """The row for a question, stamped when it was asked (``at``, UTC) or now: it may be
        written later if the database is away."""
        sources = [
            {
                "article_id": hit.chunk.article_id,
                "score": round(hit.score, 4),
                "dense": round(hit.dense, 4),
                "lexical": round(hit.lexical, 4),
            }
            for hit in answer.hits[:SOURCES_KEPT]
        ]
        row = {
            "at": at or utcnow(),
            "question": answer.question,
            "chat_type": chat_type,
            "user_hash": self.user_hash(user_id),
            "found": answer.found,
            "confidence": answer.confidence,
            "sources": sources,
            "latency_ms": round(latency_ms, 2),
        }
        return row

    def insert_question(self, row: dict) -> int:
        with self.db.begin() as conn:
            return conn.execute(questions.insert().returning(questions.c.id), row).scalar_one()

    def vote_row(self, user_id: int, helpful: bool) -> dict:
        """A vote stamped now; its question id is added when written (the question may wait)."""
        return {"at": utcnow(), "user_hash": self.user_hash(user_id), "helpful": helpful}

    def insert_vote(self, row: dict, question_id: int) -> bool:
        """False when this user already voted on it (the first vote stands) or the question is
        no longer recorded (forgotten, or purged)."""
        return self._insert_about(feedback, row, question_id)

    def _insert_about(self, table: sa.Table, row: dict, question_id: int) -> bool:
        """Insert ``row`` about a question; False when the question is no longer recorded or
        the row repeats a vote (the one-per-user index refuses it)."""
        try:
            with self.db.begin() as conn:
                known = conn.scalar(sa.select(questions.c.id).where(questions.c.id == question_id))
                if known is None:
                    return False
                conn.execute(table.insert(), {**row, "question_id": question_id})
        except sa.exc.IntegrityError:
            return False
        return True

    # ------------------------------------------------------------------ update journal

    def handled(self, bot_id: int, update_ids: list[int]) -> set[int]:
        """Which of ``update_ids`` this bot has already answered."""
        j = handled_updates.c
        with self.db.connect() as conn:
            return set(
                conn.scalars(
                    sa.select(j.update_id).where(j.bot_id == bot_id, j.update_id.in_(update_ids))
                )
            )

    def mark_handled(self, bot_id: int, update_id: int, at: dt.datetime) -> None:
        """Note an answered update; noting it twice is harmless."""
        try:
            with self.db.begin() as conn:
                row = {"bot_id": bot_id, "update_id": update_id, "at": at}
                conn.execute(handled_updates.insert(), row)
        except sa.exc.IntegrityError:
            pass  # already noted (two replicas, or a retried write that had succeeded)

    def prune_journal(self, now: dt.datetime | None = None) -> int:
        """Forget handled updates older than Telegram would ever deliver again."""
        cutoff = (now or utcnow()) - dt.timedelta(days=JOURNAL_DAYS)
        with self.db.begin() as conn:
            where = handled_updates.c.at < cutoff
            return conn.execute(handled_updates.delete().where(where)).rowcount

    def record_verdict(self, question_id: int, user_id: int, correct: bool) -> bool:
        """A staff member's ✅/❌; False when no such question is recorded (forged or purged) or
        this staff member already gave one (the first stands)."""
        row = {"at": utcnow(), "user_hash": self.user_hash(user_id), "correct": correct}
        return self._insert_about(verdicts, row, question_id)

    def save_eval(self, metrics: dict, outcomes: dict) -> dict | None:
        """Store a gold-set run; returns the previous run's outcomes (None for the first)."""
        with self.db.begin() as conn:
            previous = conn.scalar(
                sa.select(eval_runs.c.outcomes).order_by(eval_runs.c.id.desc()).limit(1)
            )
            conn.execute(
                eval_runs.insert(), {"at": utcnow(), "metrics": metrics, "outcomes": outcomes}
            )
        return previous

    def _delete_questions(
        self, where: sa.ColumnElement[bool], voter: str | None = None
    ) -> Forgotten:
        """Questions matching ``where`` with every vote and verdict on them, and with ``voter``
        also that user's own votes and verdicts on other questions; one transaction."""
        ids = sa.select(questions.c.id).where(where).scalar_subquery()
        votes = 0
        with self.db.begin() as conn:
            for table in (feedback, verdicts):
                on = table.c.question_id.in_(ids)
                if voter is not None:
                    on = sa.or_(on, table.c.user_hash == voter)
                votes += conn.execute(table.delete().where(on)).rowcount
            return Forgotten(conn.execute(questions.delete().where(where)).rowcount, votes)

    def purge(self, days: int, now: dt.datetime | None = None) -> int:
        """DGBOT_RETENTION_DAYS: delete questions (and their votes) older than ``days``."""
        if days <= 0:
            return 0
        cutoff = (now or utcnow()) - dt.timedelta(days=days)
        return self._delete_questions(questions.c.at < cutoff).questions

    def forget(self, user_id: int) -> Forgotten:
        """/forget and ``dgbot forget``: everything a user asked (with the votes on it) and
        every vote or verdict the user gave."""
        mine = self.user_hash(user_id)
        return self._delete_questions(questions.c.user_hash == mine, voter=mine)

    # ------------------------------------------------------------------ reading

    def stats(self, now: dt.datetime | None = None) -> Stats:
        """Today and this week (Monday on) in Thai time; figures over the week."""
        local_now = (now or utcnow()).replace(tzinfo=dt.UTC).astimezone(LOCAL)
        midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        monday = midnight - dt.timedelta(days=midnight.weekday())

        def utc(moment: dt.datetime) -> dt.datetime:
            return moment.astimezone(dt.UTC).replace(tzinfo=None)

        q = questions.c
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(q.at, q.found, q.latency_ms).where(q.at >= utc(monday))
            ).all()
            votes = dict(
                conn.execute(
                    sa.select(feedback.c.helpful, sa.func.count())
                    .join(questions, questions.c.id == feedback.c.question_id)
                    .where(q.at >= utc(monday))
                    .group_by(feedback.c.helpful)
                ).all()
            )
        local = [row.at.replace(tzinfo=dt.UTC).astimezone(LOCAL) for row in rows]
        latencies = [row.latency_ms for row in rows]
        hours = Counter(moment.hour for moment in local)
        return Stats(
            today=sum(moment >= midnight for moment in local),
            week=len(rows),
            found_rate=100 * sum(r.found for r in rows) / len(rows) if rows else None,
            up=votes.get(True, 0),
            down=votes.get(False, 0),
            p50_ms=statistics.median(latencies) if latencies else None,
            p95_ms=_percentile(latencies, 0.95),
            busiest=sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:3],
        )

    def bad_answers(self, limit: int = 10) -> list[BadAnswer]:
        """The latest answers a citizen marked 👎 or staff marked ❌, newest first."""
        q = questions.c
        down = (
            sa.select(feedback.c.at, q.question, q.sources, sa.literal("👎").label("why"))
            .join(questions, q.id == feedback.c.question_id)
            .where(feedback.c.helpful.is_(False))
        )
        wrong = (
            sa.select(verdicts.c.at, q.question, q.sources, sa.literal("❌").label("why"))
            .join(questions, q.id == verdicts.c.question_id)
            .where(verdicts.c.correct.is_(False))
        )
        both = sa.union_all(down, wrong).subquery()
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(both).order_by(both.c.at.desc()).limit(limit)).all()
        return [
            BadAnswer(r.at, r.question, r.sources[0]["article_id"] if r.sources else "-", r.why)
            for r in rows
        ]

    def unanswered(self, days: int = 30, limit: int = 300) -> list[str]:
        """Recent questions that came back not found, newest first."""
        q = questions.c
        since = utcnow() - dt.timedelta(days=days)
        with self.db.connect() as conn:
            return list(
                conn.scalars(
                    sa.select(q.question)
                    .where(q.found.is_(False), q.at >= since)
                    .order_by(q.at.desc())
                    .limit(limit)
                )
            )

    def export(self, out: TextIO, since: dt.date) -> int:
        """The log since ``since`` as CSV for staff (user hashes, never ids); returns rows."""
        q = questions.c
        start = dt.datetime.combine(since, dt.time(), LOCAL).astimezone(dt.UTC)
        votes = (
            sa.select(
                feedback.c.question_id,
                sa.func.sum(sa.case((feedback.c.helpful, 1), else_=0)).label("up"),
                sa.func.sum(sa.case((feedback.c.helpful, 0), else_=1)).label("down"),
            )
            .group_by(feedback.c.question_id)
            .subquery()
        )
        checks = (
            sa.select(
                verdicts.c.question_id,
                sa.func.sum(sa.case((verdicts.c.correct, 1), else_=0)).label("correct"),
                sa.func.sum(sa.case((verdicts.c.correct, 0), else_=1)).label("wrong"),
            )
            .group_by(verdicts.c.question_id)
            .subquery()
        )
        query = (
            sa.select(questions, votes.c.up, votes.c.down, checks.c.correct, checks.c.wrong)
            .outerjoin(votes, votes.c.question_id == q.id)
            .outerjoin(checks, checks.c.question_id == q.id)
            .where(q.at >= start.replace(tzinfo=None))
            .order_by(q.at)
        )
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        with self.db.connect() as conn:
            for r in conn.execute(query):
                sources = " ".join(f"{s['article_id']}:{s['score']}" for s in r.sources)
                writer.writerow(
                    [
                        r.at.replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
                        spreadsheet_safe(r.question),
                        r.chat_type,
                        r.user_hash,
                        int(r.found),
                        r.confidence,
                        sources,
                        r.latency_ms,
                        r.up or 0,
                        r.down or 0,
                        r.correct or 0,
                        r.wrong or 0,
                    ]
                )
                count += 1
        return count


# A cell a spreadsheet reads as a formula (OWASP, "CSV Injection"): its first character.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A citizen's text as a cell staff can open safely: one that a spreadsheet would run as a
    formula gets a leading apostrophe (shown as text, the words unchanged after it)."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


EXPORT_COLUMNS = (
    "at_utc",
    "question",
    "chat_type",
    "user_hash",
    "found",
    "confidence",
    "sources",
    "latency_ms",
    "thumbs_up",
    "thumbs_down",
    "staff_correct",
    "staff_wrong",
)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the bot's threads read while one writes; wait rather than fail when busy."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
