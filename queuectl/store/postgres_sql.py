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

__all__ = [
    "JOB_COLUMNS",
    "claim_sql",
    "list_page_sql",
    "next_run_at_sql",
    "render",
]

JOB_COLUMNS = (
    "id, command, state, attempts, max_retries, run_at, created_at, updated_at, priority, "
    "queue, timeout, exit_code, last_error, started_at, finished_at, runner_id, lease_until, "
    "token, after_ids, blocked, backoff_base, backoff_max, backoff_jitter"
)
_J_COLUMNS = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))


@functools.cache
def render(sql: str, schema: str) -> str:
    """Fill in the quoted schema and the time source."""
    return sql.replace("{s}", schema).replace("{now}", "coalesce($1::timestamptz, now())")


# Must match the WHERE clause of the partial indexes jobs_claim and jobs_claim_queue.
RUNNABLE = "state IN ('pending', 'failed') AND blocked = 0"
_ORDER = "ORDER BY priority DESC, run_at, seq LIMIT $4"


@functools.cache
def claim_sql(queue_count: int) -> str:
    """The claim: one UPDATE of the rows an index yields in claim order, locked as read.

    $1 now, $2 runner id, $3 lease seconds, $4 limit, $5 op id, then $6 the queue (one)
    or the queues (several, text[]). Several queues: one index range per queue, each
    locked with SKIP LOCKED (a locking clause is not allowed in a UNION), then merged.
    """
    ready = f"{RUNNABLE} AND run_at <= {{now}}"
    if queue_count == 0:
        picked = f"SELECT seq FROM {{s}}.jobs WHERE {ready} {_ORDER} FOR UPDATE SKIP LOCKED"
    elif queue_count == 1:
        picked = (
            f"SELECT seq FROM {{s}}.jobs WHERE {ready} AND queue = $6 {_ORDER} "
            "FOR UPDATE SKIP LOCKED"
        )
    else:
        picked = f"""
    SELECT p.seq FROM unnest($6::text[]) AS q(name) CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM {{s}}.jobs
        WHERE {ready} AND queue = q.name {_ORDER}
        FOR UPDATE SKIP LOCKED
    ) AS p
    ORDER BY p.priority DESC, p.run_at, p.seq LIMIT $4"""
    return f"""
WITH picked AS ({picked})
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
# some job became runnable again (itself, or jobs waiting for it). A finished job keeps
# the run_at it was scheduled for. The dependency triggers (see the schema) resolve the
# waiters of the jobs it ends within this statement.
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
    SET state = t.state,
        run_at = CASE WHEN t.state IN ('pending', 'failed')
            THEN {now} + make_interval(secs => t.delay) ELSE j.run_at END,
        attempts = j.attempts - CASE WHEN t.counted THEN 0 ELSE 1 END,
        exit_code = t.exit_code, last_error = t.last_error, finished_at = {now},
        updated_at = {now}, runner_id = NULL, lease_until = NULL, op_id = $9
    FROM target AS t
    WHERE j.seq = t.seq
    RETURNING j.seq, j.id, j.state
)
SELECT id FROM done
UNION ALL
SELECT NULL FROM pg_notify($10, 'jobs')
WHERE EXISTS (SELECT 1 FROM done WHERE state IN ('pending', 'failed'))
   OR EXISTS (SELECT 1 FROM done JOIN {s}.deps ON deps.dep_seq = done.seq
              WHERE done.state = 'completed')
"""

FINISHED_BY_OP = "SELECT id FROM {s}.jobs WHERE id = ANY($1::text[]) AND op_id = $2"

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
