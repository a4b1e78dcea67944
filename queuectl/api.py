"""Queue: the async API that the CLI and embedding applications share."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

from queuectl.config import Settings, load_settings
from queuectl.errors import DuplicateJob, InvalidInput, QueuectlError
from queuectl.models import Job, JobState, RunnerInfo
from queuectl.paths import default_db_url, ensure_home, resolve_home
from queuectl.procinfo import host_name
from queuectl.registry import live_runners
from queuectl.runner import Execute, Runner
from queuectl.spec import JobSpec, parse_spec
from queuectl.store import NewJob, Store, open_store, sqlite_path

__all__ = ["Queue", "StopTimeout"]

SpecLike = JobSpec | Mapping[str, Any] | str


class StopTimeout(QueuectlError):
    """Runners did not exit within the time allowed."""


def _as_spec(item: SpecLike) -> JobSpec:
    if isinstance(item, JobSpec):
        return item
    if isinstance(item, str):
        return JobSpec(command=item)
    return parse_spec(item)


class Queue:
    """A job queue on one store. Open it with ``Queue.open``; it is cheap to keep open."""

    def __init__(self, store: Store, settings: Settings | None = None) -> None:
        self.store = store
        self.settings = settings or Settings()

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        db: str | None = None,
        *,
        home: str | Path | None = None,
        settings: Settings | None = None,
    ) -> AsyncIterator[Queue]:
        """Open the queue ``db`` names (a file, ``sqlite:///…``, ``postgresql://…``).

        Without ``db``: ``$QUEUECTL_DB``, else ``queuectl.db`` in the home (``home``,
        ``$QUEUECTL_HOME`` or ``~/.queuectl``). Settings come from the home's config.json
        unless given.
        """
        queue = await cls.connect(db, home=home, settings=settings)
        try:
            yield queue
        finally:
            await queue.close()

    @classmethod
    async def connect(
        cls,
        db: str | None = None,
        *,
        home: str | Path | None = None,
        settings: Settings | None = None,
    ) -> Queue:
        """Like ``open`` without the context manager; call ``close()`` when done."""
        home_dir = resolve_home(home)
        url = default_db_url(db, home_dir)
        path = sqlite_path(url)
        if path is not None and path.parent == home_dir:
            ensure_home(home_dir)
        if settings is None:
            settings = load_settings(home_dir) if home_dir.is_dir() else Settings()
        return cls(await open_store(url), settings)

    async def close(self) -> None:
        await self.store.close()

    # -- enqueue ------------------------------------------------------------
    def _new_job(self, spec: JobSpec) -> NewJob:
        return NewJob(
            id=spec.id or uuid.uuid4().hex,
            command=spec.command,
            max_retries=self.settings.max_retries if spec.max_retries is None else spec.max_retries,
            timeout=spec.timeout,
            priority=spec.priority,
            queue=spec.queue,
        )

    async def enqueue(self, command: SpecLike, **fields: Any) -> Job:
        """Add one job: a command string with fields as keywords, a JobSpec or a mapping."""
        if isinstance(command, str):
            spec = parse_spec({"command": command, **fields})
        elif fields:
            raise InvalidInput("pass fields either as keywords or inside the spec, not both")
        else:
            spec = _as_spec(command)
        new = self._new_job(spec)
        await self.store.enqueue([new])
        return await self.store.get(new.id)

    async def enqueue_many(self, specs: Iterable[SpecLike]) -> list[str]:
        """Add many jobs in one transaction, all or none; returns their ids in order."""
        seen: set[str] = set()
        jobs = []
        for spec in map(_as_spec, specs):
            job = self._new_job(spec)
            if job.id in seen:
                raise DuplicateJob(job.id, "it appears twice in this batch")
            seen.add(job.id)
            jobs.append(job)
        if jobs:
            await self.store.enqueue(jobs)
        return [job.id for job in jobs]

    # -- read ---------------------------------------------------------------
    async def get(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    def jobs(
        self, *, state: JobState | str | None = None, limit: int | None = None
    ) -> AsyncIterator[Job]:
        """Jobs oldest first, streamed from the store page by page."""
        return self.store.list_jobs(state=_state(state), limit=limit)

    async def counts(self) -> dict[JobState, int]:
        return await self.store.count_jobs()

    def dead(self, *, limit: int | None = None) -> AsyncIterator[Job]:
        """The dead letter queue."""
        return self.jobs(state=JobState.DEAD, limit=limit)

    async def retry(self, job_id: str) -> Job:
        """Give a dead job a fresh start: pending now, attempts reset to 0."""
        return await self.store.retry_dead(job_id)

    # -- runners ------------------------------------------------------------
    def runner(
        self, *, concurrency: int = 1, burst: bool = False, execute: Execute | None = None
    ) -> Runner:
        """A Runner on this queue; ``await runner.run()`` in your loop, ``runner.stop()``."""
        return Runner(
            self.store, self.settings, concurrency=concurrency, burst=burst, execute=execute
        )

    async def runners(self) -> list[RunnerInfo]:
        """The live runners of this store (dead entries are ignored)."""
        return await live_runners(self.store, self.settings.lease_seconds)

    async def stop_runners(
        self,
        *,
        drain_timeout: float | None = None,
        hard: bool = False,
        poll: float = 0.05,
        all_hosts: bool = False,
    ) -> list[RunnerInfo]:
        """Ask this host's runners (or, with ``all_hosts``, every host's) to stop.

        They drain (running jobs finish and are recorded), or with ``hard`` end their
        commands and give the jobs back. Returns once they are gone: on this host once
        their process has exited or left the registry; on other hosts once their entry
        is gone or stale (no heartbeat within a lease). The request travels through the
        store, so ``all_hosts`` reaches runners on other machines sharing a database
        (PostgreSQL). Runners still there after ``drain_timeout`` seconds raise
        StopTimeout.
        """
        host = host_name()
        targets = [r for r in await self.runners() if all_hosts or r.host == host]
        if targets:
            await self.store.request_stop([r.id for r in targets], hard=hard)
        loop = asyncio.get_running_loop()
        deadline = None if drain_timeout is None else loop.time() + drain_timeout
        waiting = list(targets)
        while waiting:
            live = {r.id for r in await self.runners()}
            waiting = [r for r in waiting if r.id in live]
            if not waiting:
                break
            if deadline is not None and loop.time() >= deadline:
                pids = ", ".join(
                    str(r.pid) if r.host == host else f"{r.pid} on {r.host}" for r in waiting
                )
                raise StopTimeout(f"runner(s) still draining after {drain_timeout:g}s: pid {pids}")
            await asyncio.sleep(poll)
        return targets


def _state(state: JobState | str | None) -> JobState | None:
    if state is None or isinstance(state, JobState):
        return state
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidInput(f"unknown state {state!r} (one of: {names})") from None
