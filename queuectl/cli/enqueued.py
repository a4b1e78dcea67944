"""What ``add`` and ``enqueue`` print for one job (apart, so neither loads the other)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncclick as click

if TYPE_CHECKING:
    from queuectl.api.queue import Enqueued

__all__ = ["report"]


def report(done: Enqueued) -> None:
    """Print the id of the job enqueued, or of the live job that held its unique key
    (with a note on stderr: nothing was stored)."""
    click.echo(done.id)
    if not done.created:
        click.echo(f"queued already as {done.id}", err=True)
