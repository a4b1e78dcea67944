"""The job options that ``add`` and ``schedule add`` share, defined once: a job field
added here reaches both commands."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import asyncclick as click

__all__ = ["job_fields", "job_options"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option("--retries", type=int, metavar="N", help="Retries after the first attempt."),
    click.option("--priority", "-p", type=int, metavar="N", help="Higher runs first [default: 0]."),
    click.option(
        "--timeout", "job_timeout", metavar="DURATION", help="Kill the command after this."
    ),
    click.option(
        "--queue", "-q", "queue_name", metavar="NAME", help="Named queue [default: default]."
    ),
    click.option("--backoff-base", type=float, metavar="B", help="This job's backoff base."),
    click.option("--backoff-max", metavar="DURATION", help="This job's longest backoff delay."),
    click.option("--backoff-jitter", type=click.Choice(["none", "full"]), help="Backoff jitter."),
)


def job_options(fn: F) -> F:
    """Add the shared job options to a command (their values reach it as keywords)."""
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def job_fields(options: Mapping[str, Any]) -> dict[str, Any]:
    """The enqueue fields the shared options give (unset ones left out)."""
    fields = {
        "max_retries": options["retries"],
        "priority": options["priority"],
        "timeout": options["job_timeout"],
        "queue": options["queue_name"],
        "backoff_base": options["backoff_base"],
        "backoff_max": options["backoff_max"],
        "backoff_jitter": options["backoff_jitter"],
    }
    return {k: v for k, v in fields.items() if v is not None}
