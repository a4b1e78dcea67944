"""Stored output: a stream whose bytes the runner had to give up keeps saying so."""

from __future__ import annotations

from queuectl.store import NewJob, Store
from queuectl.store.base import OutputWrite


async def test_a_lost_stream_is_marked_with_its_reason_for_good(store: Store) -> None:
    await store.enqueue([NewJob(id="j", command="true", max_retries=0)])
    (job,) = await store.claim("r", 1, 30.0)
    await store.write_output([OutputWrite("j", job.token, 1, b"head ", b"", 5)])
    # The runner gave up a write of 100 bytes: only its count reaches the store.
    await store.write_output([OutputWrite("j", job.token, 1, b"", b"", 105, "disk full")])
    await store.write_output([OutputWrite("j", job.token, 1, b"", b"tail", 120)])
    await store.write_output([OutputWrite("j", job.token, 2, b"fine", b"", 4)])
    outputs = await store.read_output("j", job.token)
    assert outputs[1].lost == "disk full"
    assert (
        outputs[1].content()
        == b"head \n[\xe2\x80\xa6 111 bytes not kept: disk full \xe2\x80\xa6]\ntail"
    )
    assert outputs[2].lost is None
    assert outputs[2].content() == b"fine"
    (attempt,) = await store.attempts("j")
    assert attempt.output_lost == "disk full"
