"""The outbox gives output up when a write fails, and marks what it gave up."""

from __future__ import annotations

from queuectl.runner.outbox import MARK_TRIES, Outbox
from queuectl.store.base import OutputWrite


def _write(stream: int, head: bytes, tail: bytes, total: int, job: str = "j") -> OutputWrite:
    return OutputWrite(job, 1, stream, head, tail, total)


def test_output_given_up_becomes_marks_and_later_heads_are_dropped() -> None:
    outbox = Outbox()
    outbox.add_outputs([_write(1, b"abc", b"", 3), _write(2, b"e", b"", 1, job="k")])
    batch = outbox.batch()
    outbox.add_outputs([_write(1, b"def", b"xyz", 20)])  # queued while the batch failed
    assert outbox.failed(batch, "disk full") == {("j", 1), ("k", 1)}
    assert outbox.batch().outputs == [
        OutputWrite("j", 1, 1, b"", b"", 3, "disk full"),
        OutputWrite("k", 1, 2, b"", b"", 1, "disk full"),
        OutputWrite("j", 1, 1, b"", b"xyz", 20, "disk full"),  # no head after the gap
    ]


def test_marks_are_tried_a_few_times_then_dropped() -> None:
    outbox = Outbox()
    outbox.add_outputs([_write(1, b"abc", b"", 3)])
    outbox.failed(outbox.batch(), "disk full")
    for _ in range(MARK_TRIES - 1):
        assert outbox.failed(outbox.batch(), "disk full") == set()
        assert len(outbox.batch().outputs) == 1
    assert outbox.failed(outbox.batch(), "disk full") == set()
    assert outbox.batch().outputs == []


def test_a_mark_survives_a_failure_that_gives_up_other_output() -> None:
    outbox = Outbox()
    outbox.add_outputs([_write(1, b"abc", b"", 3)])
    outbox.failed(outbox.batch(), "disk full")
    outbox.add_outputs([_write(2, b"err", b"", 3)])
    assert outbox.failed(outbox.batch(), "the store refused it") == {("j", 1)}
    assert outbox.batch().outputs == [
        OutputWrite("j", 1, 1, b"", b"", 3, "disk full"),
        OutputWrite("j", 1, 2, b"", b"", 3, "the store refused it"),
    ]
