"""A job's directory and environment, honoured by both ways of starting commands.

The pidfd way (posix_spawn, Linux) and asyncio's subprocess API (forced with
``pidfds=False``, as where there are no pidfds) each run every test with real children.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from queuectl.api.queue import Queue
from queuectl.domain.models import Job, JobState, Outcome
from queuectl.runner.shell import ShellExecutor
from tests.helpers import SPAWN_WAYS, job_record, run_burst


@pytest.fixture(params=SPAWN_WAYS)
def executor(request: pytest.FixtureRequest) -> Iterator[ShellExecutor]:
    env = {"PATH": "/usr/bin:/bin", "BASE": "runner", "SHARED": "runner"}
    executor = ShellExecutor(runner_id="place-runner", env=env, pidfds=request.param)
    assert executor.spawner.uses_pidfds == request.param
    yield executor
    executor.close()


def job(command: str, *, cwd: str | None = None, env: dict[str, str] | None = None) -> Job:
    record = job_record("place", command=command, state=JobState.PROCESSING, attempts=1, token=1)
    return record._replace(cwd=cwd, env=env or {})


async def run(executor: ShellExecutor, record: Job) -> tuple[Outcome, str]:
    chunks: list[bytes] = []
    outcome = await asyncio.wait_for(
        executor(record, lambda stream, data: chunks.append(data) if stream == 1 else None), 10
    )
    return outcome, b"".join(chunks).decode()


async def test_the_command_runs_in_its_directory(executor: ShellExecutor, tmp_path: Path) -> None:
    where = tmp_path / "a dir with 'quotes' and $x"
    where.mkdir()
    (where / "marker").write_text("here\n")
    outcome, out = await run(executor, job('pwd; cat marker; printf "%s" "$0 $#"', cwd=str(where)))
    assert outcome.succeeded, outcome.error
    lines = out.splitlines()
    assert lines[:2] == [str(where), "here"]
    assert lines[2] == "/bin/sh 0"  # the command sees no trace of the change of directory


async def test_without_a_directory_the_command_runs_in_the_runners(
    executor: ShellExecutor,
) -> None:
    outcome, out = await run(executor, job("pwd"))
    assert outcome.succeeded
    assert out.strip() == str(Path.cwd())


async def test_a_missing_directory_fails_the_attempt_as_an_error(
    executor: ShellExecutor, tmp_path: Path
) -> None:
    gone = tmp_path / "gone"
    outcome, _ = await run(executor, job("echo ran", cwd=str(gone)))
    assert (outcome.reason, outcome.exit_code) == ("error", None)
    assert outcome.error == f"cwd {gone}: No such file or directory"


async def test_a_file_as_directory_fails_the_attempt_as_an_error(
    executor: ShellExecutor, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    outcome, _ = await run(executor, job("echo ran", cwd=str(plain)))
    assert outcome.reason == "error"
    assert outcome.error == f"cwd {plain}: Not a directory"


async def test_the_jobs_variables_lie_over_the_runners_and_queuectls_over_both(
    executor: ShellExecutor,
) -> None:
    env = {
        "SHARED": "job",
        "ONLY_JOB": "a b=c",
        "QUEUECTL_JOB_ID": "forged",
        "QUEUECTL_RUNNER_ID": "forged",
        "QUEUECTL_MINE": "kept",
    }
    names = ["BASE", "SHARED", "ONLY_JOB", "QUEUECTL_JOB_ID", "QUEUECTL_RUNNER_ID", "QUEUECTL_MINE"]
    command = 'printf "%s|"' + "".join(f' "${name}"' for name in names)
    outcome, out = await run(executor, job(command, env=env))
    assert outcome.succeeded, outcome.error
    assert out == "runner|job|a b=c|place|place-runner|kept|"


async def test_a_job_without_variables_gets_the_runners_environment(
    executor: ShellExecutor,
) -> None:
    outcome, out = await run(executor, job('printf "%s|" "$BASE" "$SHARED" "$QUEUECTL_JOB_ID"'))
    assert outcome.succeeded
    assert out == "runner|runner|place|"


# -- through a queue, on every store ------------------------------------------------------


async def test_a_queued_job_runs_in_its_directory_with_its_variables(
    queue: Queue, tmp_path: Path
) -> None:
    (tmp_path / "src").mkdir()
    job = await queue.enqueue(
        'printf "%s" "$GREETING" > out.txt', cwd=str(tmp_path / "src"), env={"GREETING": "hi"}
    )
    await run_burst(queue.runner(burst=True))
    assert (await queue.get(job.id)).state == JobState.COMPLETED
    assert (tmp_path / "src" / "out.txt").read_text() == "hi"


async def test_a_missing_directory_fails_each_attempt_then_the_job_is_dead(
    queue: Queue, tmp_path: Path
) -> None:
    job = await queue.enqueue(
        "true", cwd=str(tmp_path / "nowhere"), max_retries=1, backoff_max=0.001
    )
    await run_burst(queue.runner(burst=True))
    done = await queue.get(job.id)
    assert (done.state, done.attempts) == (JobState.DEAD, 2)
    assert done.last_error == f"cwd {tmp_path / 'nowhere'}: No such file or directory"
    assert [a.reason for a in await queue.attempts(job.id)] == ["error", "error"]
