"""``retry`` and ``rm``: acting on finished jobs by id.

Like ``cancel``, each job gets its own line: the done ones on stdout, the refused ones
as ``error:`` lines on stderr, and the exit code is 1 when any was refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import job_ids

if TYPE_CHECKING:
    from queuectl.api.queue import Queue

#: The most ids one call takes (a script with more calls again).
MAX_IDS = 10_000


def _checked(job_ids: Sequence[str]) -> list[str]:
    """The ids without repeats, each valid (exit 2 before anything changes)."""
    from queuectl.domain.errors import InvalidInput
    from queuectl.domain.spec import validate_job_id

    unique = list(dict.fromkeys(job_ids))
    if len(unique) > MAX_IDS:
        raise InvalidInput(f"at most {MAX_IDS} job ids at a time, got {len(unique)}")
    for job_id in unique:
        validate_job_id(job_id)
    return unique


def _report(results: Mapping[str, str], done: str, refused: Callable[[str], str]) -> None:
    """A line per job: ``done`` ones on stdout, the others' problems (``refused`` of the
    id; "missing" ones named unknown) as ``error:`` lines, and exit 1 if any."""
    from queuectl.domain.errors import QueuectlError

    problems = []
    for job_id, result in results.items():
        if result == done:
            click.echo(f"{job_id}: {_DONE[done]}")
        elif result == "missing":
            problems.append(f"no job with id {job_id!r}")
        else:
            problems.append(refused(job_id))
    for problem in problems[:-1]:
        click.echo(f"queuectl: error: {problem}", err=True)
    if problems:
        raise QueuectlError(problems[-1])


_DONE = {"requeued": "pending again (attempts reset)", "removed": "removed"}


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...", shell_complete=job_ids)
@pass_context
async def retry(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Run finished jobs again: completed, dead or cancelled ones become pending now,
    with their attempts reset (their history is kept).

    A job waits again for its dependencies that are not completed; one that runs after
    a dead or cancelled job is left alone (retry that one first, or name it before).
    Pending and running jobs are left alone (exit 1).
    """
    ids = _checked(job_ids)
    async with ctx.queue() as queue:
        results = await queue.requeue(ids)
        states = await _states(queue, results)
    why = {
        "blocked": "runs after a job that is dead or cancelled; retry that one first",
        "taken": "has a unique key that another live job holds now; left alone",
    }
    _report(
        {i: results[i] for i in ids},
        "requeued",
        lambda i: (
            f"job {i!r} {why[results[i]]}"
            if results[i] in why
            else f"job {i!r} is {states[i]}, not finished; left alone"
        ),
    )


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...", shell_complete=job_ids)
@pass_context
async def rm(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Delete finished jobs (completed, dead or cancelled) with their output and
    history, as purge does. Pending and running jobs are left alone (exit 1): cancel
    them first.
    """
    ids = _checked(job_ids)
    async with ctx.queue() as queue:
        results = await queue.remove(ids)
        states = await _states(queue, results)
    _report(
        {i: results[i] for i in ids},
        "removed",
        lambda i: f"job {i!r} is {states[i]}; cancel it first",
    )


async def _states(queue: Queue, results: Mapping[str, str]) -> dict[str, str]:
    """The states of the "unfinished" jobs, to name them in the errors."""
    return {
        job_id: (await queue.get(job_id)).state.value
        for job_id, result in results.items()
        if result == "unfinished"
    }
