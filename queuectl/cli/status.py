"""``status``: job counts per state and the live runners."""

from __future__ import annotations

import asyncclick as click

from queuectl.cli.app import Context, pass_context


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_context
async def status(ctx: Context, as_json: bool) -> None:
    """Show how many jobs are in each state, and which runners are alive."""
    from queuectl.cli.render import status_json, status_text
    from queuectl.procinfo import host_name

    async with ctx.queue() as queue:
        counts = await queue.counts()
        runners = await queue.runners()
    click.echo(
        status_json(counts, runners) if as_json else status_text(counts, runners, host_name())
    )
