"""A reference for dispatch and sleep-bound: the least a durable SQLite runner must do.

One thread, no event loop, no other threads: each round writes the outcomes collected
so far and claims as many pending jobs as there are free slots in one transaction (WAL,
``synchronous=NORMAL``, as queuectl), starts the claimed commands as queuectl does
(``os.posix_spawn``; own session, stdin on /dev/null, stderr on a pipe that is read),
and waits on the children's pidfds with epoll. It shows how close a runner that keeps
queuectl's claim rule (never more claims than free slots) can get to the spawn floor on
this machine, so that a gap between queuectl and the floor can be told apart from a limit of the
machine or of Python. Two data models:

- ``minimal``: a table with one index and two plain updates a round; none of
  queuectl's leases, timeouts, output logs, retries, history or events.
- ``queuectl``: the same loop on queuectl's own store: its schema (indexes, attempt
  history and dependency triggers), its exchange statement, a ``Job`` record per
  claim, each outcome through its retry policy, the job's variables in the command's
  environment, stdout captured too, and the command's process group killed after it
  exits. What is left between this and queuectl is its architecture (the event loop,
  aiosqlite's thread) and what this loop leaves out (timeouts, cancellation, output
  stored, leases renewed, events).

    python -m benchmarks.reference N CONCURRENCY COMMAND [MODEL]   →   {"rate": …, …}
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from benchmarks.seed import add_pending, create_store
from benchmarks.spawn import cpu_times
from queuectl.domain.config import Settings
from queuectl.domain.retry import RetryPolicy
from queuectl.runner.outcomes import finish_for
from queuectl.runner.shell import exit_outcome, job_variables
from queuectl.store.sqlite import statements as sqlite_sql
from queuectl.store.sqlite.rows import exchange_result

__all__ = ["DESCRIPTION", "MODELS", "run"]

DESCRIPTION = "one thread: sqlite3 claim + finish per round, posix_spawn, epoll on pidfds"
#: What each data model writes and does per job (see the module docstring).
MODELS = {
    "minimal": "two plain updates a round on a one-index table",
    "queuectl": "queuectl's schema, exchange statement, records, retry policy and env",
}

_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY, command TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, started_at REAL, finished_at REAL,
    exit_code INTEGER, runner_id TEXT, lease_until REAL);
CREATE INDEX jobs_pending ON jobs (seq) WHERE state = 'pending';
"""
_CLAIM = """
UPDATE jobs SET state = 'processing', attempts = attempts + 1, runner_id = 'reference',
    started_at = :now, lease_until = :now + 30
WHERE seq IN (SELECT seq FROM jobs WHERE state = 'pending' ORDER BY seq LIMIT :limit)
RETURNING seq, command
"""
_FINISH = """
UPDATE jobs SET state = 'completed', finished_at = ?, exit_code = ?,
    runner_id = NULL, lease_until = NULL
WHERE seq = ? AND state = 'processing' AND runner_id = 'reference'
"""
_LEASE = 30.0

#: A claimed job: its key for the outcome, its command and the command's environment.
Claimed = tuple[Any, str, Mapping[str, str]]


class _Model(Protocol):
    capture_stdout: bool
    kill_group: bool

    def exchange(self, outcomes: list[tuple[Any, int]], free: int) -> list[Claimed]:
        """Write ``(key, exit code)`` outcomes and claim up to ``free`` jobs, in one commit."""
        ...

    def close(self) -> None: ...


