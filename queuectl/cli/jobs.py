"""``enqueue`` and ``list``."""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import queue_names
from queuectl.cli.params import COUNT

if TYPE_CHECKING:
    from queuectl.domain.spec import JobSpec

STATES = ["pending", "processing", "completed", "failed", "dead", "cancelled"]


@click.command()
@click.argument("job_json", metavar="JSON", required=False)
@click.option(
    "--file",
    "-f",
    "file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Read JSON lines (one job per line) from a file; '-' for stdin.",
)
@pass_context
async def enqueue(ctx: Context, job_json: str | None, file: str | None) -> None:
    """Add a job: a JSON object, or JSON lines with '-' or --file (all or nothing).

    \b
    queuectl enqueue '{"command": "echo Hello World"}'
    queuectl enqueue '{"id": "nightly", "command": "make backup", "max_retries": 5}'
    queuectl enqueue '{"command": "make", "cwd": "/src/app", "unique_key": "build"}'
    seq 3 | sed 's/.*/{"command": "echo &"}/' | queuectl enqueue -
    """
    if (job_json is None) == (file is None):
        raise click.UsageError("give one JSON job, or '-' / --file F for JSON lines")
    if job_json is not None and job_json != "-":
        from queuectl.cli.enqueued import report
        from queuectl.domain.spec import parse_json

        spec = parse_json(job_json)
        async with ctx.queue() as queue:
            (done,) = await queue.submit_many([spec])  # only the id is printed: no read-back
        report(done)
        return
    await _enqueue_lines(ctx, "-" if file is None else file)


async def _enqueue_lines(ctx: Context, source: str) -> None:
    """Stream JSON lines into one transaction; print the ids once it has committed.

    Neither the lines nor the ids are held in memory whole: the ids wait in a spooled
    file (memory while small) until the commit, so a failed input prints none.
    """
    import shutil
    import tempfile

    from queuectl.api.queue import BULK_CHUNK
    from queuectl.domain.spec import iter_lines

    numbers = _LineNumbers(BULK_CHUNK)
    with (
        _open_lines(source) as lines,
        tempfile.SpooledTemporaryFile(1 << 20, "w+") as ids,
        tempfile.SpooledTemporaryFile(1 << 16, "w+") as notes,
    ):

        def keep(chunk: list[str]) -> None:
            ids.write("\n".join(chunk) + "\n")

        def existing(position: int, holder: str) -> None:
            notes.write(f"{numbers.where(position)}: queued already as {holder}\n")

        def specs() -> Iterator[JobSpec]:
            for number, spec in iter_lines(_decoded(lines, source)):
                numbers.add(number)
                yield spec

        async with ctx.queue() as queue:
            await queue.enqueue_all(
                specs(), on_ids=keep, on_existing=existing, where=numbers.where, chunk=BULK_CHUNK
            )
        ids.seek(0)
        shutil.copyfileobj(ids, sys.stdout)
        notes.seek(0)
        sys.stdout.flush()
        shutil.copyfileobj(notes, sys.stderr)


class _LineNumbers:
    """The line of each of the last ``size`` jobs read (the chunk the API took last),
    so that an error the store finds in that chunk can name the line."""

    def __init__(self, size: int) -> None:
        self._numbers: deque[int] = deque(maxlen=size)
        self._count = 0

    def add(self, number: int) -> None:
        self._numbers.append(number)
        self._count += 1

    def where(self, position: int) -> str:
        return f"line {self._numbers[position - self._count + len(self._numbers)]}"


def _open_lines(source: str) -> contextlib.AbstractContextManager[IO[bytes]]:
    from queuectl.domain.errors import InvalidInput

    if source == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return open(source, "rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None


def _decoded(lines: IO[bytes], source: str) -> Iterator[str]:
    """The lines of ``lines`` as text, or InvalidInput for bytes that are not UTF-8."""
    from queuectl.domain.errors import InvalidInput

    for number, line in enumerate(lines, start=1):
        try:
            yield line.decode()
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{source}: line {number}: not UTF-8 text ({exc.reason})") from None


@click.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option(
    "--queue", "-q", "queue_name", metavar="NAME", shell_complete=queue_names,
    help="Only jobs of this queue.",
)  # fmt: skip
@click.option("--limit", type=COUNT, help="At most this many jobs.")
@click.option("--newest", is_flag=True, help="Newest first (with --limit: the latest jobs).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
async def list_jobs(
    ctx: Context,
    state: str | None,
    queue_name: str | None,
    limit: int | None,
    newest: bool,
    as_json: bool,
) -> None:
    """List jobs, oldest first. WHEN is when a waiting job runs, else its last change."""
    from queuectl.cli.render import write_job_stream

    async with ctx.queue(read_only=True) as queue:
        jobs = queue.jobs(state=state, queue=queue_name, limit=limit, newest=newest)
        count = await write_job_stream(jobs, as_json=as_json)
    if not count and not as_json:
        click.echo("no jobs" + (f" in state {state}" if state else ""), err=True)
