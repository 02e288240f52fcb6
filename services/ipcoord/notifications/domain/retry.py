"""When a failed delivery is tried again: exponential backoff with full jitter, capped, and a
limit on attempts after which the notification has failed (visible to its recipient and to
operators, and dead-lettered).

Full jitter (a delay drawn uniformly between 0 and the capped exponential) spreads the retries
of many notifications to one endpoint that came back, instead of sending them all at once."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySchedule:
    """The default tries 14 times over up to 30 hours (waits drawn below 5 s, 15 s, 45 s...
    capped at 5 h: 15 hours on average), as Standard Webhooks suggests: a receiver down for a
    deployment or a night loses nothing."""

    first_delay_s: float = 5.0
    factor: float = 3.0
    max_delay_s: float = 5 * 3600.0
    max_attempts: int = 14

    def __post_init__(self) -> None:
        if self.first_delay_s <= 0 or self.factor < 1 or self.max_delay_s < self.first_delay_s:
            raise ValueError("need 0 < first_delay_s <= max_delay_s and factor >= 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def ceiling(self, failed_attempts: int) -> float:
        """The longest wait after ``failed_attempts`` failures (the jitter draws below it)."""
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (failed_attempts - 1))

    def next_delay(
        self, failed_attempts: int, draw: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait before the next attempt, or None: no attempt is left.
        ``draw`` returns a float in [0, 1) (injectable in tests)."""
        if failed_attempts >= self.max_attempts:
            return None
        return draw() * self.ceiling(failed_attempts)
