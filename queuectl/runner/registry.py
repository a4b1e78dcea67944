"""Which registered runners are alive: by pid on this host, by heartbeat elsewhere."""

from __future__ import annotations

import os
from dataclasses import dataclass

from queuectl.domain.models import RunnerInfo, from_epoch
from queuectl.host.procinfo import host_name, is_alive, process_start
from queuectl.store.base import Store

__all__ = ["is_live", "live_runners", "this_process"]


def is_live(runner: RunnerInfo, *, host: str, now: float, lease_seconds: float) -> bool:
    """A runner on this host is alive while its process is; elsewhere while it beats."""
    if runner.host == host:
        return is_alive(runner.pid, runner.pid_start)
    return runner.heartbeat_at.timestamp() >= now - lease_seconds


async def live_runners(store: Store, lease_seconds: float) -> list[RunnerInfo]:
    host, now = host_name(), store.now()
    return [
        r
        for r in await store.list_runners()
        if is_live(r, host=host, now=now, lease_seconds=lease_seconds)
    ]


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    pid_start: int | None


def this_process() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(host=host_name(), pid=pid, pid_start=process_start(pid))


def new_runner_info(
    runner_id: str, concurrency: int, wake: str | None, now: float, queues: tuple[str, ...] = ()
) -> RunnerInfo:
    me = this_process()
    return RunnerInfo(
        id=runner_id,
        host=me.host,
        pid=me.pid,
        pid_start=me.pid_start,
        started_at=from_epoch(now),
        heartbeat_at=from_epoch(now),
        concurrency=concurrency,
        queues=queues,
        wake=wake,
    )
