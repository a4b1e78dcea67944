"""The memory store's side tables: runners, wake-ups, output and attempt history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from queuectl.domain.models import Attempt, Job, JobOutput, RunnerInfo
from queuectl.store.base import OutputWrite, Subscription, WakeKind

__all__ = ["MemorySideTables"]


class _MemorySubscription:
    def __init__(self, store: MemorySideTables, on_wake: Callable[[WakeKind], None]) -> None:
        self._store = store
        self.on_wake = on_wake

    @property
    def address(self) -> str | None:
        return None

    async def close(self) -> None:
        self._store._subscribers.discard(self)


class MemorySideTables:
    """Everything but the jobs themselves; MemoryStore adds those."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._runners: dict[str, RunnerInfo] = {}
        self._attempts: dict[str, list[Attempt]] = {}
        self._output: dict[tuple[str, int, int], JobOutput] = {}
        self._subscribers: set[_MemorySubscription] = set()

    def now(self) -> float:
        return self._clock()

    async def close(self) -> None:
        self._subscribers.clear()

    def _end_attempt(
        self, job: Job, at: datetime, exit_code: int | None, signal: int | None, reason: str
    ) -> None:
        history = self._attempts.get(job.id, [])
        for n, attempt in enumerate(history):
            if attempt.token == job.token:
                history[n] = attempt._replace(
                    ended_at=at, exit_code=exit_code, signal=signal, reason=reason
                )

    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        for w in writes:
            key = (w.job_id, w.token, w.stream)
            old = self._output.get(key, JobOutput())
            self._output[key] = JobOutput(old.head + w.head, w.tail, w.total)

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        return {
            stream: output
            for (jid, tok, stream), output in self._output.items()
            if jid == job_id and tok == token
        }

    async def register_runner(self, runner: RunnerInfo) -> None:
        self._runners[runner.id] = runner

    async def unregister_runner(self, runner_id: str) -> None:
        self._runners.pop(runner_id, None)

    async def list_runners(self) -> list[RunnerInfo]:
        return sorted(self._runners.values(), key=lambda r: r.started_at)

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        for runner_id in runner_ids:
            if runner_id in self._runners:
                runner = self._runners[runner_id]
                level = max(runner.stop_requested, 2 if hard else 1)
                self._runners[runner_id] = runner._replace(stop_requested=level)
        await self.notify("control")

    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        subscription = _MemorySubscription(self, on_wake)
        self._subscribers.add(subscription)
        return subscription

    async def maintain(self) -> None:
        return  # nothing to keep up in memory

    async def notify(self, kind: WakeKind = "jobs") -> None:
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscribers):
            loop.call_soon(subscription.on_wake, kind)
