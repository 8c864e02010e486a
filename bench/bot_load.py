"""Load on the real bot: ``dgbot serve`` (long polling, its own process) against the fake Telegram
server, many simulated users, optionally with Telegram faults sprinkled at random.

Counts every question's answers: unanswered (none by the end of the run; those the bot did not
confirm stay queued at Telegram for its next start, also counted), duplicated (more than one),
refused by the per-user limit, or apologised for; and times each answer end to end, from
the moment the question is queued at the fake server to the moment the bot's sendMessage
arrives there (long polling, retries and the engine included).

    # issue 7: 2,000 questions from 200 users with faults
    python -m bench.bot_load --users 200 --questions 2000 --faults
    # issue 6: a steady 30 questions per second for 60 s from 200 users
    python -m bench.bot_load --users 200 --rate 30 --seconds 60
    # start-up: from `dgbot serve` to the first answer, model and index already built
    python -m bench.bot_load --startup 5

Users are paced like people (3.5-6 s between an answer and the next question in the closed
loop; in rate mode each user asks every 200/rate seconds), so the default per-user limit of 20
questions a minute stays on and refuses nobody. Needs the model and index in the usual cache
(``dgbot index build`` first).
"""

from __future__ import annotations

import argparse
import collections
import heapq
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bot import texts
from index.settings import Settings
from tests.support.entities import JSON
from tests.support.users import FakeTelegram

REPO = Path(__file__).resolve().parents[1]
FIRST_USER = 100_000
GRACE = 60.0  # seconds to wait for the last answers after the last question
THINK = (3.5, 6.0)  # seconds a user reads an answer before asking again (closed loop)

# (method, fault, probability per call): Telegram and the network misbehaving, at random.
FAULTS = (
    ("sendMessage", {"status": 429, "retry_after": 1}, 0.003),
    ("sendMessage", {"status": 500}, 0.01),
    ("sendMessage", {"status": 502}, 0.01),
    ("sendMessage", {"reset_connection": True}, 0.01),
    ("sendMessage", {"delay": 0.8}, 0.03),
    ("sendChatAction", {"status": 502}, 0.01),
    ("sendChatAction", {"delay": 0.5}, 0.02),
    ("getUpdates", {"status": 502}, 0.02),
    ("getUpdates", {"reset_connection": True}, 0.02),
    ("getUpdates", {"delay": 0.5}, 0.03),
)


def questions() -> list[str]:
    gold = REPO / "tests/data/gold_questions.jsonl"
    lines = gold.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def inject_faults(tg: FakeTelegram, rng: random.Random) -> None:
    for method, fault, share in FAULTS:
        tg.inject_fault(method, times=10**9, when=lambda _p, s=share: rng.random() < s, **fault)


def start_bot(tg: FakeTelegram, folder: Path, log: Path) -> subprocess.Popen:
    """``dgbot serve`` with the usual model and index, a fresh record, and the fake Telegram."""
    settings = Settings.load()
    env = dict(os.environ)
    env.update(
        DGBOT_CACHE_DIR=str(settings.cache_dir),
        DGBOT_INDEX_DIR=str(settings.index_path),
        DGBOT_DATABASE_URL=f"sqlite:///{folder / 'dgbot.sqlite3'}",
        DGBOT_HASH_SALT="a-benchmark-salt-value",
        DGBOT_TELEGRAM_TOKEN=tg.token,
        DGBOT_TELEGRAM_BASE_URL=tg.base_url,
    )
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve"], cwd=REPO, env=env, stderr=out
        )


def stop_bot(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


class Users:
    """The simulated users: who asked what when, and the answers each got (oldest first)."""

    def __init__(self, tg: FakeTelegram, count: int, pool: list[str], rng: random.Random):
        self.tg, self.pool, self.rng = tg, pool, rng
        self.chats = [FIRST_USER + n for n in range(count)]
        self.asked: dict[int, int] = collections.Counter()
        self.waiting: dict[int, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.replies: dict[int, list[str]] = collections.defaultdict(list)
        self.latencies: list[float] = []
        self.answered_at: list[float] = []
        self.lock = threading.Condition()
        self.on_answer = None  # closed loop: schedule the user's next question
        tg.watch_messages(self._sent)

    def ask(self, chat: int) -> None:
        question = self.rng.choice(self.pool)
        with self.lock:
            self.asked[chat] += 1
            self.waiting[chat].append(time.perf_counter())
        self.tg.send_text(chat, question, user_id=chat)

    def _sent(self, message: JSON) -> None:
        chat, now = message["chat"]["id"], time.perf_counter()
        with self.lock:
            self.replies[chat].append(message["text"])
            if self.waiting[chat]:
                self.latencies.append(now - self.waiting[chat].popleft())
                self.answered_at.append(now)
            self.lock.notify_all()
        if self.on_answer is not None:
            self.on_answer(chat, now)

    def wait_all(self, total: int, timeout: float) -> None:
        with self.lock:
            self.lock.wait_for(lambda: len(self.latencies) >= total, timeout)

    def outcome(self) -> dict:
        replies = [self.replies[c] for c in self.chats]
        unanswered = sum(max(0, self.asked[c] - len(self.replies[c])) for c in self.chats)
        duplicated = sum(max(0, len(self.replies[c]) - self.asked[c]) for c in self.chats)
        ms = sorted(1000 * s for s in self.latencies)
        return {
            "asked": sum(self.asked.values()),
            "answers": sum(len(r) for r in replies),
            "unanswered": unanswered,
            "duplicated": duplicated,
            "refused_by_limit": sum(r.count(texts.RATE_LIMITED) for r in replies),
            "apologies": sum(r.count(texts.ERROR) for r in replies),
            "p50_ms": round(statistics.median(ms)) if ms else None,
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))]) if ms else None,
            "max_ms": round(ms[-1]) if ms else None,
        }


