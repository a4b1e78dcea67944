"""The shell executor on its own: exits, stderr, leftovers, and cancellation at any moment.

Each test runs both ways of starting commands: posix_spawn with pidfds (Linux) and
asyncio's subprocess API (where there are no pidfds), forced with ``pidfds=False``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import uuid
from collections.abc import Iterator

import pytest

from queuectl.domain.models import SUCCESS, Job, JobState
from queuectl.runner.process import pidfds_work
from queuectl.runner.shell import ShellExecutor
from tests.helpers import SPAWN_WAYS, eventually, job_record, processes_with


def shell_job(command: str, *, timeout: float | None = None) -> Job:
    return job_record(
        "exec-test",
        command=command,
        state=JobState.PROCESSING,
        attempts=1,
        max_retries=0,
        timeout=timeout,
        token=1,
    )


def unique_sleep() -> str:
    """A sleep length no other process on the machine uses: a marker for /proc."""
    return f"1000.{uuid.uuid4().int % 10**9}"


@pytest.fixture(params=SPAWN_WAYS)
def pidfds(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def executor(pidfds: bool) -> Iterator[ShellExecutor]:
    executor = ShellExecutor(runner_id="exec-test-runner", kill_grace=0.5, pidfds=pidfds)
    yield executor
    executor.close()


async def test_exit_code_and_stderr_tail(executor: ShellExecutor) -> None:
    outcome = await asyncio.wait_for(executor(shell_job("echo out; echo err >&2; exit 5")), 10)
    assert (outcome.exit_code, outcome.reason, outcome.error) == (5, "exit", "exit code 5\nerr")
    assert not outcome.succeeded


async def test_success_has_no_error(executor: ShellExecutor) -> None:
    outcome = await asyncio.wait_for(executor(shell_job("echo ignored >&2; true")), 10)
    assert outcome.succeeded
    assert outcome.error is None


async def test_commands_start_with_sigpipe_at_its_default(executor: ShellExecutor) -> None:
    # Python ignores SIGPIPE; a child inheriting that would get EPIPE errors instead of
    # dying quietly, as in a terminal. `yes` killed by SIGPIPE exits 128 + 13.
    command = '(yes; echo "yes exited $?" >&2) | head -n 1 >/dev/null; exit 1'
    outcome = await asyncio.wait_for(executor(shell_job(command)), 10)
    assert outcome.error is not None
    assert f"yes exited {128 + signal.SIGPIPE}" in outcome.error


async def test_a_background_child_does_not_keep_the_job_running(executor: ShellExecutor) -> None:
    # The child inherits stderr; the job still ends when the command exits.
    marker = unique_sleep()
    outcome = await asyncio.wait_for(executor(shell_job(f"sleep {marker} & exit 0")), 10)
    assert outcome.succeeded
    await eventually(lambda: not processes_with(marker), within=5, what="no survivor")


async def test_a_child_that_left_the_group_does_not_block_the_executor(
    executor: ShellExecutor,
) -> None:
    # setsid escapes the process group: it is not ours to kill, but it must not
    # keep the executor waiting on the stderr pipe it still holds.
    marker = unique_sleep()
    try:
        outcome = await asyncio.wait_for(executor(shell_job(f"setsid sleep {marker} & exit 0")), 10)
        assert outcome.succeeded
    finally:
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("delay", [0, 0.001, 0.003, 0.01, 0.03, 0.1])
async def test_cancelling_at_any_moment_leaves_no_process_behind(
    executor: ShellExecutor, delay: float
) -> None:
    # Deliberate sleeps: they vary the moment of cancellation, from before the
    # shell exists, through its start-up, to a running command with a child.
    marker = unique_sleep()
    task = asyncio.create_task(executor(shell_job(f"sleep {marker}; sleep {marker}")))
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    await eventually(lambda: not processes_with(marker), within=5, what="no survivor")


async def test_the_group_is_terminated_gently_first(executor: ShellExecutor) -> None:
    command = "trap 'echo got TERM >&2; exit 9' TERM; sleep 30 & wait"
    outcome = await asyncio.wait_for(executor(shell_job(command, timeout=0.3)), 10)
    assert outcome.reason == "timeout"
    assert outcome.error == "timed out after 0.3s (exit code 9)\ngot TERM"


async def test_the_job_variables_win_over_inherited_ones(pidfds: bool) -> None:
    # A runner started from inside a job inherits that job's variables.
    inherited = {"PATH": os.environ["PATH"], "QUEUECTL_JOB_ID": "outer", "QUEUECTL_ATTEMPT": "9"}
    executor = ShellExecutor(runner_id="exec-test-runner", env=inherited, pidfds=pidfds)
    try:
        outcome = await asyncio.wait_for(
            # The environment as exec'd (a shell would hide a duplicate, getenv would not).
            executor(shell_job("tr '\\0' '\\n' < /proc/$$/environ | grep ^QUEUECTL_ >&2; exit 1")),
            10,
        )
    finally:
        executor.close()
    assert outcome.error is not None
    assert sorted(outcome.error.splitlines()[1:]) == [
        "QUEUECTL_ATTEMPT=1",
        "QUEUECTL_CLAIM=exec-test:1:exec-test-runner",
        "QUEUECTL_JOB_ID=exec-test",
        "QUEUECTL_RUNNER_ID=exec-test-runner",
    ]


async def test_running_out_of_descriptors_fails_the_start_and_leaks_none() -> None:
    executor = ShellExecutor(runner_id="exec-test-runner", pidfds=pidfds_work())
    sink = lambda stream, data: None  # noqa: E731  (stdout on a pipe of its own)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert await asyncio.wait_for(executor(shell_job("true"), sink), 10) == SUCCESS  # warm
        before = set(os.listdir("/proc/self/fd"))
        # Room for exactly two more descriptors: the stderr pipe, not the stdout one.
        free = [fd for fd in range(soft) if str(fd) not in before]
        resource.setrlimit(resource.RLIMIT_NOFILE, (free[1] + 1, hard))
        try:
            outcome = await asyncio.wait_for(executor(shell_job("true"), sink), 10)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert set(os.listdir("/proc/self/fd")) == before
    finally:
        executor.close()
    assert outcome.reason == "error"
    assert outcome.error is not None
    assert "could not start" in outcome.error
    assert "Too many open files" in outcome.error
