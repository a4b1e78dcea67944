"""``retry`` and ``rm``: acting on finished jobs by id.

Like ``cancel``, each job gets its own line: the done ones on stdout, the refused ones
as ``error:`` lines on stderr, and the exit code is 1 when any was refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncclick as click

from queuectl.cli.app import Context, pass_context

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


def _report(problems: list[str]) -> None:
    from queuectl.domain.errors import QueuectlError

    for problem in problems[:-1]:
        click.echo(f"queuectl: error: {problem}", err=True)
    if problems:
        raise QueuectlError(problems[-1])


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@pass_context
async def retry(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Run finished jobs again: completed, dead or cancelled ones become pending now,
    with their attempts reset (their history is kept).

    A job waits again for its dependencies that are not completed; one that runs after
    a dead or cancelled job is left alone (retry that one first, or name it before).
    Pending and running jobs are left alone (exit 1).
    """
    ids = _checked(job_ids)
    problems = []
    async with ctx.queue() as queue:
        results = await queue.requeue(ids)
        for job_id in ids:
            result = results[job_id]
            if result == "requeued":
                click.echo(f"{job_id}: pending again (attempts reset)")
            elif result == "missing":
                problems.append(f"no job with id {job_id!r}")
            elif result == "blocked":
                problems.append(
                    f"job {job_id!r} runs after a job that is dead or cancelled; "
                    "retry that one first"
                )
            else:
                state = (await queue.get(job_id)).state.value
                problems.append(f"job {job_id!r} is {state}, not finished; left alone")
    _report(problems)


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@pass_context
async def rm(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Delete finished jobs (completed, dead or cancelled) with their output and
    history, as purge does. Pending and running jobs are left alone (exit 1): cancel
    them first.
    """
    ids = _checked(job_ids)
    problems = []
    async with ctx.queue() as queue:
        results = await queue.remove(ids)
        for job_id in ids:
            result = results[job_id]
            if result == "removed":
                click.echo(f"{job_id}: removed")
            elif result == "missing":
                problems.append(f"no job with id {job_id!r}")
            else:
                state = (await queue.get(job_id)).state.value
                problems.append(f"job {job_id!r} is {state}; cancel it first")
    _report(problems)
