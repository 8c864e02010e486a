"""Staff tools in the Telegram test chat: debug blocks, ✅/❌ verdicts and maintenance commands.

Only the chats in DGBOT_STAFF_CHAT_IDS, and there only the users in DGBOT_STAFF_USER_IDS, may
use them; the check runs on every command and every button press, because callback data comes
from the client and can be forged. Long work (/eval, /reindex) runs as a background task so the
bot keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError

from index import (
    Answer,
    Engine,
    ReindexError,
    load_jsonl,
    outcomes,
    regressions,
    reindex,
    run_evaluation,
)

from . import texts
from .render import callback_data, esc, plain_text
from .send import send_html
from .services import Services, services

log = logging.getLogger(__name__)

VERDICT, CORRECT, WRONG = "s", "c", "w"
VERDICT_DATA = re.compile(rf"^{VERDICT}:\d{{1,18}}:[{CORRECT}{WRONG}]$")
DEBUG_HITS = 5
UNANSWERED_DAYS = 30
SIMILAR = 0.9  # e5 cosine above which two questions are read as the same need
GROUPS_SHOWN = 10
LISTED = 10  # articles named in a reindex summary, questions in an eval regression list

Handler = Callable[[Update, "object"], Awaitable[None]]


# --------------------------------------------------------------------------- access


def is_staff_chat(svc: Services, chat_id: int) -> bool:
    return chat_id in svc.staff_chats


def allowed(svc: Services, update: Update) -> bool:
    """Staff work needs both: a staff member, in a staff chat."""
    user, chat = update.effective_user, update.effective_chat
    return (
        user is not None
        and chat is not None
        and is_staff_chat(svc, chat.id)
        and user.id in svc.settings.staff_user_ids
    )


def staff_only(handler: Handler) -> Handler:
    """Refuse politely and log the attempt (with a hashed user) unless ``allowed``."""

    @functools.wraps(handler)
    async def guarded(update: Update, context) -> None:
        svc = services(context)
        if allowed(svc, update):
            await handler(update, context)
            return
        user, chat = update.effective_user, update.effective_chat
        log.warning(
            "refused staff action %s from user %s in chat %s",
            handler.__name__,
            svc.records.user_hash(user.id) if user else "?",
            # A private chat's id is the user's id: name only group chats.
            "?" if chat is None else "(private)" if chat.type == ChatType.PRIVATE else chat.id,
        )
        if update.callback_query is not None:
            await update.callback_query.answer(texts.STAFF_ONLY, show_alert=True)
        elif update.effective_chat is not None:
            await send_html(context.bot, update.effective_chat.id, texts.STAFF_ONLY)

    return guarded


# --------------------------------------------------------------------------- debug block


def _reader_line(hit) -> str:
    """The reader's span and no-answer scores of a passage it read (nothing if it did not)."""
    if hit.span_score is None:
        return ""
    margin = hit.span_score - hit.null_score
    return (
        f"\n   reader span {hit.span_score:.2f} · no-answer {hit.null_score:.2f}"
        f" · margin {margin:+.2f}"
    )


def debug_html(answer: Answer, question_id: int | None, engine: Engine) -> str:
    """What staff need to judge an answer: the top passages' scores, confidence, timings."""
    best = answer.hits[0].score if answer.hits else 0.0
    verdict = "found" if answer.found else "not in the sources" if answer.unknown else "not found"
    if answer.hits and answer.hits[0].span_score is not None:
        basis = f"reader + retrieval vs {engine.calibration.found_at:.2f}"
    else:
        basis = f"best {best:.3f} vs threshold {engine.threshold.min_score:.3f}"
    lines = [
        f"🔧 <b>debug</b> #{question_id if question_id is not None else '-'}",
        f"confidence {answer.confidence:.3f} · {basis} → {verdict}",
    ]
    for n, hit in enumerate(answer.hits[:DEBUG_HITS], start=1):
        lines.append(
            f"{n}. <code>{esc(hit.chunk.article_id)}</code> {esc(hit.chunk.title[:60])}\n"
            f"   fused {hit.score:.3f} · dense {hit.dense:.3f} · lexical {hit.lexical:.3f}"
            f" · article {hit.article_dense:.3f}/{hit.article_lexical:.3f}"
            f"{'' if hit.year_ok else ' · other year'}"
            f"{_reader_line(hit)}\n"
            f"   🔗 {esc(hit.chunk.url)}"
        )
    steps = " · ".join(f"{step} {ms:.1f}" for step, ms in answer.timings_ms.items())
    lines.append(f"⏱ {steps} ms")
    return "\n".join(lines)


