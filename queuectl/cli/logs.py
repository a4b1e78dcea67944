"""``logs``: what a job printed, or prints as it runs."""

from __future__ import annotations

import sys

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import job_ids
from queuectl.cli.params import COUNT
from queuectl.domain.limits import MAX_COUNT


def _last_lines(data: bytes, count: int | None) -> bytes:
    if count is None:
        return data
    if count == 0:
        return b""
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-count:])


def _write(stream: int, data: bytes) -> None:
    out = sys.stdout if stream == 1 else sys.stderr
    out.buffer.write(data)
    out.flush()


@click.command()
@click.argument("job_id", shell_complete=job_ids)
@click.option(
    "--attempt", type=click.IntRange(1, MAX_COUNT), metavar="N", help="Attempt N [default: last]."
)
@click.option("--stdout", "stdout_only", is_flag=True, help="Only what it wrote to stdout.")
@click.option("--stderr", "stderr_only", is_flag=True, help="Only what it wrote to stderr.")
@click.option("--tail", type=COUNT, metavar="N", help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Stream a running job's output until it ends.")
@pass_context
async def logs(
    ctx: Context,
    job_id: str,
    attempt: int | None,
    stdout_only: bool,
    stderr_only: bool,
    tail: int | None,
    follow: bool,
) -> None:
    """Print a job's output: its stdout on stdout, its stderr on stderr.

    --stdout and --stderr pick streams (both given: both streams). With --follow, print
    as it is written, through every attempt (each retry after a `--- attempt N ---` line
    on stderr), until the job ends; then exit 0 if it completed, else with its last
    attempt's exit code (128+N when signal N ended it; 1 when there is none). With
    --attempt N too, follow that attempt only and exit with its code. Ctrl-C stops
    following, not the job.
    """
    from queuectl.api.watching import attempt_exit_code, job_exit_code, pick_attempt
    from queuectl.domain.errors import QueuectlError

    picked = [n for n, on in ((1, stdout_only), (2, stderr_only)) if on]
    streams = tuple(picked) or (1, 2)
    async with ctx.queue(read_only=True) as queue:
        history = await queue.attempts(job_id)
        if attempt is not None and pick_attempt(history, attempt) is None:
            raise QueuectlError(f"job {job_id} has no attempt {attempt} ({len(history)} so far)")
        if not follow:
            if not history:
                click.echo(f"queuectl: job {job_id} has not run yet", err=True)
                return
            outputs = await queue.output(job_id, attempt=attempt)
            for stream in streams:
                if stream in outputs:
                    _write(stream, _last_lines(outputs[stream].content(), tail))
            return
        first = dict.fromkeys(streams, True)
        async for stream, data in queue.follow(job_id, attempt=attempt):
            if stream in first:
                _write(stream, _last_lines(data, tail) if first[stream] else data)
                first[stream] = False
        history = await queue.attempts(job_id)
        job = await queue.get(job_id)
    chosen = pick_attempt(history, attempt)
    if chosen is None:
        raise QueuectlError(f"job {job_id} ended without running")
    code = attempt_exit_code(chosen) if attempt is not None else job_exit_code(job, chosen)
    if code:
        raise click.exceptions.Exit(code)
