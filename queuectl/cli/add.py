"""``add``: enqueue a command typed as words, without writing JSON."""

from __future__ import annotations

import os
import shlex
from typing import Any

import asyncclick as click

from queuectl.cli.app import Context, pass_context
from queuectl.cli.candidates import queue_names
from queuectl.cli.enqueued import report


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


def _cwd(given: str | None, none: bool) -> str | None:
    """The job's directory: ``--cwd`` (made absolute), none, or the current one."""
    from queuectl.domain.errors import InvalidInput

    if none:
        if given is not None:
            raise click.UsageError("give --cwd DIR or --no-cwd, not both")
        return None
    try:
        return os.getcwd() if given is None else os.path.abspath(given)
    except OSError as exc:
        raise InvalidInput(
            f"the current directory cannot be read ({exc.strerror}): give --cwd DIR or --no-cwd"
        ) from None


def _env(items: tuple[str, ...]) -> dict[str, str] | None:
    """``--env KEY=VALUE`` as given, ``--env KEY`` from this environment."""
    from queuectl.domain.errors import InvalidInput

    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            if key not in os.environ:
                raise InvalidInput(f"--env {key}: no such variable here (give {key}=VALUE)")
            value = os.environ[key]
        env[key] = value
    return env or None


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("--id", "job_id", metavar="ID", help="Job id [default: generated].")
@click.option("--retries", type=int, metavar="N", help="Retries after the first attempt.")
@click.option("--priority", "-p", type=int, metavar="N", help="Higher runs first [default: 0].")
@click.option("--delay", metavar="DURATION", help="Run no sooner than this from now (90s, 5m, 2h).")
@click.option("--at", "run_at", metavar="TIME", help="Run no sooner than this ISO 8601 time.")
@click.option("--timeout", "job_timeout", metavar="DURATION", help="Kill the command after this.")
@click.option(
    "--queue", "-q", "queue_name", metavar="NAME", shell_complete=queue_names,
    help="Named queue [default: default].",
)  # fmt: skip
@click.option(
    "--after", multiple=True, metavar="JOB_ID", help="Run once this job completed (repeatable)."
)
@click.option("--backoff-base", type=float, metavar="B", help="This job's backoff base.")
@click.option("--backoff-max", metavar="DURATION", help="This job's longest backoff delay.")
@click.option("--backoff-jitter", type=click.Choice(["none", "full"]), help="Backoff jitter.")
@click.option("--cwd", metavar="DIR", help="Run in DIR [default: the current directory].")
@click.option("--no-cwd", is_flag=True, help="Run in the runner's directory instead.")
@click.option(
    "--env",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="Set a variable for the command (repeatable); KEY alone copies it from here.",
)
@click.option(
    "--retry-on",
    type=int,
    multiple=True,
    metavar="CODE",
    help="Retry only these exit codes (repeatable), such as 75 (EX_TEMPFAIL).",
)
@click.option("--unique", metavar="KEY", help="At most one live job with KEY.")
@click.option(
    "--on-conflict",
    type=click.Choice(["ignore", "error"]),
    help="With --unique, when KEY is live: print that job's id (ignore) or fail (error).",
)
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
        "max_retries": options["retries"],
        "priority": options["priority"],
        "delay": options["delay"],
        "run_at": None if options["run_at"] is None else _local_time(options["run_at"]),
        "timeout": options["job_timeout"],
        "queue": options["queue_name"],
        "after": [a for value in options["after"] for a in value.split(",") if a] or None,
        "backoff_base": options["backoff_base"],
        "backoff_max": options["backoff_max"],
        "backoff_jitter": options["backoff_jitter"],
        "cwd": _cwd(options["cwd"], options["no_cwd"]),
        "env": _env(options["env"]),
        "retry_on": list(options["retry_on"]) or None,
        "unique_key": options["unique"],
        "on_conflict": options["on_conflict"],
    }
    spec = parse_spec({k: v for k, v in fields.items() if v is not None})
    async with ctx.queue() as queue:
        (done,) = await queue.submit_many([spec])  # only the id is printed: no read-back
    report(done)
