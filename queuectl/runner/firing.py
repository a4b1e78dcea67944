"""A runner's schedule side task: fire the ticks that came due, then sleep to the next.

Every runner does this, on every host; there is no leader. Two runners that fire the
same tick both ask the store to, and the store's transaction lets one of them through
(``Store.fire_schedule``); the other writes nothing. The task sleeps until the earliest
next tick of all schedules, and wakes at once when a schedule is added, changed or
removed anywhere (a ``schedules`` wake-up), so it never polls; a long fallback timer
covers a lost wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from queuectl.domain.cron import Cron, plan_ticks
from queuectl.domain.errors import InvalidInput, QueuectlError, StoreError
from queuectl.domain.schedule import Schedule
from queuectl.domain.spec import JobSpec
from queuectl.store.base import NewJob, Store, new_job

__all__ = ["Firing", "fire_due", "job_from_template"]

#: A configured default of retry-on exit codes (None: every failure retries).
RetryOn = tuple[int, ...] | None

log = logging.getLogger("queuectl.runner")

#: Longest sleep with no wake-up: a lost wake-up delays a new schedule at most this.
_FALLBACK = 60.0
#: After a failed pass, look again this soon.
_RETRY = 5.0


def job_from_template(
    template: JobSpec, default_retries: int, default_retry_on: RetryOn = None
) -> NewJob:
    """A new job from a schedule's template, with a fresh random id (a tick's job must
    never meet an id that exists: the schedule would be stuck on it). The configured
    defaults are those of the runner that fires it, as for a job ``add`` made."""
    return new_job(template, os.urandom(16).hex(), default_retries, default_retry_on)


async def fire_due(
    store: Store, default_retries: int, default_retry_on: RetryOn = None
) -> float | None:
    """Fire every schedule's due ticks at the store's ``now()``; the earliest next tick
    (None: no schedule will fire)."""
    now = store.now()
    earliest: float | None = None
    for schedule in await store.list_schedules():
        if schedule.paused:
            continue
        next_at = await _fire_one(store, schedule, now, (default_retries, default_retry_on))
        if next_at is not None and (earliest is None or next_at < earliest):
            earliest = next_at
    return earliest


async def _fire_one(
    store: Store, schedule: Schedule, now: float, defaults: tuple[int, RetryOn]
) -> float | None:
    try:
        cron = Cron(schedule.cron, schedule.timezone)
        template = schedule.template()
    except (InvalidInput, ValueError) as exc:  # stored by a newer or laxer version
        log.warning("schedule %s cannot fire: %s", schedule.name, exc)
        return None
    plan = plan_ticks(cron, schedule.cursor.timestamp(), now, schedule.catch_up)
    missed = plan.missed
    if plan.pass_to is not None:
        await store.pass_over(schedule.name, plan.pass_to, missed)
        missed = 0
    for tick in plan.fire:
        job = job_from_template(template, *defaults)
        try:
            result = await store.fire_schedule(schedule.name, tick, job, missed=missed)
        except StoreError:
            raise
        except QueuectlError as exc:
            # The store refused the job (nothing was written): the tick stays due and
            # the next pass tries again; the other schedules go on meanwhile.
            log.warning("schedule %s: its job was refused: %s", schedule.name, exc)
            return now + _RETRY
        missed = 0
        if result == "skipped":
            log.info("schedule %s: tick skipped (last job unfinished, or key held)", schedule.name)
    return plan.next_at


class Firing:
    """The side task, and the wake-up that makes it look again at once."""

    def __init__(self, store: Store, default_retries: int, default_retry_on: RetryOn) -> None:
        self._store = store
        self._default_retries = default_retries
        self._default_retry_on = default_retry_on
        self._changed = asyncio.Event()
        #: Set while the task sleeps after a pass, cleared while it looks: what a
        #: caller awaits to know that the next change must wake it.
        self.asleep = asyncio.Event()

    def changed(self) -> None:
        """A schedule was added, changed or removed somewhere."""
        self._changed.set()

    async def loop(self) -> None:
        while True:
            self._changed.clear()
            try:
                next_at = await fire_due(self._store, self._default_retries, self._default_retry_on)
            except StoreError as exc:
                log.warning("firing schedules failed: %s", exc)
                next_at = self._store.now() + _RETRY
            wait = _FALLBACK if next_at is None else next_at - self._store.now()
            self.asleep.set()
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(max(wait, 0.0), _FALLBACK))
            finally:
                self.asleep.clear()
