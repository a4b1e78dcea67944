"""``enqueue`` and ``list``."""

from __future__ import annotations

import sys

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.params import COUNT

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
    seq 3 | sed 's/.*/{"command": "echo &"}/' | queuectl enqueue -
    """
    from queuectl.domain.spec import parse_json, parse_lines

    if (job_json is None) == (file is None):
        raise click.UsageError("give one JSON job, or '-' / --file F for JSON lines")
    if job_json is not None and job_json != "-":
        spec = parse_json(job_json)
        async with ctx.queue() as queue:
            (job_id,) = await queue.enqueue_many([spec])  # only the id is printed: no read-back
        click.echo(job_id)
        return
    source = "-" if file is None else file
    specs = parse_lines(_read_lines(source))
    async with ctx.queue() as queue:
        ids = await queue.enqueue_many(specs)
    if ids:
        sys.stdout.write("\n".join(ids) + "\n")


def _read_lines(source: str) -> list[str]:
    from queuectl.domain.errors import InvalidInput

    try:
        if source == "-":
            return sys.stdin.read().splitlines()
        with open(source, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None


@click.command("list")
@click.option("--state", type=click.Choice(STATES), help="Only jobs in this state.")
@click.option("--queue", "-q", "queue_name", metavar="NAME", help="Only jobs of this queue.")
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

    async with ctx.queue() as queue:
        jobs = queue.jobs(state=state, queue=queue_name, limit=limit, newest=newest)
        count = await write_job_stream(jobs, as_json=as_json)
    if not count and not as_json:
        click.echo("no jobs" + (f" in state {state}" if state else ""), err=True)
