"""``status``: job counts per state and the live runners, once or refreshed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.params import Seconds
from queuectl.domain.limits import MAX_WATCH_INTERVAL


@click.command()
@click.option("--queue", "-q", "queue_name", metavar="NAME", help="Only this queue's jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.option("--watch", "-w", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option(
    "--interval", type=Seconds(0.1, MAX_WATCH_INTERVAL), default=2.0, show_default=True,
    metavar="S", help="Seconds between refreshes with --watch.",
)  # fmt: skip
@pass_context
async def status(
    ctx: Context, queue_name: str | None, as_json: bool, watch: bool, interval: float
) -> None:
    """Show how many jobs are in each state, and which runners are alive.

    With more than one named queue, the counts of each queue follow the totals. With
    --watch, also the recent throughput, refreshed until Ctrl-C.
    """
    from queuectl.cli.render import status_json, status_text
    from queuectl.host.procinfo import host_name

    stop = asyncio.Event()
    if watch:
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    tty = sys.stdout.isatty()
    async with ctx.queue(read_only=True) as queue:
        while True:
            per_queue = await queue.queue_counts()
            counts = await queue.counts(queue=queue_name)
            runners = await queue.runners()
            paused = await queue.paused_queues()
            rate = await queue.throughput() if watch else None
            if queue_name is not None:
                per_queue = {queue_name: counts}
            if as_json:
                text = status_json(counts, runners, per_queue, paused)
            else:
                text = status_text(counts, runners, host_name(), per_queue, rate, paused)
            if watch and tty:
                text = "\x1b[H\x1b[2J" + text  # redraw in place
            click.echo(text)
            if not watch:
                return
            if not tty:
                click.echo("")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
