"""The statements of the PostgreSQL store, kept as data.

``{s}`` stands for the quoted schema and ``{now}`` for the time of the statement:
``$1``, when a clock was injected (tests), else the server's ``now()``. Every statement
that reads or writes a time takes that ``$1``, so all hosts share the server's clock.

Hot paths are single statements (one round trip, atomic without BEGIN/COMMIT).
Statements that lock several job rows take their locks in ``seq`` order, so a
heartbeat and a batch of finishes of one runner never deadlock each other.
"""

from __future__ import annotations

import functools

__all__ = ["JOB_COLUMNS", "RUNNER_COLUMNS", "render"]

JOB_COLUMNS = (
    "id, command, state, attempts, max_retries, run_at, created_at, updated_at, priority, "
    "queue, timeout, exit_code, last_error, started_at, finished_at, runner_id, lease_until, "
    "token"
)
RUNNER_COLUMNS = (
    "id, host, pid, started_at, heartbeat_at, concurrency, pid_start, queues, wake, stop_requested"
)
_J_COLUMNS = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))


@functools.cache
def render(sql: str, schema: str) -> str:
    """Fill in the quoted schema and the time source."""
    return sql.replace("{s}", schema).replace("{now}", "coalesce($1::timestamptz, now())")


# $1 now, $2 runner id, $3 lease seconds, $4 limit, $5 op id
CLAIM = f"""
WITH picked AS (
    SELECT seq FROM {{s}}.jobs
    WHERE state IN ('pending', 'failed') AND run_at <= {{now}}
    ORDER BY priority DESC, run_at, seq
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
UPDATE {{s}}.jobs AS j
SET state = 'processing', attempts = j.attempts + 1, token = j.token + 1, runner_id = $2,
    lease_until = {{now}} + make_interval(secs => $3), started_at = {{now}},
    updated_at = {{now}}, op_id = $5
FROM picked
WHERE j.seq = picked.seq
RETURNING j.seq, {_J_COLUMNS}
"""

# A claim whose reply was lost: the jobs it took, if it committed. $1 runner, $2 op id
CLAIMED_BY_OP = f"""
SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs
WHERE runner_id = $1 AND state = 'processing' AND op_id = $2
"""

# $1 now, $2..$8 arrays of the batch, $9 op id, $10 channel. A row applies only if its
# token still holds the job (fencing); a notification goes out, with the commit, when
# some job became runnable again.
FINISH = """
WITH f AS (
    SELECT * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::float8[], $6::bool[],
                         $7::integer[], $8::text[])
        AS f(id, token, state, delay, counted, exit_code, last_error)
), target AS (
    SELECT j.seq, f.state, f.delay, f.counted, f.exit_code, f.last_error
    FROM {s}.jobs AS j JOIN f ON j.id = f.id
    WHERE j.token = f.token AND j.state = 'processing'
    ORDER BY j.seq
    FOR UPDATE OF j
), done AS (
    UPDATE {s}.jobs AS j
    SET state = t.state, run_at = {now} + make_interval(secs => t.delay),
        attempts = j.attempts - CASE WHEN t.counted THEN 0 ELSE 1 END,
        exit_code = t.exit_code, last_error = t.last_error, finished_at = {now},
        updated_at = {now}, runner_id = NULL, lease_until = NULL, op_id = $9
    FROM target AS t
    WHERE j.seq = t.seq
    RETURNING j.id, j.state
)
SELECT id FROM done
UNION ALL
SELECT NULL FROM pg_notify($10, 'jobs')
WHERE EXISTS (SELECT 1 FROM done WHERE state IN ('pending', 'failed'))
"""

FINISHED_BY_OP = "SELECT id FROM {s}.jobs WHERE id = ANY($1::text[]) AND op_id = $2"

# $1 now, $2..$8 arrays of the new jobs, $9 channel. The ids are numbered in the order
# given, so that jobs enqueued together are claimed in that order.
ENQUEUE = """
WITH new AS (
    INSERT INTO {s}.jobs (id, command, state, max_retries, priority, queue, timeout,
                          run_at, created_at, updated_at)
    SELECT n.id, n.command, 'pending', n.max_retries, n.priority, n.queue, n.timeout,
           {now} + make_interval(secs => n.delay), {now}, {now}
    FROM unnest($2::text[], $3::text[], $4::integer[], $5::integer[], $6::text[],
                $7::float8[], $8::float8[]) WITH ORDINALITY
        AS n(id, command, max_retries, priority, queue, timeout, delay, ord)
    ORDER BY n.ord
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), pg_notify($9, 'jobs')
"""

