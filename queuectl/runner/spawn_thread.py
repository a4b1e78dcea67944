"""Children started from one dedicated thread, so the event loop never waits for an exec.

Starting a child suspends the caller until the child has called ``exec`` (0.1 to 0.4 ms
on a busy two-core machine). On the loop, that wait was the runner's bottleneck at
high concurrency: ~0.4 ms of every job during which no outcome was read and no claim
was sent. Here the loop queues a request and goes on; one thread starts whatever is
queued, with the GIL free during each start (``vfork_spawn``, else ``libc_spawn``), and
hands the results back in one loop call per batch. One thread rather than a pool: a
pool's threads would contend for the GIL and each hand-off costs more than it saves.
"""

from __future__ import annotations

import asyncio
import queue
import signal
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["SpawnThread"]

R = TypeVar("R")
T = TypeVar("T")


class SpawnThread(Generic[R, T]):
    """Runs ``start(request)`` on its thread for each submitted request, in order.

    ``orphan(result)`` disposes of a started child that nobody awaits any more (its
    submitter was cancelled, or the loop closed); it must not block.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        start: Callable[[R], T],
        orphan: Callable[[T], None],
    ) -> None:
        self.loop = loop
        self._start = start
        self._orphan = orphan
        self._queue: queue.SimpleQueue[tuple[R, asyncio.Future[T]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="queuectl-spawn", daemon=True)
        self._thread.start()

    def submit(self, request: R) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self.loop.create_future()
        self._queue.put((request, future))
        return future

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Start what is queued, then end the thread."""
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        # A child started with vfork keeps this thread's signal mask: none blocked.
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            item = get()
            started: list[tuple[asyncio.Future[T], T]] = []
            failed: list[tuple[asyncio.Future[T], BaseException]] = []
            while item is not None:
                request, future = item
                try:
                    started.append((future, self._start(request)))
                except BaseException as exc:  # handed to the submitter
                    failed.append((future, exc))
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if started or failed:
                try:
                    self.loop.call_soon_threadsafe(self._deliver, started, failed)
                except RuntimeError:  # the loop is closed: nobody will take these
                    for _, result in started:
                        self._orphan(result)
            if item is None:
                return

    def _deliver(
        self,
        started: list[tuple[asyncio.Future[T], T]],
        failed: list[tuple[asyncio.Future[T], BaseException]],
    ) -> None:
        for future, result in started:
            if future.cancelled():
                self._orphan(result)
            else:
                future.set_result(result)
        for future, exc in failed:
            if not future.cancelled():
                future.set_exception(exc)
