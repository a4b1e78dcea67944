"""Queue: the async API that the CLI and embedding applications share.

Modules that only some methods need (runners, the registry, watching) are imported
inside those methods, so the CLI's one-shot commands start without them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from queuectl.domain.config import Settings
from queuectl.domain.errors import (
    DuplicateJob,
    InvalidInput,
    JobNotFound,
    QueuectlError,
    UniqueConflict,
)
from queuectl.domain.limits import MAX_COUNT, MAX_QUEUE_CAP, int_problem
from queuectl.domain.minutes import KEEP, floor
from queuectl.domain.models import (
    FINISHED_STATES,
    Attempt,
    AttemptOutput,
    Job,
    JobState,
    QueueInfo,
    RunnerInfo,
)
from queuectl.domain.spec import JobSpec, parse_spec, validate_queue
from queuectl.host.config_file import load_settings
from queuectl.host.paths import default_db_url, ensure_home, resolve_home
from queuectl.store import NewJob, Store, open_store, sqlite_path
from queuectl.store.base import (
    OUTCOMES,
    CancelResult,
    FoundJobs,
    JobPage,
    RemoveResult,
    RequeueResult,
    Subscription,
    new_job,
)

if TYPE_CHECKING:  # the runner's modules load only when a runner is made
    from queuectl.domain.schedule import Fire, Schedule, ScheduleSpec
    from queuectl.runner.lifecycle import Execute, JobEvent, Runner

__all__ = ["EnqueueResult", "Enqueued", "Queue"]

SpecLike = JobSpec | Mapping[str, Any] | str
#: Jobs per chunk of ``Queue.enqueue_all``: big enough that a statement's overhead
#: fades, small enough that a chunk's memory does not matter.
BULK_CHUNK = 5000


class EnqueueResult(NamedTuple):
    """What ``Queue.submit`` did. ``created`` False: a live job held the unique key,
    nothing was stored, and ``job`` is that live job."""

    job: Job
    created: bool


class Enqueued(NamedTuple):
    """One job of ``Queue.submit_many``: its id, or with ``created`` False the id of
    the live job that held its unique key (it was not stored)."""

    id: str
    created: bool = True


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
        read_only: bool = False,
    ) -> AsyncIterator[Queue]:
        """Open the queue ``db`` names (a file, ``sqlite:///…``, ``postgresql://…``).

        Without ``db``: ``$QUEUECTL_DB``, else ``queuectl.db`` in the home (``home``,
        ``$QUEUECTL_HOME`` or ``~/.queuectl``). Settings come from the home's config.json
        unless given. ``read_only``: for a caller that only reads, on a home where
        nothing can be written (read-only, or a full disk); methods that write fail.
        """
        queue = await cls.connect(db, home=home, settings=settings, read_only=read_only)
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
        read_only: bool = False,
    ) -> Queue:
        """Like ``open`` without the context manager; call ``close()`` when done."""
        home_dir = resolve_home(home)
        url = default_db_url(db, home_dir)
        path = sqlite_path(url)
        if path is not None and path.parent == home_dir and not (read_only and path.is_file()):
            ensure_home(home_dir)
        if settings is None:
            settings = load_settings(home_dir) if home_dir.is_dir() else Settings()
        return cls(await open_store(url, read_only=read_only), settings)

    async def close(self) -> None:
        await self.store.close()

    # -- enqueue ------------------------------------------------------------
    def _new_job(self, spec: JobSpec, job_id: str | None = None) -> NewJob:
        return new_job(
            spec,
            job_id or _new_ids(1)[0],
            self.settings.max_retries,
            self.settings.retry_on,
        )

    async def enqueue(self, command: SpecLike, **fields: Any) -> Job:
        """Add one job: a command string with fields as keywords, a JobSpec or a mapping.

        With a ``unique_key`` a live job holds, nothing is stored and that job comes
        back (``on_conflict`` "error": UniqueConflict); ``submit`` says which happened.
        """
        return (await self.submit(command, **fields)).job

    async def submit(self, command: SpecLike, **fields: Any) -> EnqueueResult:
        """``enqueue``, telling whether the job was created or a live one held its key."""
        if isinstance(command, str):
            spec = parse_spec({"command": command, **fields})
        elif fields:
            raise InvalidInput("pass fields either as keywords or inside the spec, not both")
        else:
            spec = _as_spec(command)
        new = self._new_job(spec)
        holder = (await self.store.enqueue([new])).get(new.id)
        return EnqueueResult(await self.store.get(holder or new.id), holder is None)

    async def enqueue_many(self, specs: Iterable[SpecLike]) -> list[str]:
        """Add many jobs in one transaction, all or none; returns their ids in order.

        A job may run ``after`` jobs that exist already or come earlier in the batch.
        A job whose unique key is live is not stored: its place holds the id of the job
        that holds the key (``submit_many`` tells them apart).
        """
        return [done.id for done in await self.submit_many(specs)]

    async def submit_many(self, specs: Iterable[SpecLike]) -> list[Enqueued]:
        """``enqueue_many``, telling for each job whether it was created."""
        jobs = self._new_jobs(specs)
        skipped = await self.store.enqueue(jobs) if jobs else {}
        return [_enqueued(job.id, skipped) for job in jobs]

    async def enqueue_all(
        self,
        specs: Iterable[SpecLike],
        *,
        on_ids: Callable[[list[str]], None] | None = None,
        on_existing: Callable[[int, str], None] | None = None,
        where: Callable[[int], str] | None = None,
        chunk: int = BULK_CHUNK,
    ) -> int:
        """Add jobs from an input of any size in one transaction, all or none; how many
        were stored.

        Unlike ``enqueue_many`` it holds one chunk of ``chunk`` jobs at a time, not the
        input: ``specs`` may be a generator over millions of lines, and whatever it
        raises rolls everything back. ``on_ids`` is given each chunk's ids in order once
        the chunk is in, before the transaction commits (keep them until it does). A job
        may run ``after`` jobs that exist already or come earlier in the input. A job
        whose unique key is live is not stored (as in ``enqueue_many``): its id is the
        holder's, and ``on_existing`` hears its position (0-based) and that id.

        ``where`` names the job at a position of the input (0-based) for the error
        about it, such as ``line 12``; it is asked only about the chunk last taken.
        """
        if chunk < 1:
            raise InvalidInput("chunk must be at least 1")
        source = iter(specs)
        taken = 0  # jobs in the chunks before ``current``
        current: list[NewJob] = []
        skipped: dict[str, str] = {}  # the jobs of ``current`` left out
        placed: list[QueuectlError] = []  # the error of a chunk's own check, placed already

        def report() -> None:
            """Tell the callers about ``current``, which the store has taken in."""
            if not current:
                return
            if on_existing is not None:
                for n, job in enumerate(current):
                    if job.id in skipped:
                        on_existing(taken + n, skipped[job.id])
            if on_ids is not None:
                on_ids([skipped.get(job.id, job.id) for job in current])
            skipped.clear()

        def chunks() -> Iterator[list[NewJob]]:
            nonlocal taken, current
            while True:
                report()
                taken, current = taken + len(current), []
                current = self._fresh_jobs(islice(source, chunk))
                if not current:
                    return
                problem = _batch_problem(current)
                if problem is not None:
                    placed.append(_at(problem[1], where, taken + problem[0]))
                    raise placed[0]
                yield current

        try:
            return await self.store.enqueue_chunks(chunks(), skipped.update)
        except (DuplicateJob, JobNotFound, UniqueConflict) as exc:
            if exc in placed:
                raise
            position = _position(exc, current)
            raise _at(exc, where, None if position is None else taken + position) from None

    def _fresh_jobs(self, specs: Iterable[SpecLike]) -> list[NewJob]:
        """The jobs of ``specs``, those without an id given one (from one system call)."""
        chosen = [_as_spec(spec) for spec in specs]
        fresh = iter(_new_ids(sum(1 for spec in chosen if spec.id is None)))
        return [
            self._new_job(spec, None if spec.id is not None else next(fresh)) for spec in chosen
        ]

    def _new_jobs(self, specs: Iterable[SpecLike]) -> list[NewJob]:
        """One batch's jobs, ids chosen; refused when an id repeats or an ``after`` names a
        job later in the batch."""
        jobs = self._fresh_jobs(specs)
        problem = _batch_problem(jobs)
        if problem is not None:
            raise problem[1]
        return jobs

    # -- read ---------------------------------------------------------------
    async def get(self, job_id: str) -> Job:
        return await self.store.get(job_id)

    def jobs(
        self,
        *,
        state: JobState | str | None = None,
        queue: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> AsyncIterator[Job]:
        """Jobs oldest first (``newest``: newest first), streamed page by page."""
        return self.store.list_jobs(state=_state(state), queue=queue, limit=limit, newest=newest)

    async def counts(self, *, queue: str | None = None) -> dict[JobState, int]:
        """Jobs per state (all states, zeros included), in one queue or in all."""
        per_queue = await self.store.count_jobs()
        totals = dict.fromkeys(JobState, 0)
        for name, counts in per_queue.items():
            if queue is None or name == queue:
                for state, n in counts.items():
                    totals[state] += n
        return totals

    async def queue_counts(self) -> dict[str, dict[JobState, int]]:
        """Jobs per state in each queue that has any."""
        return dict(sorted((await self.store.count_jobs()).items()))

    async def finished_totals(self) -> dict[tuple[str, str], int]:
        """Outcomes ever recorded per (queue, outcome): "completed", "failed" (an attempt
        failed, a retry is scheduled), "dead" or "cancelled". They only grow: purge,
        retention and ``remove`` leave them (see ``Store.finished_totals``)."""
        return dict(sorted((await self.store.finished_totals()).items()))

    # -- queues -------------------------------------------------------------
    async def pause_queues(self, names: Iterable[str]) -> None:
        """Pause queues, whether or not they have jobs yet: no runner on any host claims
        their jobs until they are resumed; jobs already running finish, and new jobs
        are still accepted. The pause is stored, so runners started later honour it."""
        await self.store.set_paused(_queue_names(names), True)

    async def resume_queues(self, names: Iterable[str]) -> None:
        """Let runners claim from these queues again (and wake them to do so)."""
        await self.store.set_paused(_queue_names(names), False)

    async def limit_queue(self, name: str, cap: int | None) -> None:
        """Cap the number of ``name``'s jobs processing at once, across every runner and
        host (None: no cap). Runners fill their other slots from other queues."""
        validate_queue(name)
        if cap is not None:
            problem = int_problem(cap, 1, MAX_QUEUE_CAP)
            if problem:
                raise InvalidInput(f"queue limit {problem}")
        await self.store.set_cap(name, cap)

    async def job_ids(self, prefix: str = "", *, limit: int = 100) -> list[str]:
        """Up to ``limit`` job ids starting with ``prefix``, in id order (an index range:
        as quick at a million jobs as at ten, for shell completion)."""
        return await self.store.ids_from(prefix, max(0, min(limit, 10_000)))

    async def queue_names(self) -> list[str]:
        """Every queue that has jobs or a setting, sorted (kept counts, no job read)."""
        counts = await self.store.count_jobs()
        return sorted(counts.keys() | (await self.store.queue_settings()).keys())

    async def paused_queues(self) -> list[str]:
        """The names of the paused queues, sorted."""
        return sorted(name for name, s in (await self.store.queue_settings()).items() if s.paused)

    async def queue_overview(self) -> list[QueueInfo]:
        """Every queue that has jobs or a setting, by name: its counts per state (kept
        counts), whether it is paused, its cap, and how long its oldest runnable job
        has been due (one index lookup per queue)."""
        counts = await self.store.count_jobs()
        settings = await self.store.queue_settings()
        names = sorted(counts.keys() | settings.keys())
        oldest = await self.store.oldest_runnable(names)
        now = self.store.now()
        overview = []
        for name in names:
            setting = settings.get(name)
            due = oldest.get(name)
            overview.append(
                QueueInfo(
                    name=name,
                    counts=counts.get(name) or dict.fromkeys(JobState, 0),
                    paused=setting is not None and setting.paused,
                    cap=None if setting is None else setting.cap,
                    oldest_runnable_age=None if due is None or due > now else now - due,
                )
            )
        return overview

    async def purge(
        self,
        *,
        states: Iterable[JobState | str] = FINISHED_STATES,
        older_than: float | None = None,
        queue: str | None = None,
        batch: int = 500,
    ) -> int:
        """Delete finished jobs (never pending or processing ones); returns how many.

        Deletes in small batches so that runners are never held up for long.
        """
        if older_than is not None:
            _check_seconds("older_than", older_than)
        chosen = frozenset(s for s in map(_state, states) if s is not None)
        unfinished = chosen - FINISHED_STATES
        if unfinished:
            names = ", ".join(sorted(s.value for s in unfinished))
            raise InvalidInput(f"purge only deletes finished jobs, not {names} ones")
        total = 0
        while True:
            deleted = await self.store.purge(
                states=chosen, older_than=older_than, queue=queue, limit=batch
            )
            total += deleted
            if deleted < batch:
                return total

    def dead(self, *, limit: int | None = None) -> AsyncIterator[Job]:
        """The dead letter queue."""
        return self.jobs(state=JobState.DEAD, limit=limit)

    async def retry(self, job_id: str) -> Job:
        """Give a dead job a fresh start: pending now, attempts reset to 0."""
        return await self.store.retry_dead(job_id)

    async def requeue(self, job_ids: Iterable[str]) -> dict[str, RequeueResult]:
        """Run finished jobs (completed, dead or cancelled) again; see ``Store.requeue``."""
        return await self.store.requeue(list(dict.fromkeys(job_ids)))

    async def remove(self, job_ids: Iterable[str]) -> dict[str, RemoveResult]:
        """Delete finished jobs with their output and history; see ``Store.remove``."""
        return await self.store.remove(list(dict.fromkeys(job_ids)))

    # -- inspection and control -----------------------------------------------
    async def attempts(self, job_id: str) -> list[Attempt]:
        """The job's attempt history, oldest first."""
        return await self.store.attempts(job_id)

    async def output(self, job_id: str, *, attempt: int | None = None) -> AttemptOutput:
        """What an attempt (the last by default) printed, by stream: 1 stdout, 2 stderr.

        ``.stdout`` and ``.stderr`` give each as text, with a mark where bytes were not
        kept (over ``output-limit``, or lost when the store could not take them).
        """
        from queuectl.api.watching import pick_attempt

        chosen = pick_attempt(await self.store.attempts(job_id), attempt)
        if chosen is None:
            return AttemptOutput()
        return AttemptOutput(await self.store.read_output(job_id, chosen.token))

    def follow(
        self, job_id: str, *, attempt: int | None = None, poll: float = 0.25
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Yield ``(stream, bytes)`` of an attempt as it is written, until it ends."""
        from queuectl.api.watching import follow_output

        return follow_output(self.store, job_id, attempt, poll=poll)

    async def wait(self, job_ids: Iterable[str], *, within: float | None = None) -> list[Job]:
        """Block until every job is completed, dead or cancelled.

        Raises WaitTimeout (naming the unfinished ones) after ``within`` seconds. An id
        given twice counts once: the jobs come back in the order first given.
        """
        from queuectl.api.watching import wait_for

        if within is not None:
            _check_seconds("within", within)
        return await wait_for(self.store, list(dict.fromkeys(job_ids)), within)

    async def cancel(self, job_ids: Iterable[str]) -> dict[str, CancelResult]:
        """Cancel jobs; see ``Store.cancel``. Running ones end once their runner acts."""
        return await self.store.cancel(list(job_ids))

    async def throughput(self, window: float = 60.0) -> float:
        """Jobs finished per second over the last ``window`` seconds."""
        return await self.store.finished_since(window) / window

    async def outcomes_by_minute(self, minutes: int = 60) -> list[tuple[int, dict[str, int]]]:
        """Outcomes that runners recorded in each of the last ``minutes`` minutes (up
        to ``domain.minutes.KEEP``), oldest minute first: (minute start in seconds since
        the epoch, count per outcome of ``OUTCOMES``, zeros too). Failed counts the
        attempts that failed and will be retried. Trails the runners by up to a second
        (they write their counts once a second, see ``Store.record_observations``)."""
        if not 1 <= minutes <= KEEP:
            raise InvalidInput(f"minutes must be from 1 to {KEEP}, not {minutes}")
        last = floor(self.store.now())
        since = last - 60 * (minutes - 1)
        counts = await self.store.outcomes_by_minute(since)
        return [
            (minute, {name: counts.get((minute, name), 0) for name in OUTCOMES})
            for minute in range(since, last + 1, 60)
        ]

    async def browse(
        self,
        *,
        state: JobState | str | None = None,
        queue: str | None = None,
        text: str | None = None,
        after: str | None = None,
        limit: int = 50,
        newest: bool = True,
        scan: int | None = None,
    ) -> FoundJobs:
        """One page of jobs for a browser, and where the next starts: newest first (or
        oldest), after the job ``after`` (a keyset: a deep page costs what the first
        does), filtered by state, queue and ``text`` found in the id or the command.
        ``scan`` bounds how many jobs a text search reads for the page (None: no bound);
        it may then find fewer than ``limit``, with a next page to search on from."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput(f"limit must be from 1 to 10000, not {limit}")
        if scan is not None and not 1 <= scan <= MAX_COUNT:
            raise InvalidInput(f"scan must be from 1 to {MAX_COUNT}, not {scan}")
        page = JobPage(_state(state), queue, text or None, after, limit, newest, scan)
        return await self.store.browse_jobs(page)

    # -- schedules ----------------------------------------------------------
    async def schedule(
        self,
        name: str,
        cron: str,
        job: SpecLike,
        *,
        timezone: str = "UTC",
        catch_up: str = "latest",
        no_overlap: bool = False,
        replace: bool = False,
        **fields: Any,
    ) -> Schedule:
        """Make ``job`` (a command with fields as keywords, a JobSpec, or enqueue's JSON
        object) at every tick of ``cron`` in ``timezone``; the runners fire it.

        ``catch_up``: what happens to ticks missed while no runner ran: ``none``,
        ``latest`` (one job for the most recent) or ``all`` (capped at
        ``MAX_CATCH_UP``). ``no_overlap``: skip a tick while the last job is unfinished.
        ``replace``: update an existing schedule, keeping its fire history (else
        DuplicateSchedule).
        """
        from queuectl.api.scheduling import schedule_spec

        spec = schedule_spec(
            name,
            cron,
            job,
            timezone=timezone,
            catch_up=catch_up,
            no_overlap=no_overlap,
            fields=fields,
        )
        return await self.save_schedule(spec, replace=replace)

    async def save_schedule(self, spec: ScheduleSpec, *, replace: bool = False) -> Schedule:
        """``schedule`` for a ScheduleSpec validated already."""
        from queuectl.api.scheduling import new_schedule

        await self.store.save_schedule(new_schedule(spec), replace=replace)
        return await self.store.get_schedule(spec.name)

    async def schedules(self) -> list[Schedule]:
        """Every schedule, by name (``Schedule.next_at`` gives its next tick)."""
        return await self.store.list_schedules()

    async def get_schedule(self, name: str) -> Schedule:
        """One schedule, or ScheduleNotFound."""
        return await self.store.get_schedule(name)

    async def schedule_history(self, name: str, *, limit: int = 20) -> list[Fire]:
        """A schedule's newest fires and skips, newest first."""
        return await self.store.schedule_fires(name, limit)

    async def remove_schedule(self, name: str) -> None:
        """Delete a schedule and its fire history; the jobs it made stay."""
        await self.store.remove_schedule(name)

    async def pause_schedule(self, name: str) -> None:
        """Stop firing until ``resume_schedule``; the ticks in between never fire."""
        await self.store.pause_schedule(name, True)

    async def resume_schedule(self, name: str) -> None:
        await self.store.pause_schedule(name, False)

    async def run_schedule(self, name: str) -> Job:
        """Make the schedule's job now, once, outside its calendar (even while paused)."""
        from queuectl.runner.firing import job_from_template

        schedule = await self.store.get_schedule(name)
        job = job_from_template(
            schedule.template(), self.settings.max_retries, self.settings.retry_on
        )
        await self.store.run_schedule(name, job)
        return await self.store.get(job.id)

    # -- runners ------------------------------------------------------------
    def runner(
        self,
        *,
        concurrency: int = 1,
        burst: bool = False,
        execute: Execute | None = None,
        queues: Iterable[str] = (),
        on_event: Callable[[JobEvent], None] | None = None,
    ) -> Runner:
        """A Runner on this queue; ``await runner.run()`` in your loop, ``runner.stop()``.

        ``queues``: consume only these named queues (all of them when empty).
        """
        from queuectl.runner.lifecycle import Runner

        return Runner(
            self.store,
            self.settings,
            concurrency=concurrency,
            burst=burst,
            execute=execute,
            queues=tuple(queues),
            on_event=on_event,
        )

    async def runners(self) -> list[RunnerInfo]:
        """The live runners of this store (dead entries are ignored)."""
        from queuectl.runner.registry import live_runners

        return await live_runners(self.store, self.settings.lease_seconds)

    async def runner_loads(self) -> list[tuple[RunnerInfo, int]]:
        """The live runners, each with how many of its slots hold a job now."""
        return [(r, len(await self.store.claims_of(r.id))) for r in await self.runners()]

    async def on_wake(self, callback: Callable[[str], None]) -> Subscription:
        """Call ``callback`` with each wake-up the store announces ("jobs": new or
        re-runnable work; "control": a cancel or stop request) until the returned
        subscription is closed. Finishes are not announced: watchers read as well."""
        return await self.store.subscribe(callback)

    async def stop_runners(
        self,
        *,
        drain_timeout: float | None = None,
        hard: bool = False,
        poll: float = 0.05,
        all_hosts: bool = False,
    ) -> list[RunnerInfo]:
        """Ask this host's runners (or, with ``all_hosts``, every host's) to stop.

        See ``queuectl.runner.stopping.stop_runners``; StopTimeout after ``drain_timeout``.
        """
        from queuectl.runner.stopping import stop_runners

        return await stop_runners(
            self.store,
            self.settings.lease_seconds,
            drain_timeout=drain_timeout,
            hard=hard,
            poll=poll,
            all_hosts=all_hosts,
        )


def _queue_names(names: Iterable[str]) -> list[str]:
    """Valid queue names, each once (InvalidInput for the first bad one, or for none)."""
    if isinstance(names, str):
        names = [names]
    checked = list(dict.fromkeys(validate_queue(name) for name in names))
    if not checked:
        raise InvalidInput("name at least one queue")
    return checked


def _new_ids(count: int) -> list[str]:
    """``count`` random 128-bit ids in hex, like uuid4().hex, from one system call."""
    data = os.urandom(16 * count).hex()
    return [data[i : i + 32] for i in range(0, 32 * count, 32)]


def _check_seconds(name: str, value: float) -> None:
    from queuectl.domain.limits import duration_problem

    problem = duration_problem(value)
    if problem is not None:
        raise InvalidInput(f"{name!r} {problem}, not {value!r}")


def _batch_problem(jobs: list[NewJob]) -> tuple[int, QueuectlError] | None:
    """The first job of a batch that repeats an id or runs ``after`` a later one: its
    index and the error; None when the batch is sound."""
    index: dict[str, int] = {}
    for n, job in enumerate(jobs):
        if job.id in index:
            return n, DuplicateJob(job.id, "it appears twice in this batch")
        index[job.id] = n
    for n, job in enumerate(jobs):
        later = [dep for dep in job.after if index.get(dep, -1) > n]
        if later:
            return n, InvalidInput(
                f"job {job.id!r} runs after {later[0]!r}, which comes later in the batch"
            )
    return None


def _position(exc: DuplicateJob | JobNotFound | UniqueConflict, jobs: list[NewJob]) -> int | None:
    """Which job of a chunk the store refused: the one with the id, the first to run
    after the missing one, or the one whose unique key a live job holds."""
    for n, job in enumerate(jobs):
        if job.id == exc.job_id if not isinstance(exc, JobNotFound) else exc.job_id in job.after:
            return n
    return None


def _enqueued(job_id: str, skipped: Mapping[str, str]) -> Enqueued:
    holder = skipped.get(job_id)
    return Enqueued(job_id) if holder is None else Enqueued(holder, created=False)


def _at(
    exc: QueuectlError, where: Callable[[int], str] | None, position: int | None
) -> QueuectlError:
    """``exc`` with the place of the job it is about in front of its message."""
    if where is not None and position is not None:
        exc.args = (f"{where(position)}: {exc}",)
    return exc


def _state(state: JobState | str | None) -> JobState | None:
    if state is None or isinstance(state, JobState):
        return state
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidInput(f"unknown state {state!r} (one of: {names})") from None
