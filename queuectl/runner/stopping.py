"""Asking runners to stop, and waiting until they have.

The request travels through the store (a flag in the registry and a control wake-up),
so it reaches runners embedded in other applications and, with PostgreSQL, runners on
other hosts; no signal is sent.
"""

from __future__ import annotations

import asyncio
import os

from queuectl.domain.errors import QueuectlError
from queuectl.domain.models import RunnerInfo
from queuectl.host.procinfo import host_name, is_alive
from queuectl.runner.registry import live_runners
from queuectl.store.base import Store

__all__ = ["EXIT_GRACE", "StopTimeout", "stop_runners"]


class StopTimeout(QueuectlError):
    """Runners did not exit within the time allowed."""

    def __init__(self, message: str, runners: list[RunnerInfo]) -> None:
        super().__init__(message)
        #: Every runner the stop was sent to, exited or not.
        self.runners = runners


#: How long a runner that has left the registry may take to exit. A CLI runner exits
#: right after it unregisters; one embedded in an application that carries on never
#: exits, and counts as stopped once this has passed.
EXIT_GRACE = 5.0


async def stop_runners(
    store: Store,
    lease_seconds: float,
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
    targets = [r for r in await live_runners(store, lease_seconds) if all_hosts or r.host == host]
    if targets:
        await store.request_stop([r.id for r in targets], hard=hard)
    loop = asyncio.get_running_loop()
    deadline = None if drain_timeout is None else loop.time() + drain_timeout
    waiting = list(targets)
    unregistered_at: dict[str, float] = {}
    while waiting:
        live = {r.id for r in await live_runners(store, lease_seconds)}
        registered = {r.id for r in await store.list_runners()}
        now = loop.time()
        waiting = [
            r
            for r in waiting
            if (
                _running(r, registered, unregistered_at, now)
                if r.host == host
                else r.id in live  # elsewhere: until its entry is gone or stale
            )
        ]
        if not waiting:
            break
        if deadline is not None and now >= deadline:
            pids = ", ".join(
                str(r.pid) if r.host == host else f"{r.pid} on {r.host}" for r in waiting
            )
            raise StopTimeout(
                f"runner(s) still draining after {drain_timeout:g}s: pid {pids}", targets
            )
        await asyncio.sleep(poll)
    return targets


def _running(
    runner: RunnerInfo, registered: set[str], unregistered_at: dict[str, float], now: float
) -> bool:
    """Whether ``stop_runners`` must still wait for ``runner``, a runner of this host.

    Its jobs are recorded once it leaves the registry, but "stopped" means its process
    has exited too: a caller may start a new runner or move the database next. A process
    that lives on for EXIT_GRACE seconds after leaving is an embedding application.
    """
    if not is_alive(runner.pid, runner.pid_start):
        return False
    if runner.id in registered:
        return True
    if runner.pid == os.getpid():
        return False  # a runner in the caller's own process: it will not exit
    return now - unregistered_at.setdefault(runner.id, now) < EXIT_GRACE
