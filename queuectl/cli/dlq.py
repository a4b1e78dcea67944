"""``dlq list`` and ``dlq retry``: the dead letter queue."""

from __future__ import annotations

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import job_ids
from queuectl.cli.params import COUNT


@click.group()
def dlq() -> None:
    """Dead jobs: the ones that used up their retries."""


@dlq.command("list")
@click.option("--limit", type=COUNT, help="At most this many jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
async def dlq_list(ctx: Context, limit: int | None, as_json: bool) -> None:
    """List dead jobs with their last error, oldest first."""
    from queuectl.cli.render import write_job_stream

    async with ctx.queue(read_only=True) as queue:
        count = await write_job_stream(queue.dead(limit=limit), as_json=as_json, error=True)
    if not count and not as_json:
        click.echo("the dead letter queue is empty", err=True)


@dlq.command("retry")
@click.argument("job_id", shell_complete=job_ids)
@pass_context
async def dlq_retry(ctx: Context, job_id: str) -> None:
    """Move a dead job back to pending, with its attempts reset."""
    async with ctx.queue() as queue:
        job = await queue.retry(job_id)
    click.echo(f"{job.id} is pending again (attempts reset)")
