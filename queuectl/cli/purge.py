"""``purge``: delete finished jobs."""

from __future__ import annotations

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import queue_names
from queuectl.cli.params import Seconds


@click.command()
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(["completed", "dead", "cancelled"]),
    help="Only jobs in this state (repeatable) [default: all finished states].",
)
@click.option(
    "--older-than",
    type=Seconds(),
    metavar="DURATION",
    help="Only jobs finished longer ago (7d, 12h).",
)
@click.option(
    "--queue", "-q", "queue_name", metavar="NAME", shell_complete=queue_names,
    help="Only jobs of this queue.",
)  # fmt: skip
@pass_context
async def purge(
    ctx: Context, states: tuple[str, ...], older_than: float | None, queue_name: str | None
) -> None:
    """Delete finished jobs; pending, processing and failed jobs are never touched."""
    from queuectl.domain.models import FINISHED_STATES

    async with ctx.queue() as queue:
        count = await queue.purge(
            states=states or FINISHED_STATES, older_than=older_than, queue=queue_name
        )
    click.echo(f"purged {count} job(s)")
