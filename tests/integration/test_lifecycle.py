"""A job's life with real commands: completion, retries, backoff, the DLQ, burst mode."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState
from queuectl.runner.shell import STDERR_TAIL
from queuectl.store import NewJob
from tests.conftest import FAST
from tests.helpers import Clock, Predicate, eventually, run_burst, running


def settled(queue: Queue, job_id: str, attempts: int) -> Predicate:
    """A check that attempt number ``attempts`` has ended and been recorded."""

    async def check() -> bool:
        job = await queue.get(job_id)
        active = (JobState.PENDING, JobState.PROCESSING)
        return job.attempts == attempts and job.state not in active

    return check


async def travel_to_retry(queue: Queue, clock: Clock, job: Job) -> None:
    """Jump the clock to the job's ``run_at`` and wake the runner, instead of waiting."""
    clock.advance(max(0.0, job.run_at.timestamp() - clock()))
    await queue.store.notify("jobs")


async def test_a_job_that_exits_0_completes(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(f"echo hello > {work}/out")
    stats = await run_burst(queue.runner(burst=True))
    done = await queue.get(job.id)
    assert done.state == JobState.COMPLETED
    assert (done.attempts, done.exit_code, done.last_error) == (1, 0, None)
    assert done.finished_at is not None
    assert done.started_at is not None
    assert done.started_at <= done.finished_at
    assert (done.runner_id, done.lease_until) == (None, None)
    assert (work / "out").read_text() == "hello\n"
    assert stats.completed == 1


async def test_a_failing_job_runs_one_plus_max_retries_times_then_goes_dead(
    clocked_queue: Queue, clock: Clock, work: Path
) -> None:
    queue = clocked_queue
    command = f"echo run >> {work}/runs; echo 'bad thing happened' >&2; exit 3"
    job = await queue.enqueue(command, max_retries=3)
    async with running(queue.runner()) as task:
        for attempt in range(1, 5):
            await eventually(settled(queue, job.id, attempt), what=f"attempt {attempt}")
            current = await queue.get(job.id)
            if attempt < 4:
                assert current.state == JobState.FAILED
                await travel_to_retry(queue, clock, current)
    stats = await task
    dead = await queue.get(job.id)
    assert dead.state == JobState.DEAD
    assert (work / "runs").read_text().splitlines() == ["run"] * 4
    assert dead.attempts == 4
    assert dead.exit_code == 3
    assert dead.last_error == "exit code 3\nbad thing happened"
    assert [j.id async for j in queue.dead()] == [job.id]
    assert (stats.failed, stats.dead) == (3, 1)


async def test_backoff_waits_base_to_the_k_after_failed_attempt_k(
    clocked_queue: Queue, clock: Clock, work: Path
) -> None:
    queue = Queue(clocked_queue.store, dataclasses.replace(FAST, backoff_base=3))
    job = await queue.enqueue(f"echo $QUEUECTL_ATTEMPT >> {work}/runs; exit 1", max_retries=3)
    seen: list[Job] = []
    async with running(queue.runner()):
        for attempt in (1, 2, 3):
            await eventually(settled(queue, job.id, attempt), what=f"attempt {attempt}")
            failed = await queue.get(job.id)
            seen.append(failed)
            assert failed.finished_at is not None
            delay = failed.run_at.timestamp() - failed.finished_at.timestamp()
            assert abs(delay - 3**attempt) < 0.01, (attempt, delay)
            await travel_to_retry(queue, clock, failed)
        await eventually(settled(queue, job.id, 4), what="the last attempt")
    # Each retry started only once its backoff had passed.
    final = await queue.get(job.id)
    starts = [j.started_at for j in [*seen[1:], final]]
    for previous, started in zip(seen, starts, strict=True):
        assert started is not None
        assert started >= previous.run_at
    assert (work / "runs").read_text().split() == ["1", "2", "3", "4"]
    assert final.state == JobState.DEAD


async def test_last_error_holds_the_reason_and_a_bounded_stderr_tail(
    queue: Queue, work: Path
) -> None:
    command = "head -c 300000 /dev/zero | tr '\\0' 'e' >&2; echo; echo THE-LAST-WORDS >&2; exit 2"
    job = await queue.enqueue(command, max_retries=0)
    await run_burst(queue.runner(burst=True))
    dead = await queue.get(job.id)
    assert dead.state == JobState.DEAD
    assert dead.exit_code == 2
    assert dead.last_error is not None
    assert dead.last_error.startswith("exit code 2\n")
    assert dead.last_error.endswith("THE-LAST-WORDS")
    assert 3000 < len(dead.last_error.encode()) <= STDERR_TAIL + 100
    assert STDERR_TAIL == 4096


async def test_a_missing_command_is_an_ordinary_failed_attempt(queue: Queue) -> None:
    queue = Queue(queue.store, dataclasses.replace(FAST, backoff_base=2))
    job = await queue.enqueue("no-such-command-for-queuectl-tests --flag", max_retries=1)
    async with running(queue.runner()):
        await eventually(settled(queue, job.id, 1))
    failed = await queue.get(job.id)
    assert failed.state == JobState.FAILED
    assert failed.exit_code == 127
    assert failed.last_error is not None
    assert failed.last_error.startswith("exit code 127\n")
    assert "not found" in failed.last_error
    assert failed.finished_at is not None
    assert failed.run_at.timestamp() - failed.finished_at.timestamp() == 2


async def test_a_command_killed_by_a_signal_fails_naming_the_signal(queue: Queue) -> None:
    job = await queue.enqueue("kill -KILL $$", max_retries=0)
    await run_burst(queue.runner(burst=True))
    dead = await queue.get(job.id)
    assert (dead.state, dead.exit_code) == (JobState.DEAD, None)
    assert dead.last_error == "killed by SIGKILL"


async def test_the_command_sees_its_job_in_the_environment(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(f'echo "$QUEUECTL_JOB_ID $QUEUECTL_ATTEMPT" > {work}/env')
    await run_burst(queue.runner(burst=True))
    assert (work / "env").read_text() == f"{job.id} 1\n"


# -- burst mode -----------------------------------------------------------------------


async def test_burst_exits_at_once_on_an_empty_queue(queue: Queue) -> None:
    stats = await run_burst(queue.runner(burst=True), within=10)
    assert (stats.completed, stats.failed, stats.dead) == (0, 0, 0)


async def test_burst_runs_everything_then_exits(queue: Queue) -> None:
    await queue.enqueue_many(["true"] * 5 + [{"command": "exit 4", "max_retries": 0}])
    stats = await run_burst(queue.runner(burst=True, concurrency=3))
    counts = await queue.counts()
    assert counts == {
        JobState.PENDING: 0,
        JobState.PROCESSING: 0,
        JobState.COMPLETED: 5,
        JobState.FAILED: 0,
        JobState.DEAD: 1,
        JobState.CANCELLED: 0,
    }
    assert (stats.completed, stats.dead) == (5, 1)


async def test_burst_waits_for_a_backoff_retry(queue: Queue, work: Path) -> None:
    # Fails the first time, succeeds the second: burst must stay for the retry.
    flag = work / "tried"
    job = await queue.enqueue(f"if [ -e {flag} ]; then exit 0; fi; touch {flag}; exit 1")
    first_failure: list[Job] = []

    async def watch() -> bool:
        current = await queue.get(job.id)
        if current.state == JobState.FAILED:
            first_failure.append(current)
        return bool(first_failure) or current.state == JobState.COMPLETED

    async with running(queue.runner(burst=True)) as task:
        await eventually(watch)
        stats = await task
    done = await queue.get(job.id)
    assert (done.state, done.attempts, stats.completed) == (JobState.COMPLETED, 2, 1)
    assert first_failure, "the failed state lasts a whole second: the poll must see it"
    assert done.started_at is not None
    assert done.started_at >= first_failure[0].run_at


async def test_burst_does_not_wait_for_a_job_scheduled_later(queue: Queue) -> None:
    await queue.store.enqueue([NewJob("later", "true", max_retries=3, delay=3600)])
    now = await queue.enqueue("true")
    stats = await run_burst(queue.runner(burst=True), within=10)
    assert stats.completed == 1
    assert (await queue.get(now.id)).state == JobState.COMPLETED
    later = await queue.get("later")
    assert (later.state, later.attempts) == (JobState.PENDING, 0)
