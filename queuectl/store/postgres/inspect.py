"""Inspection on PostgreSQL: job output, attempt history, throughput, cancellation.

Output lives in the database, so it is readable from every host that reaches it, and
goes with its job when the job is purged (as does the history).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from queuectl.domain.errors import JobNotFound
from queuectl.domain.models import Attempt, JobOutput
from queuectl.store.base import CancelResult, OutputWrite
from queuectl.store.postgres import statements_inspect as isql
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.rows import attempt_from_row, output_params
from queuectl.store.postgres.side import PgCore

__all__ = ["PgInspect"]


class PgInspect(PgCore):
    async def cancel(self, job_ids: Sequence[str]) -> dict[str, CancelResult]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        op_id = secrets.randbits(63)

        async def op(conn: Conn, retrying: bool) -> dict[str, CancelResult]:
            results: dict[str, CancelResult] = dict.fromkeys(ids, "missing")
            rest = ids
            if retrying:  # the jobs an earlier try cancelled would now look finished
                rows = await conn.fetch(self._q(isql.CANCELLED_BY_OP), ids, op_id)
                results.update(dict.fromkeys((r["id"] for r in rows), "cancelled"))
                rest = [i for i in ids if results[i] == "missing"]
            # Again for the others: a flag set again is harmless (its runner told again).
            rows = await conn.fetch(
                self._q(isql.CANCEL), self._at(), rest, self.target.channel, op_id
            )
            results.update((r["id"], r["result"]) for r in rows if r["id"] is not None)
            return results

        return await self._pool.run(op)

    async def write_output(self, writes: Sequence[OutputWrite]) -> None:
        if writes:
            await self._fetch(isql.WRITE_OUTPUT, *output_params(writes))

    async def read_output(self, job_id: str, token: int) -> dict[int, JobOutput]:
        rows = await self._fetch(isql.READ_OUTPUT, job_id, token)
        return {
            row["stream"]: JobOutput(bytes(row["head"]), bytes(row["tail"]), row["total"])
            for row in rows
        }

    async def attempts(self, job_id: str) -> list[Attempt]:
        rows = await self._fetch(isql.ATTEMPTS, job_id)
        if not rows:
            raise JobNotFound(job_id)
        return [attempt_from_row(row) for row in rows if row["token"] is not None]

    async def finished_since(self, seconds: float) -> int:
        rows = await self._fetch(isql.FINISHED_SINCE, self._at(), seconds)
        return int(rows[0][0])
