"""Output capture and attempt history, through the library (every store)."""

from __future__ import annotations

from queuectl.api.queue import Queue
from queuectl.domain.config import Settings
from queuectl.domain.models import JobState
from queuectl.store import Store
from tests.conftest import FAST


def _with(store: Store, **changes: object) -> Queue:
    import dataclasses

    return Queue(store, dataclasses.replace(FAST, **changes))  # type: ignore[arg-type]


async def test_both_streams_are_kept_in_order_within_each(queue: Queue) -> None:
    script = "for i in 1 2 3 4 5; do echo out $i; echo err $i >&2; done"
    job = await queue.enqueue(script)
    await queue.runner(burst=True).run()
    output = await queue.output(job.id)
    assert output[1].content() == b"".join(b"out %d\n" % i for i in range(1, 6))
    assert output[2].content() == b"".join(b"err %d\n" % i for i in range(1, 6))
    assert (output[1].total, output[1].cut) == (30, 0)


async def test_output_beyond_the_limit_keeps_head_and_tail(store: Store) -> None:
    queue = _with(store, output_limit=1000)
    # 300 numbered lines of 10 bytes: 3,000 bytes, of which 1,000 are kept.
    job = await queue.enqueue("seq -f '%09g' 1 300")
    await queue.runner(burst=True).run()
    out = (await queue.output(job.id))[1]
    assert out.total == 3000
    assert out.head == b"".join(b"%09d\n" % i for i in range(1, 51))
    assert out.tail == b"".join(b"%09d\n" % i for i in range(251, 301))
    assert out.cut == 2000
    assert b"[\xe2\x80\xa6 2000 bytes not kept \xe2\x80\xa6]" in out.content()


async def test_no_output_is_kept_when_the_limit_is_zero(store: Store) -> None:
    queue = _with(store, output_limit=0)
    job = await queue.enqueue("echo hidden; echo visible-in-error >&2; exit 1", max_retries=0)
    await queue.runner(burst=True).run()
    assert await queue.output(job.id) == {}
    assert "visible-in-error" in ((await queue.get(job.id)).last_error or "")


async def test_each_attempt_has_its_own_output_and_history(store: Store) -> None:
    queue = Queue(store, Settings(backoff_base=1.0, backoff_max=0.01, lease_seconds=2.0))
    job = await queue.enqueue('echo "attempt $QUEUECTL_ATTEMPT"; exit $((3 - QUEUECTL_ATTEMPT))')
    await queue.runner(burst=True).run()
    history = await queue.attempts(job.id)
    assert [(a.number, a.exit_code, a.reason) for a in history] == [
        (1, 2, "exit"),
        (2, 1, "exit"),
        (3, 0, "exit"),
    ]
    for attempt in history:
        assert attempt.ended_at is not None
        assert attempt.started_at <= attempt.ended_at
        assert attempt.pid is not None
    assert (await queue.output(job.id, attempt=1))[1].content() == b"attempt 1\n"
    assert (await queue.output(job.id))[1].content() == b"attempt 3\n"
    assert (await queue.get(job.id)).state == JobState.COMPLETED


async def test_following_yields_output_while_the_job_runs(queue: Queue) -> None:
    import asyncio

    job = await queue.enqueue(
        "for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo bye >&2; exit 4",
        max_retries=0,
    )
    runner = queue.runner(burst=True)
    running = asyncio.create_task(runner.run())
    seen: list[tuple[int, bytes]] = []
    first_tick_while_running = None
    async for stream, data in queue.follow(job.id, poll=0.05):
        if first_tick_while_running is None:
            first_tick_while_running = (await queue.get(job.id)).state == JobState.PROCESSING
        seen.append((stream, data))
    await running
    assert first_tick_while_running
    assert b"".join(d for s, d in seen if s == 1) == b"tick 1\ntick 2\ntick 3\n"
    assert b"".join(d for s, d in seen if s == 2) == b"bye\n"


async def test_purging_a_job_purges_its_output_and_history(queue: Queue) -> None:
    job = await queue.enqueue("echo something")
    await queue.runner(burst=True).run()
    assert await queue.output(job.id)
    assert await queue.purge() == 1
    await queue.enqueue("true", id=job.id)  # the id is free again, with nothing attached
    assert await queue.attempts(job.id) == []
    assert await queue.output(job.id) == {}
