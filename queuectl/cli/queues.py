"""``queue list``, ``queue pause``, ``queue resume`` and ``queue limit``."""

from __future__ import annotations

import json
from typing import Any

import asyncclick as click

from queuectl.cli.app import Context, pass_context


class Cap(click.ParamType[int | None]):
    """A queue limit: an integer from 1 to ``MAX_QUEUE_CAP``, or ``none`` (no cap)."""

    name = "N|none"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | None:
        from queuectl.domain.limits import MAX_QUEUE_CAP, int_problem

        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        try:
            number = int(value, 10) if isinstance(value, str) else value
        except ValueError:
            self.fail(f"{value!r} is not an integer or 'none'", param, ctx)
        problem = int_problem(number, 1, MAX_QUEUE_CAP)
        if problem:
            self.fail(f"{value!r} {problem}, or 'none'", param, ctx)
        return int(number)


@click.group()
def queue() -> None:
    """Pause, resume and cap named queues; list them with their counts."""


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
async def queue_list(ctx: Context, as_json: bool) -> None:
    """Each queue with jobs or settings: jobs per state, whether it is paused, its cap,
    and how long its oldest runnable job has waited since it became due."""
    from queuectl.cli.render import queue_table

    async with ctx.queue(read_only=True) as q:
        overview = await q.queue_overview()
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in overview], indent=2))
    else:
        click.echo(queue_table(overview))


@queue.command("pause")
@click.argument("names", nargs=-1, required=True, metavar="QUEUE...")
@pass_context
async def queue_pause(ctx: Context, names: tuple[str, ...]) -> None:
    """Stop every runner, on any host, from claiming these queues' jobs.

    Running jobs finish; new jobs are still accepted. A queue with no jobs yet can be
    paused before they arrive. The pause lasts until `queue resume`.
    """
    async with ctx.queue() as q:
        await q.pause_queues(names)
    for name in dict.fromkeys(names):
        click.echo(f"{name}: paused")


@queue.command("resume")
@click.argument("names", nargs=-1, required=True, metavar="QUEUE...")
@pass_context
async def queue_resume(ctx: Context, names: tuple[str, ...]) -> None:
    """Let runners claim these queues' jobs again."""
    async with ctx.queue() as q:
        await q.resume_queues(names)
    for name in dict.fromkeys(names):
        click.echo(f"{name}: resumed")


@queue.command("limit")
@click.argument("name", metavar="QUEUE")
@click.argument("cap", type=Cap(), metavar="N|none")
@pass_context
async def queue_limit(ctx: Context, name: str, cap: int | None) -> None:
    """Run at most N of QUEUE's jobs at once, across all runners and hosts (`none`:
    no limit). Runners fill their other slots from other queues."""
    async with ctx.queue() as q:
        await q.limit_queue(name, cap)
    click.echo(f"{name}: {'no limit' if cap is None else f'at most {cap} at once'}")
