"""``worker start`` and ``worker stop``."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import queue_names
from queuectl.cli.params import Seconds
from queuectl.domain.limits import MAX_PORT, MAX_WORKERS

if TYPE_CHECKING:
    from queuectl.api.queue import Queue
    from queuectl.cli.report import Reporter


@click.group()
def worker() -> None:
    """Run or stop runners (N concurrent workers each)."""


@worker.command("start")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, MAX_WORKERS),
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
    shell_complete=queue_names,
    help="Consume only this queue (repeatable) [default: all queues].",
)
@click.option("--quiet", is_flag=True, help="No line per finished job.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How runner messages and job lines are printed on stderr.",
)
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Run in the background, logging to HOME/logs/runner-PID.log.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, MAX_PORT),
    metavar="PORT",
    help="Serve Prometheus /metrics and /healthz on this port (extra [metrics]).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address --metrics-port listens on.",
)
@pass_context
async def start(
    ctx: Context,
    count: int,
    burst: bool,
    queues: tuple[str, ...],
    quiet: bool,
    log_format: str,
    detach: bool,
    metrics_port: int | None,
    metrics_host: str,
) -> None:  # fmt: skip
    """Process jobs in the foreground until stopped (SIGINT/SIGTERM or `worker stop`).

    Prints a line per finished job on stderr. The first signal drains: running jobs
    finish and are recorded. A second one ends the running commands and gives their
    jobs back to pending, uncounted.

    With --detach, start it in the background instead (a new session, no terminal,
    its lines in HOME/logs/runner-PID.log), print its pid and log, and return once it
    has registered (exit 1 with its error if it could not start).
    """
    from queuectl import handle_signals
    from queuectl.cli.report import JsonLogFormatter, Reporter, TextLogFormatter
    from queuectl.domain.spec import validate_queue

    for name in queues:
        validate_queue(name)
    if detach:
        options = ["--count", str(count), "--log-format", log_format]
        options += [f"--queue={name}" for name in queues]
        options += ["--burst"] * burst + ["--quiet"] * quiet
        if metrics_port is not None:
            options += ["--metrics-port", str(metrics_port), "--metrics-host", metrics_host]
        await _start_detached(ctx, options)
        return
    as_json = log_format == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if as_json else TextLogFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    reporter = Reporter(quiet=quiet, as_json=as_json, progress=burst and sys.stderr.isatty())
    async with ctx.queue() as queue:
        runner = queue.runner(
            concurrency=count, burst=burst, queues=queues, on_event=reporter.on_event
        )
        server = None if metrics_port is None else await _serve(queue, metrics_host, metrics_port)
        progress = asyncio.create_task(_progress(queue, reporter, queues))
        try:
            with handle_signals(runner):
                stats = await runner.run()
            if reporter.progress:  # the final count, not the last refresh's
                reporter.remaining = await _remaining(queue, queues)
        finally:
            progress.cancel()
            reporter.finish()
            if server is not None:
                server.close()
    summary = (
        f"runner stopped: {stats.completed} completed, {stats.failed} failed, "
        f"{stats.dead} dead, {stats.cancelled} cancelled, {stats.given_back} given back"
    )
    logging.getLogger("queuectl.runner").info(summary)


async def _serve(queue: Queue, host: str, port: int) -> asyncio.Server:
    """Serve /metrics beside the runner, in its loop; imported only when asked for."""
    from queuectl.domain.errors import QueuectlError

    try:
        from queuectl.api.metrics_server import serve_metrics
    except ImportError as exc:
        raise QueuectlError(
            f"--metrics-port needs {exc.name}: pip install 'queuectl[metrics]'"
        ) from None
    server = await serve_metrics(queue, host, port)
    logging.getLogger("queuectl.runner").info("serving metrics on http://%s:%d/metrics", host, port)
    return server


#: How long ``worker start --detach`` waits for the runner to register.
DETACH_TIMEOUT = 30.0


async def _start_detached(ctx: Context, options: list[str]) -> None:
    """Start ``worker start OPTIONS`` detached; return once it is in the registry."""
    from queuectl.domain.errors import QueuectlError
    from queuectl.host.detach import detach
    from queuectl.host.paths import ensure_home

    argv = [sys.executable, "-m", "queuectl"]
    if ctx.home_arg is not None:
        argv += ["--home", str(ctx.home)]
    if ctx.db is not None:
        argv += ["--db", ctx.db]
    async with ctx.queue() as queue:  # checks the store before anything starts
        child = detach([*argv, "worker", "start", *options], ensure_home(ctx.home), "runner")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DETACH_TIMEOUT
        while not any(r.pid == child.pid for r in await queue.runners()):
            code = child.exit_code()
            if code == 0:
                break  # a burst that found little to do: it ran, and is done already
            if code is not None:
                why = child.last_line() or f"exit code {code}"
                raise QueuectlError(f"the runner exited at start-up: {why} (log: {child.log})")
            if loop.time() > deadline:
                raise QueuectlError(
                    f"the runner (pid {child.pid}) did not register within "
                    f"{DETACH_TIMEOUT:g}s (it may still be starting); see {child.log}"
                )
            await asyncio.sleep(0.05)
    click.echo(f"runner started: pid {child.pid}, log {child.log}")


async def _progress(queue: Queue, reporter: Reporter, queues: tuple[str, ...]) -> None:
    """Keep the progress line's count of remaining jobs fresh (burst, on a terminal)."""
    if not reporter.progress:
        return
    while True:
        reporter.remaining = await _remaining(queue, queues)
        for _ in range(4):
            reporter.draw_progress()
            await asyncio.sleep(0.25)


async def _remaining(queue: Queue, queues: tuple[str, ...]) -> int:
    """Jobs not finished yet in the queues this runner consumes."""
    from queuectl.domain.models import ACTIVE_STATES

    per_queue = await queue.queue_counts()
    chosen = [c for name, c in per_queue.items() if not queues or name in queues]
    return sum(c[s] for c in chosen for s in ACTIVE_STATES)


@worker.command("stop")
@click.option(
    "--timeout",
    "drain_timeout",
    type=Seconds(),
    metavar="S",
    help="After S seconds, stop hard: end running commands and give their jobs back.",
)
@click.option("--all-hosts", is_flag=True, help="Stop the runners of every host (PostgreSQL).")
@pass_context
async def stop(ctx: Context, drain_timeout: float | None, all_hosts: bool) -> None:
    """Ask this host's runners to drain and stop; returns once they have exited.

    With --all-hosts the request goes through the store to every runner, wherever it
    runs; the command returns once their registry entries are gone (or stale).
    """
    from queuectl import StopTimeout
    from queuectl.domain.errors import QueuectlError
    from queuectl.host.procinfo import host_name

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
