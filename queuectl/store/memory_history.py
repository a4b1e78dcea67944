"""The memory store's record of attempts and their output, apart from the jobs themselves.

A part of its own because it changes with what the history keeps (attempt fields,
output streams), not with the job table's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from queuectl.domain.models import Attempt, Job, JobOutput, RunnerInfo
from queuectl.store.base import OutputWrite

__all__ = ["MemoryHistory"]


class MemoryHistory:
    """Attempts per job, and the output of each attempt by stream."""

    def __init__(self) -> None:
        self._attempts: dict[str, list[Attempt]] = {}
        self._output: dict[tuple[str, int, int], JobOutput] = {}

    def start(self, job: Job, runner_id: str, runner: RunnerInfo | None) -> None:
        """Open the attempt a claim of ``job`` (just claimed) began."""
        assert job.started_at is not None
        self._attempts.setdefault(job.id, []).append(
            Attempt(
                number=job.attempts,
                token=job.token,
                started_at=job.started_at,
                runner_id=runner_id,
                host=runner.host if runner else None,
                pid=runner.pid if runner else None,
            )
        )

    def end(
        self, job: Job, at: datetime, exit_code: int | None, signal: int | None, reason: str
    ) -> None:
        """Close the attempt of ``job``'s current claim."""
        history = self._attempts.get(job.id, [])
        for n, attempt in enumerate(history):
            if attempt.token == job.token:
                history[n] = attempt._replace(
                    ended_at=at, exit_code=exit_code, signal=signal, reason=reason
                )

    def attempts(self, job_id: str) -> list[Attempt]:
        return [
            a._replace(output_lost=max(losses)) if (losses := self._losses(job_id, a.token)) else a
            for a in self._attempts.get(job_id, [])
        ]

    def _losses(self, job_id: str, token: int) -> list[str]:
        return [
            out.lost
            for stream in (1, 2)
            if (out := self._output.get((job_id, token, stream))) is not None and out.lost
        ]

    def write(self, writes: Sequence[OutputWrite]) -> None:
        for w in writes:
            key = (w.job_id, w.token, w.stream)
            old = self._output.get(key, JobOutput())
            self._output[key] = JobOutput(old.head + w.head, w.tail, w.total, old.lost or w.lost)

    def read(self, job_id: str, token: int) -> dict[int, JobOutput]:
        return {
            stream: output
            for (jid, tok, stream), output in self._output.items()
            if jid == job_id and tok == token
        }

    def forget(self, job_id: str) -> None:
        """Drop the history and output of a purged job."""
        self._attempts.pop(job_id, None)
        for key in [k for k in self._output if k[0] == job_id]:
            del self._output[key]
