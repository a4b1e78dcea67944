"""Retry rules: backoff as a pure function, and the state each outcome leads to."""

from __future__ import annotations

import pytest

from queuectl.domain.models import Job, JobState, Outcome
from queuectl.domain.retry import MAX_DELAY, RetryPolicy, backoff_delay, decide
from tests.helpers import job_record

POLICY = RetryPolicy(backoff_base=2.0)
FAILED_EXIT = Outcome(exit_code=1, reason="exit", error="exit code 1\nboom")


def job(attempts: int, max_retries: int = 3) -> Job:
    """A job as a runner holds it after claiming: ``attempts`` counts the current run."""
    return job_record(
        "j", command="false", state=JobState.PROCESSING, attempts=attempts, max_retries=max_retries
    )


@pytest.mark.parametrize(
    ("attempts", "base", "delay"),
    [(1, 2, 2), (2, 2, 4), (3, 2, 8), (10, 2, 1024), (1, 3, 3), (3, 3, 27), (5, 1, 1), (0, 2, 1)],
)
def test_backoff_is_base_to_the_power_of_the_attempt(
    attempts: int, base: float, delay: float
) -> None:
    assert backoff_delay(attempts, base) == delay


def test_backoff_accepts_fractional_bases() -> None:
    assert backoff_delay(2, 1.5) == pytest.approx(2.25)


@pytest.mark.parametrize(("attempts", "base"), [(100, 2), (1000, 10), (10_000, 2), (1001, 1e300)])
def test_huge_backoff_is_clamped_not_overflowing(attempts: int, base: float) -> None:
    assert backoff_delay(attempts, base) == MAX_DELAY


def test_backoff_grows_until_the_clamp() -> None:
    delays = [backoff_delay(k, 2) for k in range(1, 40)]
    assert delays == sorted(delays)
    assert delays[-1] == MAX_DELAY


def test_success_completes() -> None:
    t = decide(job(1), Outcome(), POLICY)
    assert t.state == JobState.COMPLETED
    assert (t.exit_code, t.last_error, t.counted) == (0, None, True)


def test_success_on_the_last_allowed_attempt_still_completes() -> None:
    assert decide(job(4, max_retries=3), Outcome(), POLICY).state == JobState.COMPLETED


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_failure_with_retries_left_waits_base_to_the_k(attempt: int) -> None:
    t = decide(job(attempt, max_retries=3), FAILED_EXIT, POLICY)
    assert t.state == JobState.FAILED
    assert t.delay == 2.0**attempt
    assert t.counted
    assert (t.exit_code, t.last_error) == (1, "exit code 1\nboom")


def test_failure_uses_the_policy_base() -> None:
    assert decide(job(2), FAILED_EXIT, RetryPolicy(backoff_base=3)).delay == 9


@pytest.mark.parametrize("max_retries", [0, 1, 3, 7])
def test_job_goes_dead_exactly_after_one_plus_max_retries_runs(max_retries: int) -> None:
    states = [
        decide(job(k, max_retries), FAILED_EXIT, POLICY).state for k in range(1, max_retries + 2)
    ]
    assert states == [JobState.FAILED] * max_retries + [JobState.DEAD]


def test_dead_keeps_the_last_outcome() -> None:
    t = decide(job(1, max_retries=0), FAILED_EXIT, POLICY)
    assert t.state == JobState.DEAD
    assert (t.exit_code, t.last_error, t.delay) == (1, "exit code 1\nboom", 0.0)


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(exit_code=None, reason="timeout", signal=15, error="timed out after 1s"),
        Outcome(exit_code=None, reason="error", error="ValueError: bad"),
        Outcome(exit_code=None, reason="exit", signal=9, error="killed by SIGKILL"),
        Outcome(exit_code=127, reason="exit", error="exit code 127\nsh: nope: not found"),
    ],
)
def test_timeouts_errors_and_signals_are_failures(outcome: Outcome) -> None:
    assert not outcome.succeeded
    t = decide(job(1), outcome, POLICY)
    assert (t.state, t.delay, t.last_error) == (JobState.FAILED, 2.0, outcome.error)


