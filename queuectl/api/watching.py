"""Watching jobs from outside: their attempts, their output as it grows, their end.

Everything here reads the store, so it works from any process and, with PostgreSQL,
from any host. Following polls a few times a second (the runner flushes output every
half second); waiting polls with a growing interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from queuectl.domain.errors import QueuectlError
from queuectl.domain.models import FINISHED_STATES, Attempt, Job, JobOutput, JobState
from queuectl.store.base import Store

__all__ = ["WaitTimeout", "attempt_exit_code", "follow_output", "pick_attempt", "wait_for"]


class WaitTimeout(QueuectlError):
    """Jobs were still running or waiting when the timeout passed."""

    exit_code = 124

    def __init__(self, unfinished: Sequence[str], timeout: float) -> None:
        super().__init__(f"timed out after {timeout:g}s; not finished: {', '.join(unfinished)}")
        self.unfinished = list(unfinished)


def pick_attempt(history: list[Attempt], number: int | None) -> Attempt | None:
    """Attempt ``number`` (its latest run, if a hard stop gave one back), or the last."""
    if number is None:
        return history[-1] if history else None
    matching = [a for a in history if a.number == number]
    return matching[-1] if matching else None


def attempt_exit_code(attempt: Attempt) -> int:
    """The shell's view of how an attempt ended: its code, 128+signal, or 1."""
    if attempt.exit_code is not None:
        return attempt.exit_code
    if attempt.signal is not None:
        return 128 + attempt.signal
    return 1


class _Position:
    """How much of one stream a follower has seen, as a count of bytes written."""

    def __init__(self) -> None:
        self.seen = 0

    def new_bytes(self, output: JobOutput) -> bytes:
        parts = []
        if self.seen < len(output.head):
            parts.append(output.head[self.seen :])
            self.seen = len(output.head)
        tail_start = output.total - len(output.tail)
        if self.seen < tail_start:
            parts.append(f"\n[… {tail_start - self.seen} bytes not kept …]\n".encode())
            self.seen = tail_start
        if self.seen < output.total:
            parts.append(output.tail[self.seen - tail_start :])
            self.seen = output.total
        return b"".join(parts)


async def follow_output(
    store: Store, job_id: str, number: int | None = None, *, poll: float = 0.25
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield ``(stream, bytes)`` of an attempt as it is written, until the attempt ends.

    Without ``number``, waits for the job's first attempt if it has not started.
    """
    positions = {1: _Position(), 2: _Position()}
    while True:
        attempt = pick_attempt(await store.attempts(job_id), number)
        if attempt is None:
            job = await store.get(job_id)
            if number is not None or job.state in FINISHED_STATES:
                return  # no such attempt, or the job ended without running
            await asyncio.sleep(poll)
            continue
        ended = attempt.ended_at is not None
        outputs = await store.read_output(job_id, attempt.token)
        for stream in (1, 2):
            if stream in outputs:
                data = positions[stream].new_bytes(outputs[stream])
                if data:
                    yield stream, data
        if ended:
            return
        await asyncio.sleep(poll)


async def wait_for(store: Store, job_ids: Sequence[str], within: float | None) -> list[Job]:
    """Wait until every job is completed, dead or cancelled; WaitTimeout otherwise."""
    loop = asyncio.get_running_loop()
    deadline = None if within is None else loop.time() + within
    done: dict[str, Job] = {}
    delay = 0.05
    while True:
        for job_id in job_ids:
            if job_id not in done:
                job = await store.get(job_id)
                if job.state in FINISHED_STATES:
                    done[job_id] = job
        if len(done) == len(set(job_ids)):
            return [done[job_id] for job_id in job_ids]
        if deadline is not None and loop.time() >= deadline:
            raise WaitTimeout([i for i in job_ids if i not in done], within or 0)
        pause = delay if deadline is None else min(delay, max(0.0, deadline - loop.time()))
        await asyncio.sleep(pause)
        delay = min(delay * 1.5, 0.5)


def all_completed(jobs: Sequence[Job]) -> bool:
    return all(job.state == JobState.COMPLETED for job in jobs)
