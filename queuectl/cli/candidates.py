"""What shell completion offers for values: job ids, queue names and config keys.

Click calls these synchronously from inside the running event loop, so a lookup in
the store runs on a loop of its own in a short-lived thread. The store is opened
read-only, and a lookup that fails (no store yet, a server down) offers nothing:
completion must never print an error into the user's command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncclick as click

    from queuectl.api.queue import Queue

__all__ = ["MAX_CANDIDATES", "config_keys", "job_ids", "queue_names"]

#: The most values offered at once: more would not help anyone choose.
MAX_CANDIDATES = 100

T = TypeVar("T")


def _from_store(ctx: click.Context, read: Callable[[Queue], Awaitable[list[T]]]) -> list[T]:
    """``read`` on the queue the command line names (``--home``, ``--db``), or []."""
    from queuectl.api.queue import Queue

    params = ctx.find_root().params
    found: list[list[T]] = []

    async def lookup() -> None:
        async with Queue.open(params.get("db"), home=params.get("home"), read_only=True) as q:
            found.append(await read(q))

    def run() -> None:
        with contextlib.suppress(Exception):  # see the module's docstring
            asyncio.run(lookup())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join()
    return found[0] if found else []


def job_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return _from_store(ctx, lambda q: q.job_ids(incomplete, limit=MAX_CANDIDATES))


def queue_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    names = _from_store(ctx, lambda q: q.queue_names())
    return [name for name in names if name.startswith(incomplete)][:MAX_CANDIDATES]


def config_keys(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    import dataclasses

    from queuectl.domain.config import Settings

    keys = [field.name.replace("_", "-") for field in dataclasses.fields(Settings)]
    return [key for key in keys if key.startswith(incomplete)]
