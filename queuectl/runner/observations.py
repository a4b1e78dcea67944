"""Latency observations and outcomes of one runner, batched in memory and added to the
store's histograms and per-minute outcome counts now and then
(``Store.record_observations``; ``domain.minutes``).

Why batched and not counted by the claim and finish statements: a trigger or an extra
statement in every round trip would tax the hot path for figures that a scrape or the
dashboard's chart reads every few seconds at most. Observing costs a dictionary update
here; one small write a second per runner carries them all. The price: the histograms
and the minutes trail the outcomes by up to ``FLUSH_INTERVAL``, and a runner that dies
loses what it had not written yet.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import time
from collections.abc import Callable

from queuectl.domain import minutes
from queuectl.domain.errors import StoreError
from queuectl.domain.histograms import BOUNDS, BUCKET_NAMES, SUM
from queuectl.domain.models import Job, JobState
from queuectl.store.base import OUTCOMES, Store

__all__ = ["FLUSH_INTERVAL", "Observations"]

log = logging.getLogger("queuectl.runner")

#: Seconds between two writes of a runner's observations.
FLUSH_INTERVAL = 1.0
_OUTCOMES = frozenset(JobState(name) for name in OUTCOMES)


class _Series:
    """One histogram's observations since the last write: per bucket, and their sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * len(BUCKET_NAMES)
        self.sum = 0.0


class Observations:
    """Kept per kind and queue as plain lists: an observation is a dictionary lookup,
    a bisect and two additions, since it runs for every claim and every outcome."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._series: dict[str, dict[str, _Series]] = {"wait": {}, "duration": {}}
        #: Outcomes per (queue, minute tally name), by ``clock`` (the store's).
        self._minutes: collections.Counter[tuple[str, str]] = collections.Counter()
        self._clock = clock

    def claimed(self, jobs: list[Job]) -> None:
        """A claim's jobs: each waited from becoming runnable (the later of its run_at
        and its last dependency's completion) to its claim, by the store's clock."""
        waits = self._series["wait"]
        for job in jobs:
            if job.started_at is None:
                continue
            ready = job.run_at
            if job.ready_at is not None and job.ready_at > ready:
                ready = job.ready_at
            seconds = (job.started_at - ready).total_seconds()
            if seconds < 0.0:  # the store's clock stepped back
                seconds = 0.0
            series = waits.get(job.queue)
            if series is None:
                series = waits[job.queue] = _Series()
            series.counts[bisect.bisect_left(BOUNDS, seconds)] += 1
            series.sum += seconds

    def finished(self, queue: str, state: JobState, seconds: float) -> None:
        """An attempt whose outcome was recorded, and how long its work ran."""
        if state in _OUTCOMES:
            self._minutes[queue, minutes.name(minutes.floor(self._clock()), state.value)] += 1
            durations = self._series["duration"]
            series = durations.get(queue)
            if series is None:
                series = durations[queue] = _Series()
            series.counts[bisect.bisect_left(BOUNDS, seconds)] += 1
            series.sum += seconds

    def take(self) -> dict[tuple[str, str, str], int]:
        """What accumulated, as ``Store.record_observations`` takes it; now empty."""
        counts: dict[tuple[str, str, str], int] = {}
        for kind, by_queue in self._series.items():
            for queue, series in by_queue.items():
                for name, n in zip(BUCKET_NAMES, series.counts, strict=True):
                    if n:
                        counts[kind, queue, name] = n
                counts[kind, queue, SUM] = round(series.sum * 1_000_000)
            self._series[kind] = {}
        for (queue, name), n in self._minutes.items():
            counts[minutes.MINUTE, queue, name] = n
        self._minutes.clear()
        return counts

    async def flush(self, store: Store) -> None:
        """Write what accumulated; kept for the next write when this one fails."""
        counts = self.take()
        if not counts:
            return
        try:
            await store.record_observations(counts)
        except BaseException:
            self._put_back(counts)
            raise

    def _put_back(self, counts: dict[tuple[str, str, str], int]) -> None:
        index = {name: n for n, name in enumerate(BUCKET_NAMES)}
        for (kind, queue, name), n in counts.items():
            if kind == minutes.MINUTE:
                self._minutes[queue, name] += n
                continue
            series = self._series[kind].setdefault(queue, _Series())
            if name == SUM:
                series.sum += n / 1_000_000
            else:
                series.counts[index[name]] += n

    async def flush_loop(self, store: Store) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self.flush(store)
            except StoreError as exc:
                log.warning("recording latency observations and outcomes failed, retrying: %s", exc)
