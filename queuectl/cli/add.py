"""``add``: enqueue a command typed as words, without writing JSON."""

from __future__ import annotations

import shlex
from typing import Any

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.enqueued import report
from queuectl.cli.jobopts import job_fields, job_options


def join_command(words: tuple[str, ...]) -> str:
    """The shell command for ``add -- WORDS``.

    Several words are quoted one by one, so each stays one argument exactly as the
    caller's shell split it (``add -- echo 'a b'`` runs ``echo 'a b'``). A single word
    is taken as a whole command line, so pipes and ``&&`` work when quoted:
    ``add -- 'make && make test'``.
    """
    return words[0] if len(words) == 1 else shlex.join(words)


def _local_time(text: str) -> str:
    """``--at`` without a UTC offset means local time, as people mean it at a prompt."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text  # the spec parser names the problem
    if moment.utcoffset() is None:
        moment = moment.astimezone()
    return moment.isoformat()


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("--id", "job_id", metavar="ID", help="Job id [default: generated].")
@click.option("--delay", metavar="DURATION", help="Run no sooner than this from now (90s, 5m, 2h).")
@click.option("--at", "run_at", metavar="TIME", help="Run no sooner than this ISO 8601 time.")
@click.option(
    "--after", multiple=True, metavar="JOB_ID", help="Run once this job completed (repeatable)."
)
@job_options
@click.argument("words", nargs=-1, required=True, metavar="-- COMMAND [ARGS]...")
@pass_context
async def add(ctx: Context, /, words: tuple[str, ...], **options: Any) -> None:
    """Enqueue COMMAND (the words after --); print the job id.

    \b
    queuectl add -- echo 'hello world'
    queuectl add --delay 5m --priority 10 -- ./backup.sh /srv
    queuectl add --id build -- make; queuectl add --after build -- make test
    queuectl add -- 'sort big.txt | uniq -c > counts.txt'
    queuectl add --env RAILS_ENV=test --retry-on 75 -- make test
    queuectl add --unique nightly-backup -- ./backup.sh
    """
    from queuectl.domain.spec import parse_spec

    fields: dict[str, Any] = {
        "command": join_command(words),
        "id": options["job_id"],
        "delay": options["delay"],
        "run_at": None if options["run_at"] is None else _local_time(options["run_at"]),
        "after": [a for value in options["after"] for a in value.split(",") if a] or None,
        **job_fields(options),
    }
    spec = parse_spec({k: v for k, v in fields.items() if v is not None})
    async with ctx.queue() as queue:
        (done,) = await queue.submit_many([spec])  # only the id is printed: no read-back
    report(done)
