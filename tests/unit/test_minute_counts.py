"""A runner's outcomes per minute: counted by the store's clock in the batch that
``Store.record_observations`` takes, failed attempts included, given back whole."""

from __future__ import annotations

from queuectl.domain import minutes
from queuectl.domain.models import JobState
from queuectl.runner.observations import Observations


def test_each_outcome_counts_in_its_minute_by_the_given_clock() -> None:
    now = [6_000_000_030.0]
    observed = Observations(lambda: now[0])
    observed.finished("mail", JobState.COMPLETED, 0.1)
    observed.finished("mail", JobState.FAILED, 0.1)
    observed.finished("mail", JobState.COMPLETED, 0.1)
    now[0] += 60
    observed.finished("default", JobState.DEAD, 0.1)
    observed.finished("default", JobState.PROCESSING, 0.1)  # not an outcome
    counts = {k: n for k, n in observed.take().items() if k[0] == minutes.MINUTE}
    assert counts == {
        (minutes.MINUTE, "mail", "6000000000:completed"): 2,
        (minutes.MINUTE, "mail", "6000000000:failed"): 1,
        (minutes.MINUTE, "default", "6000000060:dead"): 1,
    }
    assert observed.take() == {}


def test_a_batch_given_back_is_taken_again_whole() -> None:
    observed = Observations(lambda: 6_000_000_000.0)
    observed.finished("default", JobState.CANCELLED, 2.0)
    first = observed.take()
    observed._put_back(first)
    assert observed.take() == first
