"""The Store contract: the few atomic operations every backend provides.

Retry decisions and state rules live above this line (``domain/retry.py``, ``api/``,
``runner/``); a store persists what it is told, atomically, and enforces only what
must be checked inside one transaction: unique ids, claim exclusivity, fencing tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Literal, NamedTuple, Protocol

from queuectl.domain.errors import DuplicateJob, UniqueConflict
from queuectl.domain.histograms import Histogram
from queuectl.domain.models import (
    FINISHED_STATES,
    NO_ENV,
    RUNNABLE_STATES,
    Attempt,
    Job,
    JobOutput,
    JobState,
    RunnerInfo,
    WakeKind,
)
from queuectl.domain.schedule import Fire, FireResult, Schedule
from queuectl.domain.spec import JobSpec

__all__ = [
    "FIRE_HISTORY",
    "OUTCOMES",
    "CancelResult",
    "Finish",
    "FoundJobs",
    "Heartbeat",
    "JobPage",
    "LeftOut",
    "NewJob",
    "NewSchedule",
    "OutputWrite",
    "QueueSetting",
    "RemoveResult",
    "RequeueResult",
    "Store",
    "Subscription",
    "WakeKind",
    "claim_by_exchange",
    "duplicate_in_batch",
    "finish_by_exchange",
    "keyed",
    "left_out",
    "new_job",
    "requeue_refused",
    "requeued",
    "runnable_at_once",
    "taken",
]

#: What ``Store.enqueue`` left out: the id of each job not stored, because a live job
#: held its unique key, and the id of that live job.
LeftOut = dict[str, str]

#: What ``cancel`` did to one job.
CancelResult = Literal["cancelled", "requested", "finished", "missing"]
#: What ``requeue`` did to one job: "unfinished" (pending, failed or processing),
#: "blocked" (it runs after a job that is dead or cancelled) and "taken" (another job
#: holds its unique key now) were left alone.
RequeueResult = Literal["requeued", "unfinished", "blocked", "taken", "missing"]
#: What ``remove`` did to one job ("unfinished": left alone).
RemoveResult = Literal["removed", "unfinished", "missing"]
#: The outcomes ``finished_totals`` counts: the states an attempt or a cancel ends in.
#: "failed" is an attempt that failed with a retry scheduled; a job whose last attempt
#: fails counts as "dead" only.
OUTCOMES = ("completed", "failed", "dead", "cancelled")
#: Entries of fire history kept per schedule (the newest). The schedule's cursor, not
#: this history, is what stops an old tick from firing again.
FIRE_HISTORY = 1000


class NewJob(NamedTuple):
    """A job ready to insert: id and defaults resolved by the caller."""

    id: str
    command: str
    max_retries: int
    timeout: float | None = None
    priority: int = 0
    queue: str = "default"
    #: Seconds from now until the job becomes claimable (when ``run_at`` is None).
    delay: float = 0.0
    #: When the job becomes claimable, in seconds since the epoch.
    run_at: float | None = None
    #: Ids of jobs (existing, or earlier in the same batch) that must complete first.
    after: tuple[str, ...] = ()
    backoff_base: float | None = None
    backoff_max: float | None = None
    backoff_jitter: str | None = None
    cwd: str | None = None
    env: Mapping[str, str] = NO_ENV
    retry_on: tuple[int, ...] | None = None
    #: At most one live job per key; with ``on_conflict`` "error" a live key fails the
    #: whole enqueue, with "ignore" this job is left out (see ``Store.enqueue``).
    unique_key: str | None = None
    on_conflict: str = "ignore"


class QueueSetting(NamedTuple):
    """What is set on one queue: whether it is paused, and its cap (the most of its jobs
    in ``processing`` at once, across every runner and host; None: no cap)."""

    paused: bool = False
    cap: int | None = None


class JobPage(NamedTuple):
    """Which page of jobs ``browse_jobs`` returns: newest first (or oldest), after the job
    with id ``after`` (from the start when None or gone), at most ``limit``, filtered by
    state, queue, and ``text`` found as is in the id or the command."""

    state: JobState | None = None
    queue: str | None = None
    text: str | None = None
    after: str | None = None
    limit: int = 50
    newest: bool = True
    #: A text search reads at most this many jobs (of those the other filters leave)
    #: for one page, so that its cost is bounded; None: as many as it takes.
    scan: int | None = None


class FoundJobs(NamedTuple):
    """A page of ``browse_jobs``, and the ``after`` where the next one starts (None when
    nothing is left): its last job, or the last job a bounded search read."""

    jobs: list[Job]
    next: str | None


def new_job(
    spec: JobSpec,
    job_id: str,
    default_retries: int,
    default_retry_on: tuple[int, ...] | None = None,
) -> NewJob:
    """The job a spec asks for, with ``job_id`` unless it names its own and the
    configured retries and retry-on codes unless it gives its own."""
    return NewJob(
        id=spec.id or job_id,
        command=spec.command,
        max_retries=default_retries if spec.max_retries is None else spec.max_retries,
        timeout=spec.timeout,
        priority=spec.priority,
        queue=spec.queue,
        delay=spec.delay or 0.0,
        run_at=None if spec.run_at is None else spec.run_at.timestamp(),
        after=tuple(dict.fromkeys(spec.after)),  # a repeat waits once
        backoff_base=spec.backoff_base,
        backoff_max=spec.backoff_max,
        backoff_jitter=spec.backoff_jitter,
        cwd=spec.cwd,
        env=spec.env or NO_ENV,
        retry_on=default_retry_on if spec.retry_on is None else spec.retry_on,
        unique_key=spec.unique_key,
        on_conflict=spec.on_conflict,
    )


class NewSchedule(NamedTuple):
    """A schedule to store: validated by ``ScheduleSpec``, its template as JSON."""

    name: str
    cron: str
    timezone: str
    job: str
    catch_up: str = "latest"
    no_overlap: bool = False


class Finish(NamedTuple):
    """The end of one claim: persist ``state`` if ``token`` still holds the job."""

    job_id: str
    token: int
    state: JobState
    #: Seconds from now until the job may be claimed again.
    delay: float = 0.0
    #: False gives the attempt back (it is not counted).
    counted: bool = True
    exit_code: int | None = None
    last_error: str | None = None
    #: Why the attempt ended and the signal that ended it, for the attempt history.
    reason: str = "exit"
    signal: int | None = None


class OutputWrite(NamedTuple):
    """New output of one stream of one attempt (the claim ``token`` names the attempt).

    ``head`` is appended to what is stored; ``tail`` replaces the stored tail; ``total``
    is every byte the stream produced so far. ``lost``, once set, says why some bytes
    could not be stored (the runner gave a write up): it stays on the stream.
    """

    job_id: str
    token: int
    stream: int
    head: bytes
    tail: bytes
    total: int
    lost: str | None = None


class Heartbeat(NamedTuple):
    #: Ids of the jobs this runner still holds (the others were taken over).
    held: frozenset[str]
    #: 0: keep going; 1: drain and stop; 2: stop hard (see ``Runner.stop``).
    stop_requested: int
    #: False when the registry lost the runner's entry (it must register again).
    registered: bool = True
    #: Held jobs that someone asked to cancel.
    cancel: frozenset[str] = frozenset()


def duplicate_in_batch(ids: Sequence[str]) -> DuplicateJob:
    """The error for a batch a unique index refused when no id existed before it.

    The batch then repeats an id: name the repeated one, not the first of the batch.
    """
    seen: set[str] = set()
    for job_id in ids:
        if job_id in seen:
            return DuplicateJob(job_id, "it appears twice in this batch")
        seen.add(job_id)
    return DuplicateJob(ids[0], "the store refused it as a duplicate")


def keyed(jobs: Sequence[NewJob]) -> list[str]:
    """The unique keys of a batch, each once (none for most batches)."""
    return list(dict.fromkeys(j.unique_key for j in jobs if j.unique_key is not None))


def left_out(jobs: Sequence[NewJob], live: Mapping[str, str]) -> tuple[LeftOut, list[NewJob]]:
    """Read after inserting ``jobs`` with live keys skipped, in the same transaction:
    ``live`` is each key's live holder now. Returns the jobs left out (id -> holder) and
    the keyed jobs with no holder at all, whose holder finished since the insert
    skipped them (insert those again).

    UniqueConflict for a job left out whose ``on_conflict`` is "error": the caller's
    transaction then rolls back, so a batch stays all or nothing. A job whose key's
    holder is itself went in (perhaps by an earlier try whose reply was lost).
    """
    skipped: LeftOut = {}
    again: list[NewJob] = []
    for job in jobs:
        if job.unique_key is None:
            continue
        holder = live.get(job.unique_key)
        if holder is None:
            again.append(job)
        elif holder != job.id:
            if job.on_conflict == "error":
                raise UniqueConflict(job.unique_key, holder, "queued already", job_id=job.id)
            skipped[job.id] = holder
    return skipped, again


def taken(key: str, holder: str, job_id: str) -> UniqueConflict:
    """The error for a finished job that cannot be live again: ``holder`` has its key."""
    return UniqueConflict(key, holder, f"job {job_id!r} cannot run again until that one ends")


def requeue_refused(state: JobState | None) -> RequeueResult:
    """Why ``requeue`` left a job alone, from its state (None: there is no such job): a
    finished one was refused for its dependencies."""
    if state is None:
        return "missing"
    return "blocked" if state in FINISHED_STATES else "unfinished"


def requeued(finishes: Sequence[Finish], *, at_once: bool = False) -> bool:
    """Whether a batch of finishes puts a job back in the queue (``at_once``: runnable
    now, with no backoff): other runners should look, or the exchange claim again."""
    return any(f.state in RUNNABLE_STATES and (not at_once or f.delay <= 0) for f in finishes)


def runnable_at_once(finishes: Sequence[Finish], *, unblocked: bool) -> bool:
    """Whether an exchange's finishes made jobs claimable that its own claim could not
    see (one statement sees one snapshot): waiters ``unblocked`` by a completed job, or
    a job back in the queue with no backoff. The exchange then claims again."""
    return unblocked or requeued(finishes, at_once=True)


class Subscription(Protocol):
    """An open wake-up channel; ``address`` is recorded in the runner registry."""

    @property
    def address(self) -> str | None: ...

    async def close(self) -> None: ...


class Store(Protocol):
    def now(self) -> float:
        """The store's clock, in seconds since the epoch."""
        ...

    async def close(self) -> None: ...

    # -- jobs ---------------------------------------------------------------
    async def enqueue(self, jobs: Sequence[NewJob]) -> LeftOut:
        """Insert all of ``jobs`` or none, but for those whose unique key is live.

        A job whose ``unique_key`` a live job (pending, processing or failed) holds,
        stored before or earlier in the batch, is left out when its ``on_conflict`` is
        "ignore" (the answer maps its id to the holder's), and fails the whole batch
        with UniqueConflict when it is "error". The store's partial unique index keeps
        this true under concurrent enqueuers. DuplicateJob names an id that exists;
        JobNotFound a job named in ``after`` that does not (a job left out does not
        exist); InvalidState one in ``after`` that is dead or cancelled.
        """
        ...

    async def enqueue_chunks(
        self,
        chunks: Iterable[Sequence[NewJob]],
        on_left_out: Callable[[LeftOut], None] | None = None,
    ) -> int:
        """Insert every job of ``chunks`` in one transaction, all or none; their count.

        Unique keys as in ``enqueue``: ``on_left_out`` hears of each chunk's jobs left
        out, once the chunk is in (before the commit), when there are any.

        Chunks are taken one at a time, so an input of any size runs in the memory of
        one chunk. A job's ``after`` may name jobs of earlier chunks. Errors are those
        of ``enqueue``, and whatever the iterable raises: either rolls everything back.
        """
        ...

    async def get(self, job_id: str) -> Job:
        """The job with this id, or JobNotFound."""
        ...

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        limit: int | None = None,
        newest: bool = False,
    ) -> AsyncIterator[Job]:
        """Jobs oldest first (``newest``: newest first), fetched in pages so that memory
        stays flat; each page is a range of an index, whatever the number of jobs."""
        ...

    async def count_jobs(self) -> dict[str, dict[JobState, int]]:
        """Jobs per queue and state (every state present in each queue, zeros included).

        Kept up to date by the statements that change jobs, so that a call costs the
        same at a million jobs as at none (``status`` reads it on every refresh).
        """
        ...

    async def finished_totals(self) -> dict[tuple[str, str], int]:
        """Outcomes ever recorded per (queue, outcome), ``OUTCOMES`` (absent: none).

        Counted in the transaction that records each outcome, and never lowered:
        purge, retention and ``remove`` leave them, so they suit monotonic counters.
        A job run again (``requeue``, ``retry_dead``) counts each of its outcomes.
        """
        ...

    async def histograms(self) -> dict[tuple[str, str], Histogram]:
        """The latency histograms per (kind, queue), as ``record_observations`` added
        them up ("duration", "wait"; see ``domain.histograms``). Absent: nothing
        recorded yet. Never lowered: purge, retention and ``remove`` leave them."""
        ...

    async def record_observations(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        """Add to the histograms and the per-minute outcomes, in one statement:
        ``(kind, queue, bucket name or SUM)`` -> how many observations (for SUM, how
        many microseconds), or ``(domain.minutes.MINUTE, queue, minute name)`` -> how
        many outcomes.

        Runners batch their observations and call this now and then, so the claim and
        finish statements carry no histogram work (see docs/architecture.md).
        """
        ...

    async def next_run_at(
        self, *, states: frozenset[JobState], queues: Sequence[str] | None = None
    ) -> float | None:
        """The earliest ``run_at`` among unblocked, unclaimed jobs in ``states``."""
        ...

    async def claim(
        self,
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
    ) -> list[Job]:
        """Atomically take up to ``limit`` runnable jobs, highest priority then oldest.

        Runnable: pending or failed, ``run_at`` passed, no unfinished dependency, in
        one of ``queues`` (any queue when None). Each claimed job is ``processing``,
        its attempts and token incremented, owned by ``runner_id`` until
        ``now + lease_seconds``.
        """
        ...

    async def finish(self, finishes: Sequence[Finish]) -> set[str]:
        """Persist outcomes in one transaction; returns the ids whose token still held."""
        ...

    async def exchange(
        self,
        finishes: Sequence[Finish],
        runner_id: str,
        limit: int,
        lease_seconds: float,
        queues: Sequence[str] | None = None,
        *,
        outputs: Sequence[OutputWrite] = (),
    ) -> tuple[set[str], list[Job]]:
        """``outputs``, then ``finish``, then ``claim``, in one transaction: a runner's
        usual round trip (its jobs' last output is durable with their outcomes).

        One commit instead of two (SQLite and PostgreSQL do both in one statement).
        Jobs that the finishes make runnable at once (their dependency completed, or
        they were given back) are claimed too, by a second statement when the first
        could not see them, and other runners are woken for them. ``limit`` 0 claims
        nothing.
        """
        ...

    async def retry_dead(self, job_id: str) -> Job:
        """Move a dead job back to pending with attempts reset.

        JobNotFound if absent; InvalidState if it is not dead; UniqueConflict if another
        job holds its unique key now.
        """
        ...

    async def requeue(self, job_ids: Sequence[str]) -> dict[str, RequeueResult]:
        """Move finished jobs (completed, dead or cancelled) back to pending, runnable
        now, with attempts reset; in the order given, in one transaction. Their attempt
        history stays. A job waits again for its dependencies not completed; one whose
        dependency is dead or cancelled is left alone ("blocked"). Running a completed
        job again makes the jobs waiting on it wait for it again.
        """
        ...

    async def remove(self, job_ids: Sequence[str]) -> dict[str, RemoveResult]:
        """Delete finished jobs with their output and history, as ``purge`` does; leave
        unfinished ones alone. ``finished_totals`` keeps counting them."""
        ...

    async def purge(
        self,
        *,
        states: frozenset[JobState],
        older_than: float | None = None,
        queue: str | None = None,
        limit: int = 500,
    ) -> int:
        """Delete up to ``limit`` finished jobs in ``states`` that finished more than
        ``older_than`` seconds ago; returns how many. Never touches unfinished jobs.
        """
        ...

    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        """Cancel jobs: unclaimed ones at once (and their waiters), running ones by
        flagging them for their runner (``Heartbeat.cancel``), finished ones not at all.
        """
        ...

    # -- queue settings -------------------------------------------------------
    async def set_paused(self, names: Sequence[str], paused: bool) -> None:
        """Pause or resume queues, whether or not they have jobs; durable, and honoured by
        every claim that starts after it (claims skip paused queues)."""
        ...

    async def set_cap(self, name: str, cap: int | None) -> None:
        """Cap a queue (None: no cap). Claims never take a job of a capped queue while
        ``cap`` of its jobs are processing, however many runners claim at once."""
        ...

    async def queue_settings(self) -> dict[str, QueueSetting]:
        """The queues that are paused or capped, by name (any other has no setting)."""
        ...

    async def ids_from(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` job ids that start with ``prefix``, in id order, read through
        the id index from ``prefix`` on (shell completion)."""
        ...

    async def oldest_runnable(self, queues: Sequence[str]) -> dict[str, float]:
        """The earliest ``run_at`` (seconds since the epoch) of the unblocked, unclaimed
        jobs of each of ``queues`` that has any, read through an index."""
        ...

    # -- output and history ---------------------------------------------------
    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        """Store new output of running attempts, in one transaction."""
        ...

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        """The stored output of one attempt, by stream (1 stdout, 2 stderr)."""
        ...

    async def attempts(self, job_id: str) -> list[Attempt]:
        """Every attempt of a job, oldest first (JobNotFound if there is no such job)."""
        ...

    async def finished_since(self, seconds: float) -> int:
        """How many jobs finished (completed, dead or cancelled) in the last ``seconds``."""
        ...

    async def outcomes_by_minute(self, since: int) -> dict[tuple[int, str], int]:
        """Outcomes that runners recorded per (minute, outcome), all queues together,
        from the minute ``since`` on (seconds since the epoch, a multiple of 60).

        Read from the minute tallies that ``record_observations`` adds to (kind
        ``domain.minutes.MINUTE``), never from the jobs: the cost is that of the kept
        minutes, not of the jobs finished in them. Minutes older than
        ``domain.minutes.KEEP`` are pruned by ``maintain``.
        """
        ...

    async def browse_jobs(self, page: JobPage) -> FoundJobs:
        """One keyset page of jobs (see JobPage): a deep page costs what the first does."""
        ...

    async def expired_claims(self) -> list[Job]:
        """Processing jobs whose lease ran out."""
        ...

    async def claims_of(self, runner_id: str) -> list[Job]:
        """Processing jobs held by one runner."""
        ...

    # -- runners ------------------------------------------------------------
    async def register_runner(self, runner: RunnerInfo) -> None: ...

    async def unregister_runner(self, runner_id: str) -> None: ...

    async def list_runners(self) -> list[RunnerInfo]: ...

    async def heartbeat(self, runner_id: str, lease_seconds: float) -> Heartbeat:
        """Renew the runner's registry entry and the leases of the jobs it holds.

        Raises StoreGone when the store is no longer the one at its address (a file
        deleted or replaced): the runner then stops.
        """
        ...

    async def request_stop(self, runner_ids: Sequence[str], *, hard: bool = False) -> None:
        """Flag runners to drain and stop (or stop hard), and wake them."""
        ...

    # -- wake-ups -----------------------------------------------------------
    async def subscribe(self, on_wake: Callable[[WakeKind], None]) -> Subscription:
        """Start receiving wake-ups (new jobs, control requests) from other processes."""
        ...

    async def notify(self, kind: WakeKind = "jobs") -> None:
        """Wake the runners that listen on this store."""
        ...

    # -- schedules ----------------------------------------------------------
    async def save_schedule(self, schedule: NewSchedule, *, replace: bool = False) -> None:
        """Add a schedule, its cursor now (only later ticks fire); DuplicateSchedule if
        the name is taken, unless ``replace``: then its definition changes and its fire
        history, counts, pause and cursor stay (moved up to now: no tick fires twice,
        and the new calendar's past ticks do not fire). Wakes the runners."""
        ...

    async def get_schedule(self, name: str) -> Schedule:
        """The schedule with this name, or ScheduleNotFound."""
        ...

    async def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        ...

    async def remove_schedule(self, name: str) -> None:
        """Delete a schedule and its fire history (its jobs stay); ScheduleNotFound."""
        ...

    async def pause_schedule(self, name: str, paused: bool) -> None:
        """Pause or resume; resuming moves the cursor up to now, so the ticks of the
        pause do not fire. ScheduleNotFound. Wakes the runners."""
        ...

    async def fire_schedule(
        self, name: str, at: float, job: NewJob, *, missed: int = 0
    ) -> FireResult:
        """Fire the tick ``at``: in one transaction, record it (unique on schedule and
        tick) with ``job`` inserted, and move the cursor to it (``missed``: ticks passed
        over before it). "taken" and nothing written when the tick is at or before the
        cursor, recorded already, or the schedule is paused or gone. It is "skipped"
        (recorded with its reason, no job) when, with no-overlap, the last job is still
        pending, failed or processing (reason ``overlap``), or when a live job holds
        ``job``'s unique key (reason ``unique``, the holder's id recorded as the job),
        whatever ``job.on_conflict`` says: a held key neither fails the tick nor
        leaves it due."""
        ...

    async def run_schedule(self, name: str, job: NewJob) -> None:
        """Insert ``job`` for the schedule now, outside its calendar, recorded in its
        history as a run (the cursor does not move). ScheduleNotFound; UniqueConflict
        (nothing written) when a live job holds ``job``'s unique key."""
        ...

    async def pass_over(self, name: str, upto: float, missed: int) -> None:
        """Move the cursor to ``upto`` (if behind it), counting ``missed`` ticks."""
        ...

    async def schedule_fires(self, name: str, limit: int = 20) -> list[Fire]:
        """The newest entries of a schedule's fire history, newest first."""
        ...

    # -- upkeep -------------------------------------------------------------
    async def maintain(self) -> None:
        """The store's own upkeep while a runner runs, until cancelled: prunes the
        minute tallies older than ``domain.minutes.KEEP`` (SQLite also checkpoints its
        log off the runner's commits; PostgreSQL folds the tallies' deltas)."""
        ...


async def claim_by_exchange(
    store: Store,
    runner_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None = None,
) -> list[Job]:
    """``Store.claim`` for a store whose one statement for claims and finishes is
    ``exchange``: an exchange with no finishes."""
    return (await store.exchange((), runner_id, limit, lease_seconds, queues))[1]


async def finish_by_exchange(store: Store, finishes: Sequence[Finish]) -> set[str]:
    """``Store.finish`` likewise: an exchange that claims nothing."""
    return (await store.exchange(finishes, "", 0, 0.0))[0]
