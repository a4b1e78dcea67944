"""The stores' pruning of old minute tallies (``domain.minutes``), as part of their
upkeep while a runner runs: once at start, then every ``INTERVAL``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from queuectl.domain import minutes
from queuectl.domain.errors import StoreError

__all__ = ["INTERVAL", "prune_minutes_loop"]

log = logging.getLogger("queuectl.runner")

#: Seconds between two prunings: the rows grow by a minute's worth in between.
INTERVAL = 60.0


async def prune_minutes_loop(
    prune: Callable[[str], Awaitable[None]], now: Callable[[], float]
) -> None:
    """Call ``prune`` with the least name kept until cancelled; a failed pruning is
    tried at the next turn (the rows only wait a little longer)."""
    while True:
        try:
            await prune(minutes.bound(minutes.floor(now()) - 60 * minutes.KEEP))
        except StoreError as exc:
            log.warning("pruning the outcomes per minute failed, trying again later: %s", exc)
        await asyncio.sleep(INTERVAL)
