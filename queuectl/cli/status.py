"""``status``: job counts per state and the live runners."""

from __future__ import annotations

import asyncclick as click

from queuectl.cli.app import Context, pass_context


@click.command()
@click.option("--queue", "-q", "queue_name", metavar="NAME", help="Only this queue's jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_context
async def status(ctx: Context, queue_name: str | None, as_json: bool) -> None:
    """Show how many jobs are in each state, and which runners are alive.

    With more than one named queue, the counts of each queue follow the totals.
    """
    from queuectl.cli.render import status_json, status_text
    from queuectl.procinfo import host_name

    async with ctx.queue() as queue:
        per_queue = await queue.queue_counts()
        counts = await queue.counts(queue=queue_name)
        runners = await queue.runners()
    if queue_name is not None:
        per_queue = {queue_name: counts}
    if as_json:
        click.echo(status_json(counts, runners, per_queue))
    else:
        click.echo(status_text(counts, runners, host_name(), per_queue))