class Scheduler:
    """Pushes questions at their due times from one thread (a heap of (due, chat))."""

    def __init__(self, users: Users) -> None:
        self.users, self.heap, self.cond = users, [], threading.Condition()

    def at(self, due: float, chat: int) -> None:
        with self.cond:
            heapq.heappush(self.heap, (due, chat))
            self.cond.notify()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.cond:
                if not self.heap:
                    self.cond.wait(0.05)
                    continue
                due, chat = self.heap[0]
                wait = due - time.perf_counter()
                if wait > 0:
                    self.cond.wait(min(wait, 0.05))
                    continue
                heapq.heappop(self.heap)
            self.users.ask(chat)


def wait_ready(tg: FakeTelegram, process: subprocess.Popen, log: Path) -> float:
    """Seconds until the bot has published its commands (engine loaded, about to poll)."""
    started = time.perf_counter()
    while not any(c.method == "setMyCommands" for c in tg.calls):
        if process.poll() is not None or time.perf_counter() - started > 300:
            raise SystemExit(f"dgbot serve did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return time.perf_counter() - started


def closed_loop(users: Users, sched: Scheduler, per_user: int) -> float:
    """Each user asks ``per_user`` questions, the next one a few seconds after each answer."""
    total = len(users.chats) * per_user

    def next_question(chat: int, now: float) -> None:
        if users.asked[chat] < per_user:
            sched.at(now + users.rng.uniform(*THINK), chat)

    users.on_answer = next_question
    start = time.perf_counter()
    for chat in users.chats:  # people arrive over the first few seconds
        sched.at(start + users.rng.uniform(0, THINK[1]), chat)
    users.wait_all(total, timeout=total / 2 + GRACE)
    return time.perf_counter() - start


def open_loop(users: Users, sched: Scheduler, rate: float, seconds: float) -> float:
    """``rate`` questions a second for ``seconds``, the users taking turns."""
    start = time.perf_counter()
    count = int(rate * seconds)
    for n in range(count):
        sched.at(start + n / rate, users.chats[n % len(users.chats)])
    users.wait_all(count, timeout=seconds + GRACE)
    return time.perf_counter() - start


def load(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder, FakeTelegram() as tg:
        log = Path(folder) / "serve.log"
        process = start_bot(tg, Path(folder), log)
        try:
            ready = wait_ready(tg, process, log)
            if args.faults:
                inject_faults(tg, rng)
            users = Users(tg, args.users, questions(), rng)
            sched = Scheduler(users)
            stop = threading.Event()
            thread = threading.Thread(target=sched.run, args=(stop,), daemon=True)
            thread.start()
            if args.rate:
                elapsed = open_loop(users, sched, args.rate, args.seconds)
            else:
                elapsed = closed_loop(users, sched, args.questions // args.users)
            time.sleep(2.0)  # a duplicate would arrive within the retry budget
            stop.set()
            faults = len([r for r in tg.history if r.fault])
        finally:
            stop_bot(process)
        result = users.outcome()
        # Unanswered questions the bot never confirmed stay with Telegram for the next start.
        result["unconfirmed_at_telegram"] = len(tg.pending_updates())
        span = max(users.answered_at, default=0) - min(users.answered_at, default=0)
        result.update(
            ready_s=round(ready, 1),
            elapsed_s=round(elapsed, 1),
            answered_per_s=round(len(users.answered_at) / max(span, 1e-9), 1),
            faults_injected=faults,
            users=args.users,
            mode=f"rate {args.rate}/s for {args.seconds}s" if args.rate else "closed loop",
        )
        errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
        result["bot_error_lines"] = len(errors)
    return result


def startup(runs: int) -> dict:
    """Seconds from starting ``dgbot serve`` (question already waiting) to its answer."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder, FakeTelegram() as tg:
            tg.send_text(FIRST_USER, questions()[0])
            started = time.perf_counter()
            process = start_bot(tg, Path(folder), Path(folder) / "serve.log")
            try:
                tg.wait_for_message(FIRST_USER, timeout=120)
                times.append(time.perf_counter() - started)
            finally:
                stop_bot(process)
    return {
        "runs": runs,
        "median_s": round(statistics.median(times), 2),
        "all_s": [round(t, 2) for t in times],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--questions", type=int, default=2000, help="closed loop: in all")
    parser.add_argument("--rate", type=float, help="open loop: questions per second")
    parser.add_argument("--seconds", type=float, default=60, help="open loop: for how long")
    parser.add_argument("--faults", action="store_true", help="sprinkle Telegram faults")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--startup", type=int, metavar="RUNS", help="time start-up instead")
    args = parser.parse_args()
    result = startup(args.startup) if args.startup else load(args)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
