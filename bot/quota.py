"""A per-user limit on questions per minute, so one flood cannot starve everyone else."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from enum import Enum

WINDOW = 60.0
MAX_USERS = 50_000  # users tracked at once; the least recently seen are forgotten


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first refusal in a window: tell the user once
    SILENT = "silent"  # further refusals: say nothing, a flood should not get replies


class QuestionQuota:
    """Sliding one-minute window per user; ``per_minute <= 0`` disables the limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute, self.clock = per_minute, clock
        self._seen: OrderedDict[int, deque[float]] = OrderedDict()
        self._warned: dict[int, float] = {}

    def check(self, user_id: int) -> Verdict:
        if self.per_minute <= 0:
            return Verdict.ALLOW
        now = self.clock()
        times = self._seen.setdefault(user_id, deque())
        self._seen.move_to_end(user_id)
        while times and now - times[0] >= WINDOW:
            times.popleft()
        while len(self._seen) > MAX_USERS:
            forgotten, _ = self._seen.popitem(last=False)
            self._warned.pop(forgotten, None)
        if len(times) < self.per_minute:
            times.append(now)
            self._warned.pop(user_id, None)
            return Verdict.ALLOW
        if now - self._warned.get(user_id, float("-inf")) < WINDOW:
            return Verdict.SILENT
        self._warned[user_id] = now
        return Verdict.WARN
