"""The shell core: one thread claims, runs and records a runner's shell jobs on SQLite.

Measured with ``benchmarks/reference.py``: a single thread doing the store's own work
per job (its statement, records, retry policy, job variables, captured pipes) spends
about 0.04 ms a job more than the least a durable runner does; the event loop's way of
doing the same (a task and futures per job, descriptors watched by the loop, hand-offs
to aiosqlite's and a spawning thread) spent about 0.45 ms more, which on two cores kept
dispatch near 0.6 of the spawn floor. So, where it can (the SQLite store, the default
shell executor, Linux pidfds and glibc), a runner gives its jobs to this thread. It owns a
``sqlite3`` connection and writes each round's outcomes and output and claims for the
free slots in one commit; it starts the commands (``vfork_spawn``, else
``libc_spawn``), and waits for their exits, output, timeouts and requests with one epoll
call.

The event loop keeps what is not per job: leases, recovery, retention, wake-ups and
stop requests. It hears of recorded outcomes in batches (events and counts) and tells
the thread to wake, stop, or end a job's command (cancel, lost, hard stop). Semantics
are the loop path's (``slots.py``, ``executor.py``): a command's group gets SIGTERM on
timeout or interruption, SIGKILL after the grace period, and SIGKILL once it exits;
output and outcome are durable before the job's event is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from queuectl.domain.errors import StoreError
from queuectl.domain.models import RUNNABLE_STATES, Job, JobState, Outcome
from queuectl.host.procinfo import group_alive, signal_group
from queuectl.host.wakeup import send_wakes
from queuectl.runner.capture import FLUSH_INTERVAL, OutputCapture
from queuectl.runner.events import JobEvent
from queuectl.runner.executor import STDERR_TAIL, Tail, exit_outcome, job_variables, runner_env
from queuectl.runner.outcomes import INTERRUPTIONS, finish_for
from queuectl.runner.process import Spawner
from queuectl.store.base import Finish, OutputWrite

if TYPE_CHECKING:
    from queuectl.runner.lifecycle import Runner
    from queuectl.store.sqlite.sync import SyncConnection

__all__ = ["ShellCore", "open_core"]

T = TypeVar("T")

log = logging.getLogger("queuectl.runner")

_READ = 65536
#: How long a command's pipes may stay open after it exits (a process that left its
#: group may hold them).
_DRAIN = 1.0
#: How often a group that got SIGTERM is looked at until it is gone.
_TERM_POLL = 0.02
#: How long the thread pauses after a failed store round trip.
_RETRY = 1.0
#: How long recorded outcomes wait to be handed to the loop together. A hand-off per
#: round woke the loop's thread hundreds of times a second, and each time it took the
#: GIL from this one; batched, the runner spent about 8 % less CPU a job (A/B, 5,000
#: ``true`` jobs at --count 4). The outcomes are durable before they wait.
_DELIVERY_DELAY = 0.01


def open_core(runner: Runner) -> ShellCore | None:
    """A shell core for ``runner``, or None where its store or system allows none."""
    if not (hasattr(os, "pidfd_open") and hasattr(os, "eventfd") and hasattr(select, "epoll")):
        return None
    from queuectl.store.sqlite.store import SQLiteStore

    store = runner.store
    if not isinstance(store, SQLiteStore):
        return None
    try:
        os.close(os.pidfd_open(os.getpid()))  # the call exists; is the kernel new enough?
    except OSError:
        return None
    spawner = Spawner()
    if not spawner.can_start_now():  # glibc's posix_spawn, which starts sessions GIL free
        spawner.close()
        return None
    from queuectl.store.sqlite.sync import SyncConnection

    try:
        conn = SyncConnection(store.path, store.now)
    except BaseException:
        spawner.close()
        raise
    return ShellCore(runner, conn, spawner)


@dataclass(slots=True, eq=False)
class _Run:
    """A claimed job whose command runs (or ends): the thread's own record of it."""

    job: Job
    started: float
    timeout: float | None
    capture: OutputCapture | None
    pid: int = 0
    pidfd: int = -1
    pipes: dict[int, int] = field(default_factory=dict)  # read end -> stream number
    tail: Tail = field(default_factory=lambda: Tail(STDERR_TAIL))
    deadline: float | None = None  # when its timeout ends it (monotonic)
    timed_out: bool = False
    #: Set when the runner itself ends the command: "shutdown", "cancel" or "lost".
    interrupted: str | None = None
    returncode: int | None = None
    ending: float | None = None  # SIGTERM sent: SIGKILL by this time
    killed: bool = False  # the end of a SIGTERM sequence: SIGKILL sent
    drain_until: float | None = None  # exited: its pipes may stay open until then
    failed: Outcome | None = None  # the command could not start


