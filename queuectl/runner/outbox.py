"""Outcomes waiting to be written: the runner's outbox, written in batches.

A worker hands its Finish over and waits until it is durable. The runner's dispatch
loop takes whatever accumulated and writes it together with its next claim, in one
store transaction (``Store.exchange``), so under load many outcomes share a commit and
at rest a single outcome is written at once, without a timer adding latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from queuectl.store.base import Finish

__all__ = ["Outbox"]

_MAX_BATCH = 512


class Outbox:
    def __init__(self, on_submit: Callable[[], None]) -> None:
        self._on_submit = on_submit
        self._pending: list[tuple[Finish, asyncio.Future[bool]]] = []

    def __len__(self) -> int:
        return len(self._pending)

    async def submit(self, finish: Finish) -> bool:
        """Queue ``finish``; True once written, False if the claim was no longer ours."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((finish, future))
        self._on_submit()
        return await asyncio.shield(future)

    def peek(self) -> list[Finish]:
        """The next batch to write (it stays queued until ``written``)."""
        return [finish for finish, _ in self._pending[:_MAX_BATCH]]

    def written(self, count: int, applied: set[str]) -> None:
        """The first ``count`` queued outcomes are durable; ``applied`` says which held."""
        batch, self._pending = self._pending[:count], self._pending[count:]
        for finish, future in batch:
            if not future.done():
                future.set_result(finish.job_id in applied)
