"""What waits to be written: outcomes of ended attempts, and output of running ones.

The dispatch loop takes whatever accumulated and writes it together with its next
claim, in one store transaction (``Store.exchange``), so under load many outcomes share
a commit and at rest a single outcome is written at once, without a timer adding
latency. A job's last output goes in the same transaction as its outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from queuectl.runner.events import JobEvent
from queuectl.store.base import Finish, OutputWrite

__all__ = ["Batch", "Outbox", "Recording"]

#: The most outcomes written in one transaction.
MAX_BATCH = 512
#: Batches that may fail in a row while they carry marks of lost output only.
MARK_TRIES = 3


class Recording(NamedTuple):
    """An outcome to write, and the event to report once it is written."""

    finish: Finish
    event: JobEvent


class Batch(NamedTuple):
    recordings: list[Recording]
    outputs: list[OutputWrite]

    @property
    def finishes(self) -> list[Finish]:
        return [r.finish for r in self.recordings]

    def __bool__(self) -> bool:
        return bool(self.recordings or self.outputs)


class Outbox:
    def __init__(self) -> None:
        self._recordings: list[Recording] = []
        self._outputs: list[OutputWrite] = []
        self._failed_marks = 0  # batches of marks only that failed in a row

    @property
    def waiting(self) -> int:
        """Outcomes not written yet."""
        return len(self._recordings)

    def add(self, recording: Recording, outputs: Iterable[OutputWrite] = ()) -> None:
        self._outputs.extend(outputs)
        self._recordings.append(recording)

    def add_outputs(self, outputs: Iterable[OutputWrite]) -> None:
        self._outputs.extend(outputs)

    def batch(self) -> Batch:
        """The next batch to write; it stays queued until ``written`` or ``failed``.

        Output goes whole (its writes must stay in order), outcomes up to MAX_BATCH.
        """
        return Batch(self._recordings[:MAX_BATCH], list(self._outputs))

    def written(self, batch: Batch) -> None:
        del self._recordings[: len(batch.recordings)]
        del self._outputs[: len(batch.outputs)]
        self._failed_marks = 0

    def failed(self, batch: Batch, reason: str) -> set[tuple[str, int]]:
        """The write failed: keep the outcomes for the next try, give the output up.

        Output is a convenience: a store that cannot take it must not hold outcomes
        back. In its place goes a small write that marks the stream as ``lost`` (its
        bytes counted, none kept past what the store holds); marks are tried with the
        next few batches, then dropped too. Output queued since then loses its head,
        which would follow a gap. Returns the attempts ``(job id, token)`` whose output
        was given up.
        """
        given_up = {(w.job_id, w.token) for w in batch.outputs if w.head or w.tail}
        if not given_up:  # marks only
            self._failed_marks += 1
            if self._failed_marks >= MARK_TRIES:
                del self._outputs[: len(batch.outputs)]
            return set()
        self._failed_marks = 0
        marks: dict[tuple[str, int, int], OutputWrite] = {}
        for w in batch.outputs:  # the last write of a stream has its total
            key = (w.job_id, w.token, w.stream)
            marks[key] = OutputWrite(*key, b"", b"", w.total, w.lost or reason)
        del self._outputs[: len(batch.outputs)]
        for n, w in enumerate(self._outputs):
            if (w.job_id, w.token, w.stream) in marks and w.head:
                self._outputs[n] = w._replace(head=b"", lost=w.lost or reason)
        self._outputs[:0] = marks.values()
        return given_up