@dataclass(slots=True)
class _Done:
    finish: Finish
    event: JobEvent  # its state is the one the finish records


class ShellCore:
    """The dispatch thread of one Runner (see the module docstring)."""

    def __init__(self, runner: Runner, conn: SyncConnection, spawner: Spawner) -> None:
        self._runner = runner
        self._conn = conn
        self._spawner = spawner
        self._env = runner_env(runner.id)
        self._queues = list(runner.queues)
        self._epoll = select.epoll()
        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._epoll.register(self._wake_fd, select.EPOLLIN)
        self._wake_lock = threading.RLock()  # stop() may come from a signal handler
        self._closed = False
        self._undelivered: list[_Done] = []  # recorded, not yet handed to the loop
        self._deliver_at = 0.0
        #: Jobs whose command runs or ends, by id; read by the loop (active_jobs).
        self._running: dict[str, _Run] = {}
        self._by_fd: dict[int, _Run] = {}
        self._requests: deque[tuple[str | None, str]] = deque()  # (job id or all, why)
        self._done: list[_Done] = []
        self._outputs: list[OutputWrite] = []
        self._stopping = False
        self._hard = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finished: asyncio.Future[None] | None = None

    # -- the loop's side ------------------------------------------------------
    async def run(self) -> None:
        """Run the thread until it is stopped and drained (or, in burst, done)."""
        loop = self._loop = asyncio.get_running_loop()
        finished = self._finished = loop.create_future()
        store = self._runner.store
        undo = None
        count = getattr(store, "count_changes_of", None)
        if count is not None:  # the store's checkpoints follow this connection's writes
            undo = count(self._conn.changes)
        thread = threading.Thread(target=self._main, name="queuectl-core", daemon=True)
        thread.start()
        try:
            try:
                await asyncio.shield(finished)
            except asyncio.CancelledError:
                # Drain as the loop path does: record what runs, then let it re-raise.
                self._runner.stop()
                await asyncio.shield(finished)
                raise
        finally:
            if undo is not None:
                undo()

    def stop(self, *, hard: bool = False) -> None:
        self._stopping = True
        if hard and not self._hard:
            self._hard = True
            self._requests.append((None, "shutdown"))
        self.wake()

    def interrupt(self, job_id: str, why: str) -> None:
        self._requests.append((job_id, why))
        self.wake()

    def running(self) -> list[str]:
        return list(self._running)

    def wake(self) -> None:
        with self._wake_lock:
            if not self._closed:
                os.eventfd_write(self._wake_fd, 1)

    def _deliver(self, done: list[_Done]) -> None:
        runner = self._runner
        for item in done:
            runner.stats.count(item.event.state)
            runner.emit(item.event)

    def _hand_over(self) -> None:
        if self._undelivered:
            self._post(self._deliver, self._undelivered)
            self._undelivered = []

    def _post(self, callback: Callable[[T], None], arg: T) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
            self._loop.call_soon_threadsafe(callback, arg)

    # -- the thread -----------------------------------------------------------
    def _main(self) -> None:
        error: BaseException | None = None
        try:
            # Children may inherit this thread's signal mask (vfork_spawn): none blocked.
            signal.pthread_sigmask(signal.SIG_SETMASK, ())
            self._dispatch()
        except BaseException as exc:
            error = exc
            log.error("the runner's dispatch thread failed: %r", exc)
            for run in self._running.values():  # no command outlives its runner
                signal_group(run.pid, signal.SIGKILL)
        finally:
            with self._wake_lock:
                self._closed = True
                os.close(self._wake_fd)
            for fd in list(self._by_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._epoll.close()
            self._spawner.close()
            self._conn.close()
            self._hand_over()  # before the end: the loop runs them in this order
            self._post(self._end, error)

    def _end(self, error: BaseException | None) -> None:
        assert self._finished is not None
        if self._finished.done():
            return
        if error is None:
            self._finished.set_result(None)
        else:
            self._finished.set_exception(error)

    def _dispatch(self) -> None:
        runner, settings = self._runner, self._runner.settings
        idle = False  # the last claim found fewer runnable jobs than it asked for
        next_flush = time.monotonic() + FLUSH_INTERVAL
        while True:
            self._take_requests()
            now = time.monotonic()
            self._advance(now)
            if self._undelivered and now >= self._deliver_at:
                self._hand_over()
            flush = now >= next_flush
            if flush:
                next_flush = now + FLUSH_INTERVAL
                for run in self._running.values():
                    if run.capture is not None:
                        self._outputs.extend(run.capture.drain())
            free = 0 if self._stopping else runner.concurrency - len(self._running)
            claim = free if free > 0 and (self._done or not idle) else 0
            if self._done or claim or self._outputs:
                done, outputs = self._done, self._outputs
                try:
                    applied, jobs, again = self._conn.exchange(
                        [d.finish for d in done],
                        outputs,
                        runner.id,
                        claim,
                        settings.lease_seconds,
                        self._queues,
                    )
                except StoreError as exc:
                    log.warning("recording outcomes or claiming failed, retrying: %s", exc)
                    self._outputs = []  # output is a convenience, as on the loop path
                    self._poll(_RETRY)
                    continue
                self._done, self._outputs = [], []
                self._recorded(done, applied, again)
                for job in jobs:
                    self._start(job)
                if claim:
                    idle = len(jobs) < claim
                continue
            if self._stopping and not self._running:
                return
            timeout = self._timeout(now, next_flush, idle and free > 0)
            if timeout is None:
                return  # burst: nothing left to run
            woke = self._poll(timeout)
            if woke or (idle and time.monotonic() >= now + timeout):
                idle = False

    def _timeout(self, now: float, next_flush: float, idle: bool) -> float | None:
        """Seconds until something is due; None ends a burst run."""
        due: list[float] = []
        if self._undelivered:
            due.append(self._deliver_at - now)
        for run in self._running.values():
            if run.deadline is not None and not run.timed_out and run.returncode is None:
                due.append(run.deadline - now)
            if run.ending is not None and not run.killed:
                due.append(_TERM_POLL)
            if run.drain_until is not None:
                due.append(run.drain_until - now)
            if run.capture is not None:
                due.append(next_flush - now)
        if idle and not self._stopping:
            wait = self._idle_wait()
            if wait is None:
                if not self._running:
                    return None
            else:
                due.append(wait)
        return max(0.0, min(due)) if due else -1.0

    def _idle_wait(self) -> float | None:
        """How long to sleep when nothing is runnable now; None ends a burst run."""
        runner, conn = self._runner, self._conn
        try:
            if runner.burst and not self._running:
                # Burst waits for retries of failed jobs but not for scheduled ones.
                next_at = conn.next_run_at(frozenset({JobState.FAILED}), self._queues)
                return None if next_at is None else max(0.0, next_at - conn.now())
            next_at = conn.next_run_at(RUNNABLE_STATES, self._queues)
        except StoreError as exc:
            log.warning("reading the queue failed, retrying: %s", exc)
            return _RETRY
        poll = runner.settings.poll_interval
        return poll if next_at is None else min(poll, max(0.0, next_at - conn.now()))

    def _poll(self, timeout: float) -> bool:
        """Wait up to ``timeout`` (-1: no limit) and handle what is ready; True if woken."""
        woke = False
        for fd, _ in self._epoll.poll(timeout):
            if fd == self._wake_fd:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(fd)
                woke = True
                continue
            run = self._by_fd.get(fd)
            if run is None:
                continue  # closed by an earlier event of this round
            if fd == run.pidfd:
                self._exited(run)
            else:
                self._read(run, fd)
        return woke

    def _take_requests(self) -> None:
        while self._requests:
            job_id, why = self._requests.popleft()
            if job_id is None:
                runs = list(self._running.values())
            else:
                one = self._running.get(job_id)
                runs = [] if one is None else [one]
            for run in runs:
                self._interrupt(run, why)

    def _interrupt(self, run: _Run, why: str) -> None:
        if run.interrupted is None:
            run.interrupted = why
            if run.returncode is None:
                self._terminate(run)

    def _terminate(self, run: _Run) -> None:
        """SIGTERM the group; ``_advance`` sends SIGKILL once it is gone or at the grace."""
        if run.ending is None:
            sent = signal_group(run.pid, signal.SIGTERM)
            grace = self._runner.settings.kill_grace
            run.ending = time.monotonic() + (grace if sent else 0.0)

    # -- commands -------------------------------------------------------------
    def _start(self, job: Job) -> None:
        settings = self._runner.settings
        timeout = job.timeout if job.timeout is not None else settings.job_timeout
        capture = None
        if settings.output_limit:
            capture = OutputCapture(job.id, job.token, settings.output_limit)
        run = _Run(job, time.monotonic(), timeout, capture)
        self._running[job.id] = run
        try:
            run.pid, run.pipes = self._spawner.start_now(
                job.command, self._env, job_variables(job), capture_stdout=capture is not None
            )
        except OSError as exc:
            run.failed = Outcome(exit_code=None, reason="error", error=f"could not start: {exc}")
        except Exception as exc:
            run.failed = Outcome(
                exit_code=None, reason="error", error=f"{type(exc).__name__}: {exc}"
            )
        if run.failed is not None:
            self._end_run(run)
            return
        run.pidfd = os.pidfd_open(run.pid)
        for fd in (run.pidfd, *run.pipes):
            self._epoll.register(fd, select.EPOLLIN)
            self._by_fd[fd] = run
        if timeout is not None:
            run.deadline = run.started + timeout
        if self._hard:
            self._interrupt(run, "shutdown")

    def _exited(self, run: _Run) -> None:
        self._forget(run.pidfd)
        run.pidfd = -1
        try:
            _, status = os.waitpid(run.pid, 0)  # the pidfd says it exited
            run.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): the code is lost
            run.returncode = -1

    def _read(self, run: _Run, fd: int) -> None:
        # Readiness first, so the read cannot block (the pipes stay blocking).
        try:
            data = os.read(fd, _READ)
        except OSError:
            data = b""
        if not data:
            self._forget(fd)
            del run.pipes[fd]
            return
        stream = run.pipes[fd]
        if stream == 2:
            run.tail.add(data)
        if run.capture is not None:
            run.capture(stream, data)

    def _forget(self, fd: int) -> None:
        # Closing is enough: these descriptors have no copies, so epoll drops them.
        self._by_fd.pop(fd, None)
        os.close(fd)

    def _advance(self, now: float) -> None:
        """Timeouts, the steps of ending commands, and the runs that are over."""
        for run in list(self._running.values()):
            due = run.deadline is not None and now >= run.deadline
            if due and run.returncode is None and not run.timed_out and run.interrupted is None:
                run.timed_out = True
                self._terminate(run)
            if run.ending is not None and not run.killed:
                gone = run.returncode is not None and not group_alive(run.pid)
                if gone or now >= run.ending:
                    signal_group(run.pid, signal.SIGKILL)
                    run.killed = True
            if run.returncode is None or (run.ending is not None and not run.killed):
                continue
            if run.drain_until is None:
                signal_group(run.pid, signal.SIGKILL)  # whatever the command left in its group
                run.drain_until = now + _DRAIN
            if not run.pipes or now >= run.drain_until:
                self._end_run(run)

    def _end_run(self, run: _Run) -> None:
        """The command is over: free its slot and queue its outcome (and last output)."""
        for fd in list(run.pipes):
            self._forget(fd)
        run.pipes = {}
        del self._running[run.job.id]
        if run.capture is not None:
            self._outputs.extend(run.capture.drain())
        job = run.job
        if run.interrupted == "lost":
            log.warning("job %s was taken over by another runner; result dropped", job.id)
            return
        if run.failed is not None:
            outcome = run.failed
        elif run.interrupted is not None:
            outcome = INTERRUPTIONS.get(run.interrupted, INTERRUPTIONS["shutdown"])
        else:
            assert run.returncode is not None
            outcome = exit_outcome(run.returncode, run.timed_out, run.timeout, run.tail.text())
        t, finish = finish_for(job, outcome, self._runner.policy)
        event = JobEvent(job, t.state, outcome, time.monotonic() - run.started)
        self._done.append(_Done(finish, event))

    def _recorded(self, done: list[_Done], applied: set[str], again: bool) -> None:
        recorded = []
        for item in done:
            if item.finish.job_id in applied:
                recorded.append(item)
            else:
                log.warning(
                    "job %s: claim lost before its outcome was recorded; dropped",
                    item.finish.job_id,
                )
        if recorded:
            if not self._undelivered:
                self._deliver_at = time.monotonic() + _DELIVERY_DELAY
            self._undelivered.extend(recorded)
        if again:  # waiters unblocked, or a job back in the queue: other runners look
            try:
                send_wakes(self._conn.wake_addresses(), "jobs")
            except StoreError as exc:
                log.warning("waking other runners failed: %s", exc)
