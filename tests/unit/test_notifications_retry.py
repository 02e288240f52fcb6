"""The retry schedule of webhook deliveries: exponential, capped, jittered, limited."""

from __future__ import annotations

import pytest
from ipcoord.notifications.domain.retry import RetrySchedule


def test_waits_grow_exponentially_up_to_the_cap_then_attempts_run_out():
    schedule = RetrySchedule(first_delay_s=1, factor=2, max_delay_s=10, max_attempts=6)
    top = lambda: 1.0 - 1e-12  # noqa: E731 - the highest draw: the ceiling itself
    assert [round(schedule.next_delay(n, top), 6) for n in range(1, 6)] == [1, 2, 4, 8, 10]
    assert schedule.next_delay(6, top) is None  # the sixth attempt failed: no seventh


def test_full_jitter_draws_between_zero_and_the_ceiling():
    schedule = RetrySchedule(first_delay_s=2, factor=3, max_delay_s=100, max_attempts=5)
    assert schedule.next_delay(3, lambda: 0.0) == 0.0
    assert schedule.next_delay(3, lambda: 0.5) == pytest.approx(9.0)  # half of 2 * 3**2
    delays = [schedule.next_delay(4) for _ in range(200)]
    assert all(0 <= d < 54 for d in delays) and len(set(delays)) > 100


@pytest.mark.parametrize(
    "kwargs",
    [{"first_delay_s": 0}, {"factor": 0.5}, {"max_delay_s": 0.5}, {"max_attempts": 0}],
)
def test_a_schedule_that_cannot_work_is_refused(kwargs):
    with pytest.raises(ValueError):
        RetrySchedule(**kwargs)
