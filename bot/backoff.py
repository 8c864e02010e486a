"""One retry schedule for what the bot tries again (a message, a poll for updates): a first
wait, doubled after each consecutive failure, up to a cap. Short enough that a blip costs a
second, long enough that an outage is not hammered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5  # seconds after the first failure
    cap: float = 30.0  # never longer than this between tries

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (1 is the first)."""
        return min(self.cap, self.first * 2 ** max(0, failures - 1))


SCHEDULE = Backoff()
