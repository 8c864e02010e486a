"""Progress lines with a rate and an ETA for long builds (a full news corpus takes hours on a
small CPU, so an operator needs to know how far it is and when it will end).

Plain lines, not a redrawn bar, so they read the same in a terminal and in a log file.
"""

from __future__ import annotations

import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Stage:
    """One counted step (chunking articles, embedding chunks): reports every ``every`` seconds
    and once at the end."""

    def __init__(self, stream: TextIO | None, name: str, total: int, unit: str, every: float):
        self.stream, self.name, self.total, self.unit, self.every = stream, name, total, unit, every
        self.done = 0
        self.started = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.stream and (now - self.last >= self.every or self.done >= self.total):
            self.last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "done" if self.done >= self.total else f"ETA {_clock(left) if rate else '?'}"
        return (
            f"{self.name}: {self.done:,}/{self.total:,} {self.unit} ({share:.1%}), "
            f"{rate:,.1f} {self.unit}/s, {_clock(elapsed)} elapsed, {eta}"
        )


class Progress:
    """Hands out stages; silent when ``stream`` is None (tests, the bot's hot reindex)."""

    def __init__(self, stream: TextIO | None = None, every: float = 10.0):
        self.stream, self.every = stream, every

    def stage(self, name: str, total: int, unit: str) -> Stage:
        return Stage(self.stream, name, total, unit, self.every)

    def note(self, text: str) -> None:
        if self.stream:
            self.stream.write(text + "\n")
            self.stream.flush()
