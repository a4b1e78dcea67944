"""``worker start`` and ``worker stop``."""

from __future__ import annotations

import logging
import sys

import asyncclick as click

from queuectl.cli.app import Context, pass_context


@click.group()
def worker() -> None:
    """Run or stop runners (N concurrent workers each)."""


@worker.command("start")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, 4096),
    default=1,
    show_default=True,
    help="Concurrent workers in this runner.",
)
@click.option("--burst", is_flag=True, help="Exit once no job is left to run (see README).")
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Consume only this queue (repeatable) [default: all queues].",
)
@pass_context
async def start(ctx: Context, count: int, burst: bool, queues: tuple[str, ...]) -> None:
    """Process jobs in the foreground until stopped (SIGINT/SIGTERM or `worker stop`).

    The first signal drains: running jobs finish and are recorded. A second one ends
    the running commands and gives their jobs back to pending, uncounted.
    """
    from queuectl.signals import handle_signals
    from queuectl.spec import validate_queue

    for name in queues:
        validate_queue(name)

    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s queuectl: %(message)s"
    )
    async with ctx.queue() as queue:
        runner = queue.runner(concurrency=count, burst=burst, queues=queues)
        with handle_signals(runner):
            stats = await runner.run()
    click.echo(
        f"queuectl: runner stopped: {stats.completed} completed, {stats.failed} failed, "
        f"{stats.dead} dead, {stats.given_back} given back",
        err=True,
    )


@worker.command("stop")
@click.option(
    "--timeout",
    "drain_timeout",
    type=click.FloatRange(min=0),
    metavar="S",
    help="After S seconds, stop hard: end running commands and give their jobs back.",
)
@click.option(
    "--all-hosts",
    is_flag=True,
    help="Stop the runners of every host sharing this store (PostgreSQL), not just this one.",
)
@pass_context
async def stop(ctx: Context, drain_timeout: float | None, all_hosts: bool) -> None:
    """Ask this host's runners to drain and stop; returns once they have exited.

    With --all-hosts the request goes through the store to every runner, wherever it
    runs; the command returns once their registry entries are gone (or stale).
    """
    from queuectl.api import StopTimeout
    from queuectl.errors import QueuectlError
    from queuectl.procinfo import host_name

    async with ctx.queue() as queue:
        try:
            stopped = await queue.stop_runners(drain_timeout=drain_timeout, all_hosts=all_hosts)
        except StopTimeout as exc:
            click.echo(f"queuectl: {exc}; stopping hard (running jobs are given back)", err=True)
            await queue.stop_runners(hard=True, all_hosts=all_hosts)
            # Not the hard stop's list: a runner may have finished draining meanwhile.
            stopped = exc.runners
    if not stopped:
        where = "on any host" if all_hosts else "on this host"
        raise QueuectlError(f"no runner is running {where} for this store")
    host = host_name()
    pids = ", ".join(str(r.pid) if r.host == host else f"{r.pid} on {r.host}" for r in stopped)
    click.echo(f"stopped {len(stopped)} runner(s): pid {pids}")
