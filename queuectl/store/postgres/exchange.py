"""A runner's round trip on PostgreSQL: finish a batch, then claim, in one statement.

``claim``, ``finish`` and ``exchange`` of the store are all this operation (see
``statements.exchange_sql`` for the statement). It is stamped with a random operation
id: when the reply is lost with its connection, the retry first looks for that stamp
on the jobs, to return what the first try did instead of doing it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from queuectl.domain.models import Job
from queuectl.store.base import Finish, OutputWrite
from queuectl.store.postgres import statements as sql
from queuectl.store.postgres.clock import At
from queuectl.store.postgres.connection import Conn
from queuectl.store.postgres.pool import Operation
from queuectl.store.postgres.rows import output_params, sorted_claims

__all__ = ["exchange_op"]

#: The ids finished, the jobs claimed, and whether a job became runnable again.
Exchanged = tuple[set[str], list[Job], bool]


def exchange_op(
    q: sql.Render,
    at: At,
    channel: str,
    finishes: Sequence[Finish],
    runner_id: str,
    limit: int,
    lease_seconds: float,
    queues: Sequence[str] | None,
    outputs: Sequence[OutputWrite] = (),
) -> Operation[Exchanged]:
    """The operation for ``PgPool.run``: the ids finished, the jobs claimed, and whether
    some job became runnable again (a notification went out with the commit).

    ``q`` renders a statement for the store's schema; ``at()`` is the injected time,
    or None for the server's clock.
    """
    op_id = secrets.randbits(63)
    names = list(dict.fromkeys(queues or ()))
    query = q(sql.exchange_sql(min(len(names), 2)))
    where: tuple[object, ...] = () if not names else (names[0] if len(names) == 1 else names,)
    ids = [f.job_id for f in finishes]
    batch = (
        ids,
        [f.token for f in finishes],
        [f.state.value for f in finishes],
        [f.delay for f in finishes],
        [f.counted for f in finishes],
        [f.exit_code for f in finishes],
        [f.last_error for f in finishes],
        [f.reason for f in finishes],
        [f.signal for f in finishes],
    )

    write_output = q(sql.WRITE_OUTPUT) if outputs else ""
    output_rows = output_params(outputs) if outputs else ()

    async def exchange(conn: Conn) -> Exchanged:
        rows = await conn.fetch(
            query, at(), runner_id, lease_seconds, limit, op_id, channel, *batch, *where
        )
        claimed = [r for r in rows if r["id"] is not None]
        return set(rows[0]["finished"]), sorted_claims(claimed), bool(rows[0]["woke"])

    async def op(conn: Conn, retrying: bool) -> Exchanged:
        if retrying:
            rows = await conn.fetch(q(sql.EXCHANGED_BY_OP), runner_id, op_id, ids)
            if rows:  # the first try committed (its output too); its notification went
                finished = {r["id"] for r in rows if not r["claimed"]}
                return finished, sorted_claims([r for r in rows if r["claimed"]]), False
        if not outputs:
            return await exchange(conn)
        # Written again after a lost reply, output applies only where it brings news.
        async with conn.transaction():
            await conn.execute(write_output, *output_rows)
            if not ids and limit <= 0:
                return set(), [], False
            return await exchange(conn)

    return op