def verdict_keyboard(question_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ ถูก", callback_data=callback_data(VERDICT, str(question_id), CORRECT)
                ),
                InlineKeyboardButton(
                    "❌ ผิด", callback_data=callback_data(VERDICT, str(question_id), WRONG)
                ),
            ]
        ]
    )


async def send_debug(
    bot: Bot,
    svc: Services,
    chat_id: int,
    answer: Answer,
    question_id: int | None,
    reply_to: int | None,
) -> None:
    """Under an answer in a staff chat: its debug block, with verdict buttons if recorded."""
    html = debug_html(answer, question_id, svc.loaded())
    keyboard = verdict_keyboard(question_id) if question_id is not None else None
    await send_html(bot, chat_id, html, keyboard=keyboard, reply_to=reply_to)


@staff_only
async def verdict_button(update: Update, context) -> None:
    """✅/❌ under a debug block: stored against the recorded question."""
    query = update.callback_query
    _, question_id, mark = query.data.split(":")
    saved = await asyncio.to_thread(
        services(context).records.record_verdict,
        int(question_id),
        query.from_user.id,
        mark == CORRECT,
    )
    await query.answer(texts.VERDICT_SAVED if saved else texts.EXPIRED)


# --------------------------------------------------------------------------- commands


async def _say(update: Update, context, html: str) -> None:
    await send_html(context.bot, update.effective_chat.id, html)


def _background(context, work: Awaitable[None]) -> None:
    """Run ``work`` after the handler returns; failures reach the error handler."""
    context.application.create_task(work)


def _reason(exc: BaseException) -> str:
    return esc(f"{exc.__class__.__name__}: {exc}".splitlines()[0][:300])


def eval_html(metrics: dict, worse: list[str] | None) -> str:
    shown = ("r@1", "mrr@10", "answer_accuracy", "out_of_scope_refusal", "questions")
    lines = [f"{name}: {metrics.get(name)}" for name in shown]
    if worse is None:
        lines.append(texts.EVAL_FIRST)
    elif not worse:
        lines.append(texts.EVAL_NO_WORSE)
    else:
        lines.append(texts.EVAL_WORSE.format(count=len(worse)))
        lines += [f"• {line}" for line in worse[:LISTED]]
    return "<b>/eval</b>\n" + "\n".join(esc(line) for line in lines)


async def _evaluate(bot: Bot, svc: Services, chat_id: int) -> None:
    try:
        items = await asyncio.to_thread(load_jsonl, svc.settings.gold_questions)
        report = await asyncio.to_thread(run_evaluation, svc.loaded(), items)
        now = outcomes(report)
        metrics = report.metrics()
        previous = await asyncio.to_thread(svc.records.save_eval, metrics, now)
    except (OSError, ValueError) as exc:
        await send_html(bot, chat_id, texts.EVAL_FAILED.format(reason=_reason(exc)))
        return
    worse = None if previous is None else regressions(previous, now)
    await send_html(bot, chat_id, eval_html(metrics, worse))


@staff_only
async def eval_command(update: Update, context) -> None:
    """/eval: the gold question set, in the background; metrics and what got worse."""
    await _say(update, context, texts.EVAL_STARTED)
    _background(context, _evaluate(context.bot, services(context), update.effective_chat.id))


