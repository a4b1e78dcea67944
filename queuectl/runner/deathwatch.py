"""Notice at once when another runner on this host exits (Linux pidfds).

Recovery also runs on a timer; this only makes it immediate where the platform lets a
process wait on an unrelated pid. Elsewhere ``watch`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable

__all__ = ["DeathWatch"]


class DeathWatch:
    def __init__(self, on_death: Callable[[], None]) -> None:
        self._on_death = on_death
        self._fds: dict[int, int] = {}
        self._loop = asyncio.get_running_loop()

    def watch(self, pids: Iterable[int]) -> None:
        """Watch these pids (already watched ones are kept, vanished ones ignored)."""
        pidfd_open = getattr(os, "pidfd_open", None)
        if pidfd_open is None:
            return
        for pid in pids:
            if pid in self._fds or pid == os.getpid():
                continue
            try:
                fd = pidfd_open(pid)
            except OSError:
                continue  # already gone: the next recovery pass handles it
            self._fds[pid] = fd
            self._loop.add_reader(fd, self._exited, pid)

    def _exited(self, pid: int) -> None:
        self._forget(pid)
        self._on_death()

    def _forget(self, pid: int) -> None:
        fd = self._fds.pop(pid)
        self._loop.remove_reader(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def close(self) -> None:
        for pid in list(self._fds):
            self._forget(pid)
