"""Job output on its way to the store: bounded in memory, flushed while jobs run.

Each stream of an attempt keeps its first ``limit / 2`` bytes (the head, written as it
comes) and a rolling last ``limit / 2`` (the tail); what falls between is counted, not
kept. Memory per running job is therefore bounded by the limit, whatever the command
prints. The runner's dispatch loop writes what accumulated every ``FLUSH_INTERVAL``
while jobs run, and a job's last output together with its outcome. When the store could
not take a write (``lose``), the head stops where the store's copy stops, so what it
holds never has an unmarked gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from queuectl.store.base import OutputWrite

__all__ = ["FLUSH_INTERVAL", "OutputCapture"]

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
        #: Why some output could not be stored, once it happened.
        self.lost: str | None = None

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
                    self.lost,
                )
            )
            state.pending.clear()
            state.dirty = False
        return writes

    def lose(self, reason: str) -> None:
        """Writes of this attempt were given up: keep no more head (the rest of the
        bytes count as not kept, ``reason`` says why) and write every stream again."""
        self.lost = reason
        for state in self._streams.values():
            state.head_len = self._head_limit
            state.pending.clear()
            state.dirty = True
