"""The job options that ``add`` and ``schedule add`` share, defined once: a job field
added here reaches both commands.

The directory a job runs in is recorded when the command is given, as the shell's
working directory unless ``--cwd DIR`` or ``--no-cwd`` says otherwise: for
``schedule add`` that is the directory ``schedule add`` ran in, so that every tick's
job runs where the schedule was made, as ``add``'s job does (``--no-cwd``: in the
runner's directory). ``--env KEY`` alone copies KEY's value at that moment too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import asyncclick as click

from queuectl.cli.candidates import queue_names

__all__ = ["job_fields", "job_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option("--retries", type=int, metavar="N", help="Retries after the first attempt."),
    click.option("--priority", "-p", type=int, metavar="N", help="Higher runs first [default: 0]."),
    click.option(
        "--timeout", "job_timeout", metavar="DURATION", help="Kill the command after this."
    ),
    click.option(
        "--queue",
        "-q",
        "queue_name",
        metavar="NAME",
        shell_complete=queue_names,
        help="Named queue [default: default].",
    ),
    click.option("--backoff-base", type=float, metavar="B", help="This job's backoff base."),
    click.option("--backoff-max", metavar="DURATION", help="This job's longest backoff delay."),
    click.option("--backoff-jitter", type=click.Choice(["none", "full"]), help="Backoff jitter."),
    click.option("--cwd", metavar="DIR", help="Run in DIR [default: the current directory]."),
    click.option("--no-cwd", is_flag=True, help="Run in the runner's directory instead."),
    click.option(
        "--env",
        multiple=True,
        metavar="KEY[=VALUE]",
        help="Set a variable for the command (repeatable); KEY alone copies it from here.",
    ),
    click.option(
        "--retry-on",
        type=int,
        multiple=True,
        metavar="CODE",
        help="Retry only these exit codes (repeatable), such as 75 (EX_TEMPFAIL).",
    ),
    click.option("--unique", metavar="KEY", help="At most one live job with KEY."),
    click.option(
        "--on-conflict",
        type=click.Choice(["ignore", "error"]),
        help="With --unique, when KEY is live: print that job's id (ignore) or fail (error).",
    ),
)


def job_options(fn: F) -> F:
    """Add the shared job options to a command (their values reach it as keywords)."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def job_fields(options: Mapping[str, Any], *, here: bool = True) -> dict[str, Any]:
    """The enqueue fields the shared options give (unset ones left out). ``here``: with
    neither ``--cwd`` nor ``--no-cwd``, the job runs in the current directory."""
    fields = {
        "max_retries": options["retries"],
        "priority": options["priority"],
        "timeout": options["job_timeout"],
        "queue": options["queue_name"],
        "backoff_base": options["backoff_base"],
        "backoff_max": options["backoff_max"],
        "backoff_jitter": options["backoff_jitter"],
        "cwd": _cwd(options["cwd"], options["no_cwd"], here),
        "env": _env(options["env"]),
        "retry_on": list(options["retry_on"]) or None,
        "unique_key": options["unique"],
        "on_conflict": options["on_conflict"],
    }
    return {k: v for k, v in fields.items() if v is not None}


def _cwd(given: str | None, none: bool, here: bool) -> str | None:
    """The job's directory: ``--cwd`` (made absolute), none, or the current one."""
    from queuectl.domain.errors import InvalidInput

    if none:
        if given is not None:
            raise click.UsageError("give --cwd DIR or --no-cwd, not both")
        return None
    if given is None and not here:
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
