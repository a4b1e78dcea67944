"""Latency observations of one runner, batched in memory and added to the store's
histograms now and then (``Store.record_observations``).

Why batched and not counted by the claim and finish statements: a trigger or an extra
statement in every round trip would tax the hot path for figures that a scrape reads
every few seconds at most. Observing costs a dictionary update here; one small write a
second per runner carries them all. The price: the histograms trail the outcomes by up
to ``FLUSH_INTERVAL``, and a runner that dies loses what it had not written yet.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from queuectl.domain.errors import StoreError
from queuectl.domain.histograms import SUM, bucket_name
from queuectl.domain.models import Job, JobState
from queuectl.store.base import OUTCOMES, Store

__all__ = ["FLUSH_INTERVAL", "Observations"]

log = logging.getLogger("queuectl.runner")

#: Seconds between two writes of a runner's observations.
FLUSH_INTERVAL = 1.0


class Observations:
    def __init__(self) -> None:
        self._counts: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def _observe(self, kind: str, queue: str, seconds: float) -> None:
        seconds = max(0.0, seconds)  # clocks may step back
        self._counts[kind, queue, bucket_name(seconds)] += 1
        self._counts[kind, queue, SUM] += round(seconds * 1_000_000)

    def claimed(self, jobs: list[Job]) -> None:
        """A claim's jobs: each waited from becoming runnable (the later of its run_at
        and its last dependency's completion) to its claim, by the store's clock."""
        for job in jobs:
            if job.started_at is not None:
                ready = job.run_at if job.ready_at is None else max(job.run_at, job.ready_at)
                self._observe("wait", job.queue, (job.started_at - ready).total_seconds())

    def finished(self, queue: str, state: JobState, seconds: float) -> None:
        """An attempt whose outcome was recorded, and how long its work ran."""
        if state.value in OUTCOMES:
            self._observe("duration", queue, seconds)

    async def flush(self, store: Store) -> None:
        """Write what accumulated; kept for the next try when the write fails."""
        if not self._counts:
            return
        taken, self._counts = self._counts, collections.Counter()
        try:
            await store.record_observations(taken)
        except BaseException:
            taken.update(self._counts)
            self._counts = taken
            raise

    async def flush_loop(self, store: Store) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush(store)
            except StoreError as exc:
                log.warning("recording latency observations failed, retrying: %s", exc)
