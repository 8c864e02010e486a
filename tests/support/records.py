"""Rows in the record written the way the bot writes them, one call each, for tests that need a
question or a vote in place. The bot itself builds the row first and writes it later (bot/
services.py), since the database may be away; these two do both at once."""

from __future__ import annotations

from bot.records import Records
from index import Answer


def record_answer(
    records: Records, answer: Answer, chat_type: str, user_id: int, latency_ms: float
) -> int:
    """Keep a question with its answer; returns its id, for votes and verdicts later."""
    return records.insert_question(records.question_row(answer, chat_type, user_id, latency_ms))


def record_vote(records: Records, user_id: int, helpful: bool, question_id: int) -> None:
    """A citizen's 👍/👎 on a recorded question (the first vote per user stands)."""
    records.insert_vote(records.vote_row(user_id, helpful), question_id)