class _Minimal:
    capture_stdout = False
    kill_group = False

    def __init__(self, home: str, n: int, command: str) -> None:
        self._db = db = sqlite3.connect(os.path.join(home, "reference.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        db.executemany("INSERT INTO jobs (command, state) VALUES (?, 'pending')", [(command,)] * n)
        db.execute("COMMIT")

    def exchange(self, outcomes: list[tuple[Any, int]], free: int) -> list[Claimed]:
        db, now = self._db, time.time()
        db.execute("BEGIN IMMEDIATE")
        db.executemany(_FINISH, [(now, code, seq) for seq, code in outcomes])
        claimed = db.execute(_CLAIM, {"now": now, "limit": free}).fetchall() if free else []
        db.execute("COMMIT")
        return [(seq, command, os.environ) for seq, command in claimed]

    def close(self) -> None:
        self._db.close()


class _Queuectl:
    capture_stdout = True
    kill_group = True

    def __init__(self, home: str, n: int, command: str) -> None:
        path = create_store(Path(home))
        add_pending(path, n, command)
        self._db = db = sqlite3.connect(path, isolation_level=None)
        db.executescript(sqlite_sql.PRAGMAS)
        # The history trigger reads the runner's host and pid from its registry row.
        db.execute(
            "INSERT INTO runners (id, host, pid, started_at, heartbeat_at, concurrency) "
            "VALUES ('reference', 'localhost', ?, 0, 0, 1)",
            (os.getpid(),),
        )
        settings = Settings()
        self._policy = RetryPolicy(
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            backoff_jitter=settings.backoff_jitter,
        )
        self._env = dict(os.environ)

    def exchange(self, outcomes: list[tuple[Any, int]], free: int) -> list[Claimed]:
        finishes = [
            finish_for(job, exit_outcome(code, False, None, ""), self._policy)[1]
            for job, code in outcomes
        ]
        params = sqlite_sql.exchange_params(finishes, "reference", time.time(), _LEASE, free, ())
        rows = self._db.execute(sqlite_sql.exchange_sql(0), params).fetchall()
        _, jobs, _ = exchange_result(rows, finishes)
        return [
            (job, job.command, {**self._env, **job_variables(job, "reference")}) for job in jobs
        ]

    def close(self) -> None:
        self._db.close()


def run(n: int, concurrency: int, command: str, model: str = "minimal") -> dict[str, float]:
    """Run ``n`` x ``command`` at ``concurrency`` from a filled queue: rate, seconds, CPU."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
    with tempfile.TemporaryDirectory(prefix="queuectl-reference-") as home:
        store: _Model = (_Minimal if model == "minimal" else _Queuectl)(home, n, command)
        try:
            own, children = cpu_times()
            start = time.perf_counter()
            done = _drain(store, concurrency)
            elapsed = time.perf_counter() - start
            own_after, children_after = cpu_times()
        finally:
            store.close()
    if done != n:
        raise RuntimeError(f"reference runner finished {done} of {n} jobs")
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "own_cpu": own_after - own,
        "children_cpu": children_after - children,
    }


def _drain(store: _Model, concurrency: int) -> int:
    devnull = os.open(os.devnull, os.O_RDWR)
    poller = select.epoll()
    running: dict[int, tuple[int, list[int], Any]] = {}  # pidfd -> (pid, pipes, key)
    outcomes: list[tuple[Any, int]] = []  # (key, exit code) of each ended child
    finished = 0
    try:
        while True:
            claimed = store.exchange(outcomes, concurrency - len(running))
            finished, outcomes = finished + len(outcomes), []
            for key, command, env in claimed:
                pid, pipes = _start(command, env, devnull, store.capture_stdout)
                pidfd = os.pidfd_open(pid)
                poller.register(pidfd, select.EPOLLIN)
                running[pidfd] = (pid, pipes, key)
            if not running:
                return finished
            for pidfd, _ in poller.poll():
                poller.unregister(pidfd)
                pid, pipes, key = running.pop(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                if store.kill_group:  # what the command left in its group goes with it
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
                for pipe in pipes:  # the child has exited: these reach EOF
                    while os.read(pipe, 65536):
                        pass
                    os.close(pipe)
                outcomes.append((key, os.waitstatus_to_exitcode(status)))
    finally:
        poller.close()
        os.close(devnull)


def _start(
    command: str, env: Mapping[str, str], devnull: int, capture_stdout: bool
) -> tuple[int, list[int]]:
    """The child's pid and the read ends of its stderr (and stdout) pipes."""
    pipes: list[int] = []
    ends: list[int] = []
    try:
        for _ in range(2 if capture_stdout else 1):
            read, write = os.pipe()
            pipes.append(read)
            ends.append(write)
        stdout = ends[1] if capture_stdout else devnull
        pid = os.posix_spawn(
            "/bin/sh",
            ["/bin/sh", "-c", command],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, stdout, 1),
                (os.POSIX_SPAWN_DUP2, ends[0], 2),
            ],
            setsid=True,
        )
    except BaseException:
        for fd in pipes:
            os.close(fd)
        raise
    finally:
        for fd in ends:
            os.close(fd)
    return pid, pipes


def main(argv: list[str]) -> None:
    n, concurrency, command = int(argv[0]), int(argv[1]), argv[2]
    model = argv[3] if len(argv) > 3 else "minimal"
    if not hasattr(os, "pidfd_open"):
        print(json.dumps({"skip": "os.pidfd_open needs Linux ≥ 5.3"}))
        return
    print(json.dumps(run(n, concurrency, command, model)))


if __name__ == "__main__":
    main(sys.argv[1:])
