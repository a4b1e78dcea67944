"""Recovery: a live runner gives back the jobs of a dead runner or an expired lease."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from pathlib import Path

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState
from queuectl.host.procinfo import host_name
from queuectl.runner.shell import claim_value
from tests.helpers import Clock, dead_pid, eventually, in_state, run_burst, runner_info, running


async def claim_as_dead_runner(queue: Queue, *, host: str | None = None) -> tuple[Job, int]:
    """Register a runner whose process is gone, and let it hold the oldest job."""
    pid = dead_pid()
    info = runner_info("dead-runner", queue.store.now(), pid=pid, host=host or host_name())
    await queue.store.register_runner(info)
    (job,) = await queue.store.claim("dead-runner", 1, queue.settings.lease_seconds)
    return job, pid


async def test_the_job_of_a_dead_runner_is_given_back_and_completes(
    queue: Queue, work: Path
) -> None:
    job = await queue.enqueue(f"echo $QUEUECTL_ATTEMPT >> {work}/attempts")
    await claim_as_dead_runner(queue)
    runner = queue.runner()
    async with running(runner) as task:
        await eventually(lambda: in_state(queue.store, job.id, JobState.COMPLETED))
    stats = await task
    done = await queue.get(job.id)
    assert done.attempts == 2  # the interrupted attempt counted
    assert (work / "attempts").read_text() == "2\n"  # and the command ran once, after it
    assert stats.recovered == 1
    assert [r.id for r in await queue.store.list_runners()] == []  # its entry was cleaned


async def test_recovery_records_why_the_attempt_ended(queue: Queue, work: Path) -> None:
    job = await queue.enqueue(f"touch {work}/ran", max_retries=0)
    _, pid = await claim_as_dead_runner(queue)
    async with running(queue.runner()):
        await eventually(lambda: in_state(queue.store, job.id, JobState.DEAD))
    dead = await queue.get(job.id)
    assert dead.attempts == 1
    assert dead.last_error == (
        f"attempt 1 interrupted: its runner dead-runner (pid {pid} on {host_name()}) died"
    )
    assert not (work / "ran").exists()  # no attempts left: it was not run again


async def test_a_burst_runner_recovers_a_dead_runners_job_before_exiting(queue: Queue) -> None:
    job = await queue.enqueue("true")
    await claim_as_dead_runner(queue)
    stats = await run_burst(queue.runner(burst=True))
    assert (await queue.get(job.id)).state == JobState.COMPLETED
    assert (stats.recovered, stats.completed) == (1, 1)


async def test_an_expired_lease_of_a_remote_runner_is_given_back(
    clocked_queue: Queue, clock: Clock, work: Path
) -> None:
    queue = clocked_queue
    job = await queue.enqueue(f"echo $QUEUECTL_ATTEMPT >> {work}/attempts")
    # A runner on another host: its pid means nothing here, only its lease counts.
    await claim_as_dead_runner(queue, host="elsewhere")
    async with running(queue.runner()):
        clock.advance(queue.settings.lease_seconds + 1)
        await eventually(lambda: in_state(queue.store, job.id, JobState.COMPLETED))
    done = await queue.get(job.id)
    assert done.attempts == 2
    assert (work / "attempts").read_text() == "2\n"


async def test_a_live_runners_job_is_left_alone(queue: Queue, work: Path) -> None:
    # A registered runner on this host whose process is alive (this one) keeps its job.
    await queue.store.register_runner(runner_info("alive", queue.store.now(), host=host_name()))
    job = await queue.enqueue(f"touch {work}/ran")
    await queue.store.claim("alive", 1, 3600)
    other = await queue.enqueue("true")
    async with running(queue.runner()):
        await eventually(lambda: in_state(queue.store, other.id, JobState.COMPLETED))
    held = await queue.get(job.id)
    assert (held.state, held.runner_id, held.attempts) == (JobState.PROCESSING, "alive", 1)
    assert not (work / "ran").exists()


async def test_a_job_longer_than_its_lease_is_not_taken_over(queue: Queue, work: Path) -> None:
    # Heartbeats renew the lease every third of it, so a second runner watching
    # for expired leases never takes over a job that is still running.
    settings = dataclasses.replace(queue.settings, lease_seconds=0.6)
    queue = Queue(queue.store, settings)
    job = await queue.enqueue(f"echo $QUEUECTL_RUNNER_ID >> {work}/runs; sleep 2")
    first = queue.runner()
    async with running(first):
        await eventually(lambda: (work / "runs").exists())
        second = queue.runner()
        async with running(second):
            await eventually(lambda: in_state(queue.store, job.id, JobState.COMPLETED))
    assert (work / "runs").read_text() == f"{first.id}\n"
    done = await queue.get(job.id)
    assert (done.attempts, done.last_error) == (1, None)
    assert (first.stats.completed, second.stats.recovered) == (1, 0)


async def test_a_runner_entry_whose_pid_now_names_another_process_is_recovered(
    queue: Queue,
) -> None:
    # The pid is alive (it is this test's), but it started at another time than the
    # runner recorded: the runner is dead and its pid was reused.
    import os

    from queuectl.host.procinfo import process_start

    start = process_start(os.getpid())
    assert start is not None
    info = runner_info("reused", queue.store.now(), pid=os.getpid(), host=host_name())
    await queue.store.register_runner(info._replace(pid_start=start - 1))
    job = await queue.enqueue("true")
    (claimed,) = await queue.store.claim("reused", 1, queue.settings.lease_seconds)
    assert claimed.id == job.id
    stats = await run_burst(queue.runner(burst=True))
    assert (await queue.get(job.id)).state == JobState.COMPLETED
    assert stats.recovered == 1


async def test_recovery_ends_only_its_own_claims_leftovers_not_a_same_named_job_of_another_store(
    clocked_queue: Queue, clock: Clock, work: Path
) -> None:
    queue = clocked_queue
    await queue.enqueue("true", id="same")
    claimed, _ = await claim_as_dead_runner(queue, host="elsewhere")
    # Two leftovers on this host: one of this claim (by dead-runner), and one of a job
    # with the same id and token that another store's runner is running right now.
    ours, theirs = (
        subprocess.Popen(
            ["sleep", "60"],
            env={**os.environ, "QUEUECTL_CLAIM": claim_value("same", claimed.token, owner)},
            start_new_session=True,
        )
        for owner in ("dead-runner", "another-stores-runner")
    )
    try:
        async with running(queue.runner()):
            clock.advance(queue.settings.lease_seconds + 1)
            await eventually(lambda: in_state(queue.store, "same", JobState.COMPLETED))
        assert ours.wait(timeout=10) == -signal.SIGTERM
        assert theirs.poll() is None, "another store's command was ended"
    finally:
        for proc in (ours, theirs):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
