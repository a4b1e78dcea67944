"""A reference for dispatch and sleep-bound: the least a durable SQLite runner must do.

One thread, no event loop, no threads: each round writes the outcomes collected so far
and claims as many pending jobs as there are free slots in one transaction (WAL,
``synchronous=NORMAL``, as queuectl), starts the claimed commands with ``posix_spawn``
(own session, stdin and stdout on /dev/null, stderr on a pipe that is read), and waits
on the children's pidfds with epoll. It has none of queuectl's leases, timeouts,
output logs, retries, events or embedding: it shows how close a runner that keeps the
same claim rules (never more claims than free slots) can get to the spawn floor on this
machine, so that a gap between queuectl and the floor can be told apart from a limit
of the machine or of Python.

    python -m benchmarks.reference N CONCURRENCY COMMAND   →   {"rate": jobs per second, …}
"""

from __future__ import annotations

import json
import os
import select
import sqlite3
import sys
import tempfile
import time

from benchmarks.spawn import cpu_times

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = "one thread: sqlite3 claim + finish per round, posix_spawn, epoll on pidfds"

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


def run(n: int, concurrency: int, command: str) -> dict[str, float]:
    """Run ``n`` x ``command`` at ``concurrency`` from a filled queue: rate, seconds, CPU."""
    with tempfile.TemporaryDirectory(prefix="queuectl-reference-") as home:
        db = sqlite3.connect(os.path.join(home, "reference.db"), isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
            db.execute("BEGIN")
            db.executemany(
                "INSERT INTO jobs (command, state) VALUES (?, 'pending')", [(command,)] * n
            )
            db.execute("COMMIT")
            own, children = cpu_times()
            start = time.perf_counter()
            done = _drain(db, concurrency)
            elapsed = time.perf_counter() - start
            own_after, children_after = cpu_times()
        finally:
            db.close()
    if done != n:
        raise RuntimeError(f"reference runner finished {done} of {n} jobs")
    return {
        "rate": n / elapsed,
        "seconds": elapsed,
        "own_cpu": own_after - own,
        "children_cpu": children_after - children,
    }


def _drain(db: sqlite3.Connection, concurrency: int) -> int:
    devnull = os.open(os.devnull, os.O_RDWR)
    poller = select.epoll()
    running: dict[int, tuple[int, int, int]] = {}  # pidfd -> (pid, stderr pipe, seq)
    outcomes: list[tuple[int, int]] = []  # (exit code, seq) of each ended child
    finished = 0
    try:
        while True:
            now = time.time()
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_FINISH, [(now, code, seq) for code, seq in outcomes])
            free = concurrency - len(running)
            claimed = db.execute(_CLAIM, {"now": now, "limit": free}).fetchall() if free else []
            db.execute("COMMIT")
            finished, outcomes = finished + len(outcomes), []
            for seq, command in claimed:
                pid, err = _start(command, devnull)
                pidfd = os.pidfd_open(pid)
                poller.register(pidfd, select.EPOLLIN)
                running[pidfd] = (pid, err, seq)
            if not running:
                return finished
            for pidfd, _ in poller.poll():
                poller.unregister(pidfd)
                pid, err, seq = running.pop(pidfd)
                os.close(pidfd)
                while os.read(err, 65536):  # the child has exited: this reaches EOF
                    pass
                os.close(err)
                _, status = os.waitpid(pid, 0)
                outcomes.append((os.waitstatus_to_exitcode(status), seq))
    finally:
        poller.close()
        os.close(devnull)


def _start(command: str, devnull: int) -> tuple[int, int]:
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(
            "/bin/sh",
            ["/bin/sh", "-c", command],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0),
                (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setsid=True,
        )
    except BaseException:
        os.close(err_r)
        raise
    finally:
        os.close(err_w)
    return pid, err_r


def main(argv: list[str]) -> None:
    n, concurrency, command = int(argv[0]), int(argv[1]), argv[2]
    if not hasattr(os, "pidfd_open"):
        print(json.dumps({"skip": "os.pidfd_open needs Linux ≥ 5.3"}))
        return
    print(json.dumps(run(n, concurrency, command)))


if __name__ == "__main__":
    main(sys.argv[1:])
