"""A runner's side tasks: leases and control flags, recovery of dead peers, retention.

They run beside the dispatch loop of one Runner and act on it (stop it, interrupt a
job that was taken over or cancelled); store errors are logged and retried at the next
period, so a database hiccup never stops a runner. A store that is gone (its file
deleted or replaced) does: nothing the runner writes would reach anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Protocol

from queuectl.domain.config import Settings
from queuectl.domain.errors import StoreError, StoreGone
from queuectl.domain.models import JobState, RunnerInfo, from_epoch
from queuectl.domain.retry import RetryPolicy
from queuectl.runner.deathwatch import DeathWatch
from queuectl.runner.events import RunStats
from queuectl.runner.recovery import recover
from queuectl.store.base import Store

__all__ = ["RunnerControl", "Upkeep"]

log = logging.getLogger("queuectl.runner")

#: Longest time between two retention passes of a runner, in seconds.
_RETENTION_PERIOD = 60.0


class RunnerControl(Protocol):
    """What the side tasks need of their runner."""

    @property
    def info(self) -> RunnerInfo | None:
        """The runner's registry entry while it runs."""
        ...

    def stop(self, *, hard: bool = False) -> None: ...

    def fail(self, error: StoreError) -> None:
        """Stop (draining), then end ``run`` with ``error``."""
        ...

    def interrupt(self, job_id: str, why: str) -> None:
        """End a running job's work: ``cancel`` it, or drop it because it was ``lost``."""
        ...

    def active_jobs(self) -> Iterator[str]:
        """Ids of the jobs whose work runs."""
        ...


class Upkeep:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        policy: RetryPolicy,
        runner: RunnerControl,
        stats: RunStats,
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy
        self._runner = runner
        self._stats = stats
        self._control = asyncio.Event()
        self._peer_exited = asyncio.Event()
        self._deathwatch = DeathWatch(self._peer_exited.set)

    def control_requested(self) -> None:
        """A control wake-up (stop or cancel request): check the flags now."""
        self._control.set()

    def close(self) -> None:
        self._deathwatch.close()

    # -- leases and control flags ---------------------------------------------
    async def heartbeat_loop(self) -> None:
        """Renew leases every third of a lease, and at once on a control wake-up."""
        interval = self._settings.lease_seconds / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._control.wait(), interval)
            self._control.clear()
            await self.beat()

    async def beat(self) -> None:
        runner, store = self._runner, self._store
        me = runner.info
        if me is None:
            return
        # Only jobs claimed before the renewal can be judged by it.
        claimed_before = list(runner.active_jobs())
        try:
            beat = await store.heartbeat(me.id, self._settings.lease_seconds)
            if not beat.registered:
                # With a fresh heartbeat: the old one could get the entry dropped again.
                await store.register_runner(me._replace(heartbeat_at=from_epoch(store.now())))
        except StoreGone as exc:
            runner.fail(exc)
            return
        except StoreError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        if beat.stop_requested:
            runner.stop(hard=beat.stop_requested >= 2)
        for job_id in beat.cancel:
            runner.interrupt(job_id, "cancel")
        for job_id in claimed_before:
            if job_id not in beat.held:
                runner.interrupt(job_id, "lost")

    # -- recovery -------------------------------------------------------------
    async def recovery_loop(self) -> None:
        """Recover on a timer, and at once when a runner of this host exits."""
        interval = min(self._settings.lease_seconds / 2, 5.0)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._peer_exited.wait(), interval)
            self._peer_exited.clear()
            await self.recover()

    async def recover(self) -> None:
        me = self._runner.info
        if me is None:
            return
        try:
            result = await recover(
                self._store,
                me,
                lease_seconds=self._settings.lease_seconds,
                kill_grace=self._settings.kill_grace,
                policy=self._policy,
            )
        except StoreError as exc:
            log.warning("recovery pass failed: %s", exc)
            return
        self._stats.recovered += result.recovered
        self._deathwatch.watch(r.pid for r in result.local_peers)

    # -- retention --------------------------------------------------------------
    async def retention_loop(self) -> None:
        """Purge finished jobs past their retention, a small batch at a time."""
        ages = self._settings.retention_seconds
        # Often enough that a job outlives its retention by at most about half of it.
        period = min(_RETENTION_PERIOD, max(1.0, min(ages.values()) / 2))
        while True:
            for state, age in ages.items():
                try:
                    await self._purge_all(JobState(state), age)
                except StoreError as exc:
                    log.warning("purging %s jobs failed: %s", state, exc)
            await asyncio.sleep(period)

    async def _purge_all(self, state: JobState, age: float) -> None:
        while True:
            deleted = await self._store.purge(states=frozenset({state}), older_than=age, limit=200)
            if not deleted:
                return
            await asyncio.sleep(0.05)  # let claims and finishes in between batches
