"""``wait`` and ``cancel``: for scripts that depend on jobs."""

from __future__ import annotations

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import job_ids
from queuectl.cli.params import Seconds


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...", shell_complete=job_ids)
@click.option(
    "--timeout", "within", type=Seconds(), metavar="S", help="Give up after S s (or 5m...)."
)
@pass_context
async def wait(ctx: Context, job_ids: tuple[str, ...], within: float | None) -> None:
    """Block until the jobs are completed, dead or cancelled.

    Exits 0 when all completed, 1 otherwise, 124 on timeout; prints each job's state.
    """
    from queuectl.domain.models import JobState

    async with ctx.queue(read_only=True) as queue:
        jobs = await queue.wait(job_ids, within=within)
    for job in jobs:
        click.echo(f"{job.id} {job.state.value}")
    if any(job.state != JobState.COMPLETED for job in jobs):
        raise click.exceptions.Exit(1)


@click.command()
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...", shell_complete=job_ids)
@pass_context
async def cancel(ctx: Context, job_ids: tuple[str, ...]) -> None:
    """Cancel jobs: waiting ones never run, running ones are stopped (not retried).

    A finished job is left alone (exit 1). For a running job, returns once its runner
    has ended the command and recorded it.
    """
    from queuectl.api.watching import WaitTimeout
    from queuectl.domain.errors import QueuectlError

    problems = []
    async with ctx.queue() as queue:
        results = await queue.cancel(job_ids)
        running = [job_id for job_id, result in results.items() if result == "requested"]
        grace = queue.settings.kill_grace + queue.settings.lease_seconds
        try:
            ended = {job.id: job for job in await queue.wait(running, within=grace)}
        except WaitTimeout as exc:
            ended = {}
            for job_id in exc.unfinished:
                click.echo(f"{job_id}: cancel requested; its runner will stop it", err=True)
        for job_id, result in results.items():
            if result == "missing":
                problems.append(f"no job with id {job_id!r}")
            elif result == "finished":
                state = (await queue.get(job_id)).state.value
                problems.append(f"job {job_id!r} is {state} already; left alone")
            elif result == "cancelled":
                click.echo(f"{job_id}: cancelled")
            elif job_id in ended:
                state = ended[job_id].state.value
                if state == "cancelled":
                    click.echo(f"{job_id}: cancelled (its command was stopped)")
                else:
                    problems.append(f"job {job_id!r} ended {state} before it could be stopped")
    for problem in problems[:-1]:
        click.echo(f"queuectl: error: {problem}", err=True)
    if problems:
        raise QueuectlError(problems[-1])