def _names(ids: list[str]) -> str:
    more = f" …(+{len(ids) - LISTED})" if len(ids) > LISTED else ""
    return f"{len(ids)}" + (f" ({', '.join(ids[:LISTED])}{more})" if ids else "")


async def _reindex(bot: Bot, svc: Services, chat_id: int) -> None:
    started = time.perf_counter()
    try:
        gold = await asyncio.to_thread(load_jsonl, svc.settings.gold_questions)
        done = await asyncio.to_thread(
            reindex, svc.settings.engine, svc.loaded(), gold, svc.settings.reindex_tolerance
        )
    except (ReindexError, OSError, ValueError) as exc:
        log.warning("reindex failed: %s", exc)
        reason = esc(str(exc)) if isinstance(exc, ReindexError) else _reason(exc)
        await send_html(bot, chat_id, texts.REINDEX_FAILED.format(reason=reason))
        return
    finally:
        svc.reindexing = False
    svc.engine = done.engine  # one assignment: each question sees the old or the new, whole
    report = done.report
    html = texts.REINDEX_DONE.format(
        seconds=time.perf_counter() - started,
        articles=report.articles,
        added=esc(_names(report.added)),
        changed=esc(_names(report.changed)),
        removed=esc(_names(report.removed)),
        r1_before=done.before.get("r@1"),
        r1_after=done.after.get("r@1"),
    )
    await send_html(bot, chat_id, html)


@staff_only
async def reindex_command(update: Update, context) -> None:
    """/reindex: rebuild from the corpus beside the live index, check it, swap it in."""
    svc = services(context)
    if svc.reindexing:
        await _say(update, context, texts.REINDEX_BUSY)
        return
    svc.reindexing = True  # no await since the check: a second /reindex cannot slip in
    await _say(update, context, texts.REINDEX_STARTED)
    _background(context, _reindex(context.bot, svc, update.effective_chat.id))


@staff_only
async def stats_command(update: Update, context) -> None:
    """/stats: the same figures as ``dgbot stats``."""
    stats = await asyncio.to_thread(services(context).records.stats)
    await _say(update, context, "<b>/stats</b>\n" + esc(stats.text()))


@staff_only
async def feedback_command(update: Update, context) -> None:
    """/feedback: the latest answers people marked 👎 and staff marked ❌."""
    bad = await asyncio.to_thread(services(context).records.bad_answers)
    if not bad:
        await _say(update, context, texts.FEEDBACK_NONE)
        return
    lines = [
        f"{item.why} {item.at:%Y-%m-%d %H:%M} · <code>{esc(item.article_id)}</code>\n"
        f"   {esc(item.question[:200])}"
        for item in bad
    ]
    await _say(update, context, "<b>/feedback</b>\n" + "\n".join(lines))


def group_similar(
    questions: list[str], vectors: np.ndarray, threshold: float = SIMILAR
) -> list[list[tuple[str, int]]]:
    """Greedy clusters by cosine with each group's first question; biggest groups first.

    Each group lists distinct questions with how often they were asked.
    """
    counts = Counter(questions)
    first = {text: row for row, text in reversed(list(enumerate(questions)))}
    groups: list[list[str]] = []
    leaders: list[int] = []
    for text in counts:
        row = first[text]
        sims = [float(vectors[row] @ vectors[lead]) for lead in leaders]
        best = int(np.argmax(sims)) if sims else -1
        if best >= 0 and sims[best] >= threshold:
            groups[best].append(text)
        else:
            groups.append([text])
            leaders.append(row)
    grouped = [[(text, counts[text]) for text in group] for group in groups]
    return sorted(grouped, key=lambda group: -sum(n for _, n in group))