def test_a_crash_is_counted_and_retried_at_once() -> None:
    t = decide(job(1), Outcome(exit_code=None, reason="crash", error="runner died"), POLICY)
    assert (t.state, t.delay, t.counted) == (JobState.PENDING, 0.0, True)
    assert t.last_error == "runner died"


def test_a_crash_on_the_last_attempt_goes_dead() -> None:
    t = decide(job(2, max_retries=1), Outcome(exit_code=None, reason="crash", error="died"), POLICY)
    assert (t.state, t.last_error) == (JobState.DEAD, "died")


@pytest.mark.parametrize("attempts", [1, 4])
def test_a_shutdown_gives_the_job_back_uncounted(attempts: int) -> None:
    # Even on what would be its last attempt: the attempt did not count.
    outcome = Outcome(exit_code=None, reason="shutdown", error="hard stop")
    t = decide(job(attempts, max_retries=3), outcome, POLICY)
    assert (t.state, t.counted, t.delay) == (JobState.PENDING, False, 0.0)


def test_decide_is_pure() -> None:
    j = job(1)
    before = j._replace()
    assert decide(j, FAILED_EXIT, POLICY) == decide(j, FAILED_EXIT, POLICY)
    assert j == before


def test_attempts_left() -> None:
    assert [job(k, max_retries=2).attempts_left for k in range(5)] == [3, 2, 1, 0, 0]


# -- retry_on: only some exit codes retry ------------------------------------------------


def limited(codes: tuple[int, ...] | None, attempts: int = 1) -> Job:
    return job(attempts)._replace(retry_on=codes)


def test_an_exit_code_not_in_retry_on_goes_to_the_dlq_at_once() -> None:
    t = decide(limited((75, 111)), FAILED_EXIT, POLICY)
    assert (t.state, t.exit_code) == (JobState.DEAD, 1)
    assert t.last_error == "no retry: exit code 1 is not in retry_on (75, 111)\nexit code 1\nboom"


def test_an_exit_code_in_retry_on_retries_as_usual() -> None:
    outcome = Outcome(exit_code=75, reason="exit", error="exit code 75")
    t = decide(limited((75,)), outcome, POLICY)
    assert (t.state, t.delay, t.last_error) == (JobState.FAILED, 2.0, "exit code 75")


def test_a_listed_code_still_ends_dead_when_attempts_run_out() -> None:
    outcome = Outcome(exit_code=75, reason="exit", error="exit code 75")
    assert decide(limited((75,), attempts=4), outcome, POLICY).state == JobState.DEAD


def test_an_empty_retry_on_retries_no_exit_code() -> None:
    t = decide(limited(()), FAILED_EXIT, POLICY)
    assert t.state == JobState.DEAD
    assert t.last_error is not None
    assert t.last_error.startswith("no retry: exit code 1 is not in retry_on (none)")


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(exit_code=None, reason="timeout", signal=15, error="timed out"),
        Outcome(exit_code=None, reason="signal", signal=9, error="killed by SIGKILL"),
        Outcome(exit_code=None, reason="error", error="cwd /x: No such file or directory"),
    ],
    ids=["timeout", "signal", "error"],
)
def test_timeouts_signals_and_errors_retry_whatever_retry_on_says(outcome: Outcome) -> None:
    assert decide(limited(()), outcome, POLICY).state == JobState.FAILED


def test_a_crash_retries_whatever_retry_on_says() -> None:
    outcome = Outcome(exit_code=None, reason="crash", error="runner died")
    assert decide(limited(()), outcome, POLICY).state == JobState.PENDING


def test_success_completes_whatever_retry_on_says() -> None:
    assert decide(limited(()), Outcome(), POLICY).state == JobState.COMPLETED
