"""The statements of the PostgreSQL store, kept as data.

``{s}`` stands for the quoted schema and ``{now}`` for the time of the statement:
``$1``, when a clock was injected (tests), else the server's ``now()``. Every statement
that reads or writes a time takes that ``$1``, so all hosts share the server's clock.

Hot paths are single statements (one round trip, atomic without BEGIN/COMMIT): the
claim and the finish are one (``postgres_sql_exchange.py``). Statements that lock
several job rows take their locks in ``seq`` order, so a heartbeat, a cancel and a
batch of finishes never deadlock each other.
"""

from __future__ import annotations

import functools

__all__ = [
    "JOB_COLUMNS",
    "RUNNABLE",
    "list_page_sql",
    "next_run_at_sql",
    "render",
]

JOB_COLUMNS = (
    "id, command, state, attempts, max_retries, run_at, created_at, updated_at, priority, "
    "queue, timeout, exit_code, last_error, started_at, finished_at, runner_id, lease_until, "
    "token, after_ids, blocked, backoff_base, backoff_max, backoff_jitter, cancel_requested"
)


@functools.cache
def render(sql: str, schema: str) -> str:
    """Fill in the quoted schema and the time source."""
    return sql.replace("{s}", schema).replace("{now}", "coalesce($1::timestamptz, now())")


# Must match the WHERE clause of the partial indexes jobs_claim and jobs_claim_queue.
RUNNABLE = "state IN ('pending', 'failed') AND blocked = 0"

# $1 now, $2..$13 arrays of the new jobs, $14 channel. The ids are numbered in the
# order given, so that jobs enqueued together are claimed in that order. ``after``
# comes as one JSON array per job (arrays of arrays must be rectangular).
ENQUEUE = """
WITH new AS (
    INSERT INTO {s}.jobs (id, command, state, max_retries, priority, queue, timeout,
                          run_at, created_at, updated_at, after_ids, backoff_base,
                          backoff_max, backoff_jitter)
    SELECT n.id, n.command, 'pending', n.max_retries, n.priority, n.queue, n.timeout,
           coalesce(n.run_at, {now} + make_interval(secs => n.delay)), {now}, {now},
           CASE WHEN n.after IS NULL THEN '{}'::text[]
                ELSE ARRAY(SELECT jsonb_array_elements_text(n.after::jsonb)) END,
           n.backoff_base, n.backoff_max, n.backoff_jitter
    FROM unnest($2::text[], $3::text[], $4::integer[], $5::integer[], $6::text[],
                $7::float8[], $8::float8[], $9::timestamptz[], $10::text[], $11::float8[],
                $12::float8[], $13::text[]) WITH ORDINALITY
        AS n(id, command, max_retries, priority, queue, timeout, delay, run_at, after,
             backoff_base, backoff_max, backoff_jitter, ord)
    ORDER BY n.ord
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), pg_notify($14, 'jobs')
"""

# Dependencies of the jobs just inserted, in the enqueue's transaction. First the jobs
# named in ``after`` ($1), share-locked in seq order: a finish that would change one
# waits for this transaction, so its trigger sees the links made here, or this one
# waits for the finish and counts the state it left.
LOCK_DEPS = "SELECT id, state FROM {s}.jobs WHERE id = ANY($1::text[]) ORDER BY seq FOR SHARE"
# $1 the waiting job of each link, $2 the job it waits for.
LINK_DEPS = """
INSERT INTO {s}.deps (dep_seq, job_seq)
SELECT d.seq, j.seq
FROM unnest($1::text[], $2::text[]) AS l(job_id, dep_id)
JOIN {s}.jobs AS j ON j.id = l.job_id
JOIN {s}.jobs AS d ON d.id = l.dep_id
ON CONFLICT DO NOTHING
"""
# $1 the waiting jobs: count their dependencies not completed yet.
COUNT_BLOCKED = """
UPDATE {s}.jobs AS j SET blocked = (
    SELECT count(*) FROM {s}.deps JOIN {s}.jobs AS d ON d.seq = deps.dep_seq
    WHERE deps.job_seq = j.seq AND d.state <> 'completed')
WHERE j.id = ANY($1::text[])
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


def list_page_sql(*, state: bool, queue: bool) -> str:
    """A keyset page: $1 the last seq seen, $2 the page size, then the state, the queue.

    With a state, the (state, seq) index serves the filter and the order together.
    """
    where, order = "seq > $1", "seq"
    if state:
        where, order = f"state = $3 AND {where}", "state, seq"
    if queue:
        where += f" AND queue = ${4 if state else 3}"
    return f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE {where} ORDER BY {order} LIMIT $2"


COUNT = "SELECT queue, state, count(*) FROM {s}.jobs GROUP BY queue, state"


def next_run_at_sql(states: list[str], *, queues: bool) -> str:
    """The earliest run_at: one indexed min() per state (and per queue, $1 text[]).

    The states are inlined (they are enum values) so that the planner can match them to
    the partial indexes jobs_due and jobs_due_queue.
    """
    queue = " AND queue = q.name" if queues else ""
    mins = ", ".join(
        f"(SELECT min(run_at) FROM {{s}}.jobs WHERE state = '{state}' AND blocked = 0{queue})"
        for state in states
    )
    if not queues:
        return f"SELECT extract(epoch FROM least({mins}))::float8"
    return (
        f"SELECT extract(epoch FROM min(least({mins})))::float8 FROM unnest($1::text[]) AS q(name)"
    )


# $1 now, $2 states, $3 minimum age in seconds (NULL: any), $4 queue (NULL: any),
# $5 limit. Only finished jobs, found through the jobs_finished index; rows locked by
# someone else (a concurrent purge, a retry) are left for later. Links to and from
# the deleted jobs go with them (ON DELETE CASCADE).
PURGE = """
WITH doomed AS (
    SELECT seq FROM {s}.jobs
    WHERE state IN ('completed', 'dead', 'cancelled') AND state = ANY($2::text[])
      AND finished_at < CASE WHEN $3::float8 IS NULL THEN 'infinity'::timestamptz
                             ELSE {now} - make_interval(secs => $3) END
      AND ($4::text IS NULL OR queue = $4)
    LIMIT $5
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM {s}.jobs WHERE seq IN (SELECT seq FROM doomed) RETURNING 1
)
SELECT count(*) FROM gone
"""

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