def unanswered_html(groups: list[list[tuple[str, int]]]) -> str:
    lines = [f"<b>{texts.UNANSWERED_TITLE.format(days=UNANSWERED_DAYS)}</b>"]
    for group in groups[:GROUPS_SHOWN]:
        total = sum(n for _, n in group)
        asked = " / ".join(esc(text[:120]) + (f" ×{n}" if n > 1 else "") for text, n in group[:5])
        lines.append(f"• ({total}) {asked}")
    return "\n".join(lines)


@staff_only
async def unanswered_command(update: Update, context) -> None:
    """/unanswered: recent not-found questions grouped by meaning: what the corpus lacks."""
    svc = services(context)
    asked = await asyncio.to_thread(svc.records.unanswered, UNANSWERED_DAYS)
    if not asked:
        await _say(update, context, texts.UNANSWERED_NONE.format(days=UNANSWERED_DAYS))
        return
    loop = asyncio.get_running_loop()
    vectors = await loop.run_in_executor(svc.executor, svc.loaded().embed_questions, asked)
    await _say(update, context, unanswered_html(group_similar(asked, vectors)))


COMMANDS = {
    "eval": eval_command,
    "reindex": reindex_command,
    "stats": stats_command,
    "feedback": feedback_command,
    "unanswered": unanswered_command,
}


# --------------------------------------------------------------------------- errors


def _where(error: BaseException) -> str:
    """The innermost frame in dgbot's own code: enough to find the bug, nothing private."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).parent.name in ("bot", "index")] or frames
    if not ours:
        return "?"
    frame = ours[-1]
    return f"{Path(frame.filename).parent.name}/{Path(frame.filename).name}:{frame.lineno}"


def _kind(update: object) -> str:
    if isinstance(update, Update):
        for name in ("callback_query", "inline_query", "edited_message", "message"):
            if getattr(update, name) is not None:
                return name
    return "job"


async def report_error(bot: Bot, svc: Services, update: object, error: BaseException) -> None:
    """Tell the staff chats an update failed: the error's type and place, never its message
    (it may quote a user's question or a URL with the token)."""
    text = texts.STAFF_ERROR.format(
        error=esc(error.__class__.__name__), kind=_kind(update), where=esc(_where(error))
    )
    notify_staff(bot, svc, text)


# The same notice again within this long says nothing new: a burst of one error is one message.
NOTICE_REPEAT_SECONDS = 600.0


def notify_staff(bot: Bot, svc: Services, text: str) -> None:
    """Send a staff notice in the background, once per NOTICE_REPEAT_SECONDS for the same text.
    Nothing waits for it: staff chats are groups, whose send limit must not hold up a handler
    (or the record's queue) that has other chats to serve."""
    now = time.monotonic()
    svc.notices = {t: at for t, at in svc.notices.items() if now - at < NOTICE_REPEAT_SECONDS}
    if text in svc.notices:
        return
    svc.notices[text] = now
    task = asyncio.get_running_loop().create_task(tell_staff(bot, svc, text))
    svc.background.add(task)  # kept until done: the loop holds tasks only weakly
    task.add_done_callback(svc.background.discard)


async def announce(bot: Bot, svc: Services, text: str) -> None:
    """``notify_staff`` where a coroutine is wanted (the record's queue tells staff this way)."""
    notify_staff(bot, svc, text)


async def tell_staff(bot: Bot, svc: Services, text: str) -> None:
    """A one-line notice to every staff chat; one Telegram cannot parse goes again as plain
    text (a notice is never lost to its markup), and a failure to deliver is only logged."""
    for chat_id in sorted(svc.staff_chats):
        try:
            try:
                await bot.send_message(chat_id, text)
            except BadRequest as exc:
                if "parse entities" not in str(exc).lower():
                    raise
                await bot.send_message(chat_id, plain_text(text), parse_mode=None)
        except TelegramError as exc:
            log.warning("could not tell staff chat %s: %s", chat_id, exc)
