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

__all__ = [
    "ATTEMPT_MARK",
    "WaitTimeout",
    "attempt_exit_code",
    "follow_output",
    "job_exit_code",
    "pick_attempt",
    "wait_for",
]


#: The line that ``follow_output`` yields on stderr where a job's next attempt begins.
ATTEMPT_MARK = "--- attempt {number} ---\n"


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


def job_exit_code(job: Job, last: Attempt | None) -> int:
    """The shell's view of a finished job: 0 if it completed, else its last attempt's
    code (128+signal), or 1 when that says nothing (none, or 0 for a cancelled job)."""
    if job.state == JobState.COMPLETED:
        return 0
    return (attempt_exit_code(last) if last is not None else 0) or 1


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
            gap = JobOutput(total=tail_start - self.seen, lost=output.lost)
            parts.append(gap.mark())
            self.seen = tail_start
        if self.seen < output.total:
            parts.append(output.tail[self.seen - tail_start :])
            self.seen = output.total
        return b"".join(parts)


async def follow_output(
    store: Store, job_id: str, number: int | None = None, *, poll: float = 0.25
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield ``(stream, bytes)`` as the job's output is written, until the job ends.

    Without ``number`` it follows the job: it waits for the first attempt if none has
    started, and when an attempt ends with the job not finished (a retry is due) it goes
    on with the next one, yielding ``ATTEMPT_MARK`` of its number on stderr first. With
    ``number`` it follows that one attempt until it ends.
    """
    token: int | None = None  # the attempt being followed
    drained = False  # it ended and everything it wrote was yielded
    positions: dict[int, _Position] = {}
    while True:
        history = await store.attempts(job_id)
        if number is not None:
            attempt = pick_attempt(history, number)
            if attempt is None:
                return  # no such attempt
        else:
            attempt = _next_attempt(history, token, drained)
        if attempt is not None and attempt.token != token:
            if token is not None:
                yield 2, ATTEMPT_MARK.format(number=attempt.number).encode()
            token, drained = attempt.token, False
            positions = {1: _Position(), 2: _Position()}
        if attempt is not None and not drained:
            outputs = await store.read_output(job_id, attempt.token)
            for stream in (1, 2):
                if stream in outputs:
                    data = positions[stream].new_bytes(outputs[stream])
                    if data:
                        yield stream, data
            drained = attempt.ended_at is not None
            if drained:
                if number is not None:
                    return
                continue  # the next attempt may have begun already
        elif attempt is None and (await store.get(job_id)).state in FINISHED_STATES:
            # The job's outcome is written with its last attempt's end, so a finished
            # job has nothing more to show, once no attempt began between the reads.
            if _next_attempt(await store.attempts(job_id), token, drained) is None:
                return
            continue
        await asyncio.sleep(poll)


def _next_attempt(history: list[Attempt], token: int | None, drained: bool) -> Attempt | None:
    """The attempt to follow: the last one to begin with, then each in turn (a poll may
    come after a retry ended, whose output must not be skipped)."""
    if token is None:
        return history[-1] if history else None
    tokens = [a.token for a in history]
    if token not in tokens:
        return history[-1] if history else None  # purged and retried meanwhile
    index = tokens.index(token) + (1 if drained else 0)
    return history[index] if index < len(history) else None


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
