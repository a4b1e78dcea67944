"""What this host can tell about processes: identity, liveness, orphaned commands."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "find_processes_with_env",
    "group_alive",
    "host_name",
    "is_alive",
    "kill_process_groups",
    "process_start",
    "signal_group",
]

_PROC = Path("/proc")


def host_name() -> str:
    """This host's identity in the registry; ``$QUEUECTL_HOST`` overrides it (tests)."""
    return os.environ.get("QUEUECTL_HOST") or socket.gethostname()


def process_start(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (Linux), or None if unknown.

    Together with the pid it names one process: a pid reused later starts later.
    """
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"Z"


def is_alive(pid: int, start: int | None = None) -> bool:
    """Whether the process ``pid`` (started at ``start``, when known) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _is_zombie(pid):
        return False
    if start is not None:
        current = process_start(pid)
        if current is not None and current != start:
            return False
    return True


def find_processes_with_env(name: str, value: str) -> list[int]:
    """Pids of this user's processes whose environment holds ``name=value``.

    Every command queuectl starts carries its runner and claim in its environment,
    and its children inherit it; this finds them after their runner is gone.
    """
    needle = f"{name}={value}".encode()
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            environ = (_PROC / str(pid) / "environ").read_bytes()
            if needle in environ.split(b"\0"):
                found.append(pid)
    return found


def _pids() -> Iterator[int]:
    # A context manager: callers stop early (any(), return), and an iterator left open
    # would leak its directory handle until garbage collection (a ResourceWarning).
    with contextlib.suppress(OSError), os.scandir(_PROC) as entries:
        for entry in entries:
            if entry.name.isdigit():
                yield int(entry.name)


def kill_process_groups(pids: list[int], grace: float) -> None:
    """Terminate the process groups of ``pids``: SIGTERM, then SIGKILL after ``grace``.

    Blocking, and meant for rare recovery paths; returns once they are gone or killed.
    """
    groups = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    groups.discard(os.getpgrp())  # never our own group
    _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        groups = {g for g in groups if group_alive(g)}
        time.sleep(0.02)
    _signal_groups(groups, signal.SIGKILL)


def _signal_groups(groups: set[int], sig: signal.Signals) -> None:
    for group in groups:
        signal_group(group, sig)


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(group: int) -> bool:
    """Whether process group ``group`` has a member that is not a zombie.

    Zombies count as gone: they are dead and only wait for a parent (often init,
    which may reap them late) to collect their status.
    """
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _PROC.is_dir():
        return True
    for pid in _pids():
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (_PROC / str(pid) / "stat").read_bytes()
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[2]) == group and fields[0] != b"Z":
                return True
    return False