# After a lost reply: how many of the jobs exist exactly as this enqueue would write them.
ENQUEUED_ALREADY = """
SELECT count(*) FROM {s}.jobs AS j
JOIN unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::text[], $6::float8[])
    AS n(id, command, max_retries, priority, queue, timeout) ON j.id = n.id
WHERE j.command = n.command AND j.max_retries = n.max_retries AND j.priority = n.priority
  AND j.queue = n.queue AND j.timeout IS NOT DISTINCT FROM n.timeout
"""

EXISTING_ID = "SELECT id FROM {s}.jobs WHERE id = ANY($1::text[]) LIMIT 1"

GET = f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE id = $1"

# Keyset pages: $1 the last seq seen, $2 the page size (then $3 the state).
LIST_PAGE = f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE seq > $1 ORDER BY seq LIMIT $2"
# With a state, the (state, seq) index serves the filter and the order together.
LIST_PAGE_STATE = f"""
SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs
WHERE state = $3 AND seq > $1
ORDER BY state, seq LIMIT $2
"""

COUNT = "SELECT state, count(*) FROM {s}.jobs GROUP BY state"

# One indexed min() per state (the states are enum values, inlined by the store).
NEXT_RUN_AT = "(SELECT min(run_at) FROM {s}.jobs WHERE state = '%s')"

# $1 now, $2 id, $3 op id
RETRY_DEAD = f"""
UPDATE {{s}}.jobs SET state = 'pending', attempts = 0, run_at = {{now}},
    updated_at = {{now}}, op_id = $3
WHERE id = $2 AND state = 'dead'
RETURNING seq, {JOB_COLUMNS}
"""
RETRIED_BY_OP = f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE id = $1 AND op_id = $2"

# $1 now
EXPIRED = f"""
SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs
WHERE state = 'processing' AND lease_until < {{now}}
ORDER BY seq
"""

CLAIMS_OF = f"""
SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs
WHERE state = 'processing' AND runner_id = $1
ORDER BY seq
"""

# -- runners ------------------------------------------------------------------
# The entry as given (its times come from the store's now(), the server's clock).
REGISTER = f"""
INSERT INTO {{s}}.runners ({RUNNER_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO UPDATE SET
    host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = EXCLUDED.started_at,
    heartbeat_at = EXCLUDED.heartbeat_at, concurrency = EXCLUDED.concurrency,
    pid_start = EXCLUDED.pid_start, queues = EXCLUDED.queues, wake = EXCLUDED.wake,
    stop_requested = EXCLUDED.stop_requested
"""

UNREGISTER = "DELETE FROM {s}.runners WHERE id = $1"

LIST_RUNNERS = f"SELECT {RUNNER_COLUMNS} FROM {{s}}.runners ORDER BY started_at, id"

# $1 now, $2 runner id, $3 lease seconds. Also reads the server's clock, so the store
# can keep its estimate of the offset between the local clock and the server's.
HEARTBEAT = """
WITH beat AS (
    UPDATE {s}.runners SET heartbeat_at = {now} WHERE id = $2 RETURNING stop_requested
), held AS (
    UPDATE {s}.jobs SET lease_until = {now} + make_interval(secs => $3)
    WHERE seq IN (
        SELECT seq FROM {s}.jobs WHERE runner_id = $2 AND state = 'processing'
        ORDER BY seq FOR UPDATE
    )
    RETURNING id
)
SELECT (SELECT stop_requested FROM beat) AS stop_requested,
       ARRAY(SELECT id FROM held) AS held,
       extract(epoch FROM clock_timestamp())::float8 AS server_time
"""

REQUEST_STOP = """
UPDATE {s}.runners SET stop_requested = greatest(stop_requested, $1)
WHERE id = ANY($2::text[])
"""

NOTIFY = "SELECT pg_notify($1, $2)"

SERVER_TIME = "SELECT extract(epoch FROM clock_timestamp())::float8"
