"""``schedule add|list|show|remove|pause|resume|run``: recurring jobs."""

from __future__ import annotations

import json
from typing import Any

import asyncclick as click

from queuectl.cli.add import join_command
from queuectl.cli.app import Context, pass_context
from queuectl.cli.jobopts import job_fields, job_options

__all__ = ["schedule"]


@click.group()
def schedule() -> None:
    """Recurring jobs: a job at every tick of a cron expression, fired once per tick by
    whichever runner gets there first."""


@schedule.command("add")
@click.argument("name")
@click.argument("cron")
@click.option(
    "--tz", "timezone", default="UTC", metavar="ZONE", help="IANA time zone [default: UTC]."
)
@click.option(
    "--catch-up",
    type=click.Choice(["none", "latest", "all"]),
    default="latest",
    help="Ticks missed while no runner ran: skip them, fire the latest, or fire them all "
    "(at most 100) [default: latest].",
)
@click.option("--no-overlap", is_flag=True, help="Skip a tick while the last job is unfinished.")
@click.option(
    "--replace", is_flag=True, help="Update the schedule of this name (history kept), or add it."
)
@click.option("--job", "job_json", metavar="JSON", help="The job as enqueue's JSON object.")
@job_options
@click.argument("words", nargs=-1, metavar="-- COMMAND [ARGS]...")
@pass_context
async def schedule_add(
    ctx: Context,
    /,
    name: str,
    cron: str,
    words: tuple[str, ...],
    **options: Any,
) -> None:
    """Add schedule NAME: run COMMAND (the words after --) at every tick of CRON.

    \b
    queuectl schedule add nightly '30 2 * * *' --tz Europe/Berlin -- ./backup.sh /srv
    queuectl schedule add pulse '*/10 * * * * *' --no-overlap -- ./probe.sh
    queuectl schedule add report @daily --job '{"command": "make report", "queue": "ops"}'
    queuectl schedule add sync '*/15 * * * *' --unique sync --env MODE=full -- ./sync.sh
    """
    from queuectl.api.scheduling import schedule_spec
    from queuectl.domain.errors import InvalidInput
    from queuectl.domain.spec import parse_json

    if options["job_json"] is not None:
        if words or job_fields(options, here=False) or options["no_cwd"]:
            raise InvalidInput("give the job either as --job JSON or as options and a command")
        job: Any = parse_json(options["job_json"])
        fields = None
    elif not words:
        raise click.UsageError("give the command after --, or the job as --job JSON")
    else:
        job = join_command(words)
        fields = job_fields(options)  # its directory is this one, as for add
    # Validated before the store is opened: bad input leaves nothing behind.
    spec = schedule_spec(
        name,
        cron,
        job,
        timezone=options["timezone"],
        catch_up=options["catch_up"],
        no_overlap=options["no_overlap"],
        fields=fields,
    )
    async with ctx.queue() as queue:
        saved = await queue.save_schedule(spec, replace=options["replace"])
        next_at = saved.next_at(queue.store.now())
    from queuectl.domain.models import iso

    click.echo(f"{saved.name}: next at {iso(next_at) or 'never'}")


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
async def schedule_list(ctx: Context, as_json: bool) -> None:
    """Schedules: expression, zone, next and last fire, the last job and its state."""
    from queuectl.cli.schedule_render import schedule_rows

    async with ctx.queue(read_only=True) as queue:
        schedules = await queue.schedules()
        now = queue.store.now()
    if as_json:
        data = [s.to_dict(s.next_at(now)) for s in schedules]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif schedules:
        click.echo("\n".join(schedule_rows(schedules, now)))
    else:
        click.echo("no schedules", err=True)


@schedule.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option(
    "--history",
    "limit",
    type=click.IntRange(0, 1000),
    default=20,
    metavar="N",
    help="Entries of fire history shown [default: 20].",
)
@pass_context
async def schedule_show(ctx: Context, name: str, as_json: bool, limit: int) -> None:
    """Show a schedule with its newest fires and skips."""
    from queuectl.cli.schedule_render import schedule_details

    async with ctx.queue(read_only=True) as queue:
        found = await queue.get_schedule(name)
        history = await queue.schedule_history(name, limit=limit)
        now = queue.store.now()
    if as_json:
        data = found.to_dict(found.next_at(now))
        data["history"] = [f.to_dict() for f in history]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(schedule_details(found, history, now))


async def _change(ctx: Context, name: str, method: str, done: str) -> None:
    """Call one of the Queue's schedule methods on NAME and say what was done."""
    async with ctx.queue() as queue:
        await getattr(queue, method)(name)
    click.echo(f"{name} {done}")


@schedule.command("remove")
@click.argument("name")
@pass_context
async def schedule_remove(ctx: Context, name: str) -> None:
    """Delete a schedule and its fire history (the jobs it made stay)."""
    await _change(ctx, name, "remove_schedule", "removed")


@schedule.command("pause")
@click.argument("name")
@pass_context
async def schedule_pause(ctx: Context, name: str) -> None:
    """Stop firing NAME until it is resumed; its ticks in between never fire."""
    await _change(ctx, name, "pause_schedule", "paused")


@schedule.command("resume")
@click.argument("name")
@pass_context
async def schedule_resume(ctx: Context, name: str) -> None:
    """Fire NAME again from its next tick."""
    await _change(ctx, name, "resume_schedule", "resumed")


@schedule.command("run")
@click.argument("name")
@pass_context
async def schedule_run(ctx: Context, name: str) -> None:
    """Make NAME's job now, once, outside its calendar; print the job id."""
    async with ctx.queue() as queue:
        job = await queue.run_schedule(name)
    click.echo(job.id)
