"""Retry rules as pure functions: how long to wait, and what state an outcome leads to."""

from __future__ import annotations

from dataclasses import dataclass

from queuectl.models import Job, JobState, Outcome

__all__ = ["MAX_DELAY", "RetryPolicy", "Transition", "backoff_delay", "decide"]

#: Delays are clamped here (about 10 years) so huge exponents cannot overflow a timestamp.
MAX_DELAY = 10 * 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_base: float = 2.0


@dataclass(frozen=True, slots=True)
class Transition:
    """What the store must persist for a finished attempt."""

    state: JobState
    #: Seconds from now until the job may be claimed again (runnable states only).
    delay: float = 0.0
    #: False when the attempt is given back uncounted (hard shutdown).
    counted: bool = True
    exit_code: int | None = None
    last_error: str | None = None


def backoff_delay(attempts: int, base: float) -> float:
    """Seconds to wait after failed attempt number ``attempts``: ``base ** attempts``."""
    try:
        delay = float(base) ** attempts
    except OverflowError:
        return MAX_DELAY
    return min(delay, MAX_DELAY)


def decide(job: Job, outcome: Outcome, policy: RetryPolicy) -> Transition:
    """The state an attempt's outcome leads to.

    ``job.attempts`` already counts the attempt that just ended. A job runs at most
    ``1 + max_retries`` times; an attempt cut short by a crash counts (the command did
    start), one given back by a hard shutdown does not.
    """
    if outcome.succeeded:
        return Transition(JobState.COMPLETED, exit_code=outcome.exit_code)
    if outcome.reason == "shutdown":
        return Transition(JobState.PENDING, counted=False, exit_code=None, last_error=outcome.error)
    exhausted = job.attempts >= 1 + job.max_retries
    if exhausted:
        return Transition(JobState.DEAD, exit_code=outcome.exit_code, last_error=outcome.error)
    if outcome.reason == "crash":
        # The runner failed, not the command: run it again as soon as possible.
        return Transition(JobState.PENDING, exit_code=None, last_error=outcome.error)
    return Transition(
        JobState.FAILED,
        delay=backoff_delay(job.attempts, policy.backoff_base),
        exit_code=outcome.exit_code,
        last_error=outcome.error,
    )
