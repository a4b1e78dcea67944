"""Retry rules as pure functions: how long to wait, and what state an outcome leads to."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from queuectl.domain.limits import MAX_DURATION
from queuectl.domain.models import Job, JobState, Outcome

__all__ = ["MAX_DELAY", "RetryPolicy", "Transition", "backoff_delay", "decide"]

#: Delays are clamped to the longest duration accepted anywhere, so huge exponents
#: cannot overflow a timestamp.
MAX_DELAY = MAX_DURATION


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The runner's defaults; a job's own backoff fields override them."""

    backoff_base: float = 2.0
    backoff_max: float = 3600.0
    #: ``none``: exactly the capped delay; ``full``: uniform in [0, capped delay].
    backoff_jitter: str = "none"


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


def backoff_delay(
    attempts: int,
    base: float,
    cap: float = MAX_DELAY,
    jitter: str = "none",
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempts``.

    ``min(cap, base ** attempts)``, and with full jitter a uniform draw between 0 and
    that (spreads a burst of failures so they do not all retry at the same moment).
    """
    try:
        delay = float(base) ** attempts
    except OverflowError:
        delay = MAX_DELAY
    delay = min(delay, cap, MAX_DELAY)
    if jitter == "full":
        delay *= rand()
    return delay


def decide(
    job: Job, outcome: Outcome, policy: RetryPolicy, rand: Callable[[], float] = random.random
) -> Transition:
    """The state an attempt's outcome leads to.

    ``job.attempts`` already counts the attempt that just ended. A job runs at most
    ``1 + max_retries`` times; an attempt cut short by a crash counts (the command did
    start), one given back by a hard shutdown does not. A job with ``retry_on`` retries
    a non-zero exit only when its code is listed; timeouts, signals and crashes are not
    the command's verdict on itself, so they retry as any failure does.
    """
    if outcome.succeeded:
        return Transition(JobState.COMPLETED, exit_code=outcome.exit_code)
    if outcome.reason == "cancel":
        return Transition(JobState.CANCELLED, exit_code=outcome.exit_code, last_error=outcome.error)
    if outcome.reason == "shutdown":
        return Transition(JobState.PENDING, counted=False, exit_code=None, last_error=outcome.error)
    if (
        outcome.reason == "exit"
        and job.retry_on is not None
        and outcome.exit_code not in job.retry_on
    ):
        codes = ", ".join(map(str, job.retry_on)) or "none"
        why = f"no retry: exit code {outcome.exit_code} is not in retry_on ({codes})"
        error = why if not outcome.error else f"{why}\n{outcome.error}"
        return Transition(JobState.DEAD, exit_code=outcome.exit_code, last_error=error)
    exhausted = job.attempts >= 1 + job.max_retries
    if exhausted:
        return Transition(JobState.DEAD, exit_code=outcome.exit_code, last_error=outcome.error)
    if outcome.reason == "crash":
        # The runner failed, not the command: run it again as soon as possible.
        return Transition(JobState.PENDING, exit_code=None, last_error=outcome.error)
    delay = backoff_delay(
        job.attempts,
        policy.backoff_base if job.backoff_base is None else job.backoff_base,
        policy.backoff_max if job.backoff_max is None else job.backoff_max,
        policy.backoff_jitter if job.backoff_jitter is None else job.backoff_jitter,
        rand,
    )
    return Transition(
        JobState.FAILED,
        delay=delay,
        exit_code=outcome.exit_code,
        last_error=outcome.error,
    )
