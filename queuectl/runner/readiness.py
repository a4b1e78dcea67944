"""Readiness of many short-lived file descriptors, through one epoll set on the loop.

Each job watches three descriptors for about a millisecond: its pidfd and its two
output pipes. uvloop's ``add_reader`` and ``remove_reader`` cost about eight system
calls per descriptor (a probing add and delete, an ``ioctl`` to make it non-blocking,
the real add, then three deletes), plus a poll handle each. Here the loop watches one
epoll set for the whole runner, and a descriptor costs one add and one delete. Where
there is no epoll (not Linux), the loop's own readers do the work.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

__all__ = ["Readiness"]


class Readiness:
    """Calls ``callback()`` while ``fd`` is readable (level-triggered), until removed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._ready)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        if self._epoll is None:
            self._loop.add_reader(fd, callback)
            return
        self._epoll.register(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def remove(self, fd: int) -> None:
        """Stop watching ``fd``; call it before closing ``fd``."""
        if self._epoll is None:
            self._loop.remove_reader(fd)
            return
        if self._callbacks.pop(fd, None) is not None:
            self._epoll.unregister(fd)

    def _ready(self) -> None:
        # Callbacks may close descriptors but never open one: a number closed and
        # reused within one round would get the stale event of the closed one (the
        # pipes are blocking, so a read on a stale readiness would block the loop).
        assert self._epoll is not None
        for fd, _ in self._epoll.poll(0):
            callback = self._callbacks.get(fd)
            if callback is None:
                continue  # removed by an earlier callback of this round
            try:
                callback()
            except Exception as exc:  # as the loop would: report it, keep watching others
                self._loop.call_exception_handler(
                    {"message": f"readiness callback for fd {fd} failed", "exception": exc}
                )

    def close(self) -> None:
        if self._epoll is not None and not self._epoll.closed:
            self._loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
        self._callbacks.clear()
