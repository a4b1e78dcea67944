"""Group commit of job outcomes: one store transaction for whatever finished meanwhile.

A worker hands its Finish over and waits until it is durable. While one batch is being
written, the next accumulates, so under load many outcomes share a commit and at rest a
single outcome is written at once, without a timer adding latency.
"""

from __future__ import annotations

import asyncio
import logging

from queuectl.errors import StoreError
from queuectl.store.base import Finish, Store

__all__ = ["Finisher"]

log = logging.getLogger("queuectl.runner")
_MAX_BATCH = 512


class Finisher:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[Finish, asyncio.Future[bool]]] = []
        self._kick = asyncio.Event()
        self._closing = False

    async def submit(self, finish: Finish) -> bool:
        """Record ``finish``; True if it applied, False if the claim was no longer ours."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((finish, future))
        self._kick.set()
        return await asyncio.shield(future)

    async def run(self) -> None:
        """Write batches until closed and drained. Store errors are retried, not dropped."""
        delay = 0.1
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._kick.clear()
                await self._kick.wait()
                continue
            batch = self._pending[:_MAX_BATCH]
            try:
                applied = await self._store.finish([f for f, _ in batch])
            except StoreError as exc:
                log.warning("recording %d outcomes failed, retrying: %s", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            del self._pending[: len(batch)]
            for finish, future in batch:
                if not future.done():
                    future.set_result(finish.job_id in applied)

    def close(self) -> None:
        """Finish writing what was submitted, then let ``run`` return."""
        self._closing = True
        self._kick.set()
