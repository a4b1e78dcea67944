"""``logs``: what a job printed, or prints as it runs."""

from __future__ import annotations

import sys

import asyncclick as click

from queuectl.cli.app import Context, pass_context


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
@click.argument("job_id")
@click.option(
    "--attempt", type=click.IntRange(min=1), metavar="N", help="Attempt N [default: last]."
)
@click.option("--stdout", "only", flag_value=1, type=int, help="Only what it wrote to stdout.")
@click.option("--stderr", "only", flag_value=2, type=int, help="Only what it wrote to stderr.")
@click.option("--tail", type=click.IntRange(min=0), metavar="N", help="Only the last N lines.")
@click.option("--follow", "-f", is_flag=True, help="Stream a running job's output until it ends.")
@pass_context
async def logs(
    ctx: Context,
    job_id: str,
    attempt: int | None,
    only: int | None,
    tail: int | None,
    follow: bool,
) -> None:
    """Print a job's output: its stdout on stdout, its stderr on stderr.

    With --follow, print as it is written until the attempt ends, then exit with the
    job's exit code (128+N when a signal ended it). Ctrl-C stops following, not the job.
    """
    from queuectl.api.watching import attempt_exit_code, pick_attempt
    from queuectl.domain.errors import QueuectlError

    streams = (1, 2) if only is None else (only,)
    async with ctx.queue(read_only=True) as queue:
        if not follow:
            outputs = await queue.output(job_id, attempt=attempt)
            if not outputs and pick_attempt(await queue.attempts(job_id), attempt) is None:
                which = f"an attempt {attempt}" if attempt else "run yet"
                click.echo(f"queuectl: job {job_id} has not {which}", err=True)
            for stream in streams:
                if stream in outputs:
                    _write(stream, _last_lines(outputs[stream].content(), tail))
            return
        first = dict.fromkeys(streams, True)
        async for stream, data in queue.follow(job_id, attempt=attempt):
            if stream in first:
                _write(stream, _last_lines(data, tail) if first[stream] else data)
                first[stream] = False
        chosen = pick_attempt(await queue.attempts(job_id), attempt)
    if chosen is None:
        raise QueuectlError(f"job {job_id} ended without running")
    code = attempt_exit_code(chosen)
    if code:
        raise click.exceptions.Exit(code)
