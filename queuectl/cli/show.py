"""``show``: one job's whole record with its attempt history."""

from __future__ import annotations

import json

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import job_ids


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@pass_context
async def show(ctx: Context, job_id: str, as_json: bool) -> None:
    """Show a job and every attempt of it."""
    from queuectl.cli.render import job_details

    async with ctx.queue(read_only=True) as queue:
        job = await queue.get(job_id)
        history = await queue.attempts(job_id)
    if as_json:
        data = job.to_dict()
        data["attempt_history"] = [a.to_dict() for a in history]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(job_details(job, history))
        for a in history:
            if a.output_lost:
                click.echo(f"output:     attempt #{a.number} not all kept ({a.output_lost})")
