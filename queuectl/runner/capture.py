"""Job output on its way to the store: bounded in memory, flushed while jobs run.

Each stream of an attempt keeps its first ``limit / 2`` bytes (the head, written as it
comes) and a rolling last ``limit / 2`` (the tail); what falls between is counted, not
kept. Memory per running job is therefore bounded by the limit, whatever the command
prints. One writer flushes every running job's new output together, at least once a
second, and once more when a job ends, before its outcome is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from queuectl.domain.errors import StoreError
from queuectl.store.base import OutputWrite, Store

__all__ = ["FLUSH_INTERVAL", "OutputCapture", "OutputWriter"]

log = logging.getLogger("queuectl.runner")

#: Seconds between two flushes of running jobs' output.
FLUSH_INTERVAL = 0.5


@dataclass(slots=True)
class _Stream:
    head_len: int = 0
    pending: bytearray = field(default_factory=bytearray)  # head bytes not yet stored
    tail: bytearray = field(default_factory=bytearray)
    total: int = 0
    dirty: bool = False


class OutputCapture:
    """The output of one attempt (a sink for the executor)."""

    def __init__(self, job_id: str, token: int, limit: int) -> None:
        self.job_id = job_id
        self.token = token
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self._streams: dict[int, _Stream] = {}

    def __call__(self, stream: int, data: bytes) -> None:
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = _Stream()
        state.total += len(data)
        state.dirty = True
        room = self._head_limit - state.head_len
        if room > 0:
            state.pending += data[:room]
            state.head_len += min(room, len(data))
            data = data[room:]
        if data:
            state.tail += data
            excess = len(state.tail) - self._tail_limit
            if excess > 0:
                del state.tail[:excess]

    def drain(self) -> list[OutputWrite]:
        """The writes that bring the store up to date (and forget the pending head)."""
        writes = []
        for stream, state in self._streams.items():
            if not state.dirty:
                continue
            writes.append(
                OutputWrite(
                    self.job_id,
                    self.token,
                    stream,
                    bytes(state.pending),
                    bytes(state.tail),
                    state.total,
                )
            )
            state.pending.clear()
            state.dirty = False
        return writes


class OutputWriter:
    """Flushes the output of running jobs; the only writer, so appends stay in order."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._captures: set[OutputCapture] = set()
        self._lock = asyncio.Lock()

    def add(self, capture: OutputCapture) -> None:
        self._captures.add(capture)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self._flush(list(self._captures))

    async def finish(self, capture: OutputCapture) -> None:
        """Write what is left of an attempt's output and stop tracking it."""
        self._captures.discard(capture)
        await self._flush([capture])

    async def _flush(self, captures: list[OutputCapture]) -> None:
        async with self._lock:
            writes = [w for capture in captures for w in capture.drain()]
            if not writes:
                return
            try:
                await self._store.write_output(writes)
            except StoreError as exc:
                # Output is a convenience: losing a flush must not fail the job.
                log.warning("storing the output of %d stream(s) failed: %s", len(writes), exc)
