"""Prometheus metrics of a queue: read from the store at scrape time, rendered as text.

Every figure is store-wide and kept by the store itself (the tallies: counts per state,
outcomes ever recorded, latency histograms), so any process that reads it serves the
same numbers: a dashboard, a runner's ``--metrics-port``, or an embedder's endpoint.
Scrape one of them per store, or the same series arrive twice. No label carries a job
id, a command or a time: only queue names, states, outcomes and bucket bounds, so the
number of series stays bounded.

``prometheus_client`` (the ``metrics`` extra) is imported here only, and this module
only where metrics are served, so that nothing else pays for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from queuectl.api.queue import Queue
from queuectl.domain.histograms import BUCKET_NAMES, Histogram
from queuectl.domain.models import JobState
from queuectl.store.base import OUTCOMES

__all__ = ["CONTENT_TYPE", "Snapshot", "healthy", "read_snapshot", "render", "scrape"]

#: The Content-Type of ``render``'s text (the Prometheus text format).
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: How long ``healthy`` waits for the store (a PostgreSQL store retries a lost
#: connection for longer than a health check should take).
HEALTH_TIMEOUT = 2.0
_HISTOGRAMS = {
    "duration": (
        "queuectl_job_duration_seconds",
        "Seconds from an attempt's start to its outcome (completed, failed, dead, cancelled).",
    ),
    "wait": (
        "queuectl_job_wait_seconds",
        "Seconds from a job's becoming runnable to its claim by a runner.",
    ),
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything /metrics shows, read from the store in one go."""

    counts: dict[str, dict[JobState, int]]
    finished: dict[tuple[str, str], int]
    histograms: dict[tuple[str, str], Histogram]
    runners: int
    slots: int
    #: Seconds the oldest runnable job of each queue with jobs has waited (0: none).
    oldest: dict[str, float]

    @property
    def busy(self) -> int:
        """Slots running a job: the processing jobs, at most the live runners' slots."""
        processing = sum(c[JobState.PROCESSING] for c in self.counts.values())
        return min(processing, self.slots)


async def read_snapshot(queue: Queue) -> Snapshot:
    """Read every figure from the store; each read costs the same at any number of jobs."""
    store = queue.store
    counts = await queue.queue_counts()
    finished = await queue.finished_totals()
    histograms = await store.histograms()
    runners = await queue.runners()
    # A queue whose jobs were all deleted keeps its series (at zero) while its
    # counters last, so that a gauge does not vanish under a dashboard.
    for name in {name for name, _ in finished} | {name for _, name in histograms}:
        counts.setdefault(name, dict.fromkeys(JobState, 0))
    waiting = [name for name, c in counts.items() if c[JobState.PENDING] or c[JobState.FAILED]]
    since = await store.oldest_runnable(waiting) if waiting else {}
    now = store.now()
    return Snapshot(
        counts=counts,
        finished=finished,
        histograms=histograms,
        runners=len(runners),
        slots=sum(r.concurrency for r in runners),
        oldest={name: max(0.0, now - since.get(name, now)) for name in counts},
    )


class _Collector:
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot
        jobs = GaugeMetricFamily(
            "queuectl_jobs", "Jobs in the store, per queue and state.", labels=["queue", "state"]
        )
        for name, counts in sorted(snap.counts.items()):
            for state in JobState:
                jobs.add_metric([name, state.value], counts[state])
        yield jobs
        finished = CounterMetricFamily(
            "queuectl_jobs_finished",
            "Outcomes ever recorded per queue; purge and retention never lower them.",
            labels=["queue", "outcome"],
        )
        queues = sorted({name for name, _ in snap.finished} | set(snap.counts))
        for name in queues:
            for outcome in OUTCOMES:
                finished.add_metric([name, outcome], snap.finished.get((name, outcome), 0))
        yield finished
        for kind, (metric, text) in _HISTOGRAMS.items():
            family = HistogramMetricFamily(metric, text, labels=["queue"])
            for (seen, name), histogram in sorted(snap.histograms.items()):
                if seen == kind:
                    family.add_metric([name], _cumulative(histogram), histogram.sum)
            yield family
        yield GaugeMetricFamily("queuectl_runners", "Live runners.", value=snap.runners)
        slots = GaugeMetricFamily(
            "queuectl_runner_slots",
            "Worker slots of the live runners: busy (running a job) or idle.",
            labels=["state"],
        )
        slots.add_metric(["busy"], snap.busy)
        slots.add_metric(["idle"], snap.slots - snap.busy)
        yield slots
        oldest = GaugeMetricFamily(
            "queuectl_oldest_runnable_age_seconds",
            "Seconds the oldest runnable job of each queue has waited (0 when none waits).",
            labels=["queue"],
        )
        for name, age in sorted(snap.oldest.items()):
            oldest.add_metric([name], age)
        yield oldest


def _cumulative(histogram: Histogram) -> list[tuple[str, float]]:
    total, buckets = 0, []
    for name, n in zip(BUCKET_NAMES, histogram.counts, strict=True):
        total += n
        buckets.append((name, float(total)))
    return buckets


def render(snapshot: Snapshot) -> bytes:
    """The Prometheus text exposition of ``snapshot``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snapshot))
    return generate_latest(registry)


async def scrape(queue: Queue) -> bytes:
    """Read the store and render: the body of a /metrics response."""
    return render(await read_snapshot(queue))


async def healthy(queue: Queue, within: float = HEALTH_TIMEOUT) -> str | None:
    """None when the store answers a read ``within`` seconds; else why not."""
    try:
        async with asyncio.timeout(within):
            await queue.store.count_jobs()
    except TimeoutError:
        return f"the store did not answer within {within:g} s"
    except Exception as exc:  # any failure to read is what a health check reports
        return f"the store failed: {exc}" if str(exc) else type(exc).__name__
    return None
