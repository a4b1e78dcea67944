"""The PostgreSQL store's hot path as data: a batch of finishes and a claim, one statement.

Placeholders as in ``postgres_sql.py``: ``{s}`` the quoted schema, ``{now}`` the time.

A runner's round trip (``Store.exchange``) is this one statement, and so are a bare
claim (an empty batch) and a bare batch of finishes (limit 0): one round trip, one
commit, atomic without BEGIN/COMMIT. Its parts share one snapshot, so a job whose
dependency the batch completes is not claimed by the same statement; the notification
the statement sends (and the runner's next look at the queue) gets it claimed next.
"""

from __future__ import annotations

import functools

from queuectl.store.postgres.statements import JOB_COLUMNS, RUNNABLE

__all__ = ["EXCHANGED_BY_OP", "exchange_sql"]

_J_COLUMNS = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))
_ORDER = "ORDER BY priority DESC, run_at, seq LIMIT $4"

# The batch: $7..$15 arrays [id, token, state, delay, counted, exit_code, last_error,
# reason, signal]. A row applies only if its token still holds the job (fencing).
#
# Rows are found through the unique index on id (``id = ANY``), never by scanning the
# processing jobs (jobs_lease, jobs_state): that costs as many rows as all runners
# hold, yet a planner whose statistics say few jobs are processing would prefer it. So
# the state is compared with a column of the batch (``holding``, behind a MATERIALIZED
# fence), not with a constant that those partial indexes match. Rows are locked in seq
# order, as the heartbeat and cancel lock them, so none of them deadlock.
#
# The dependency triggers (see the schema) resolve the waiters of the jobs the batch
# ends within this statement; ``ended`` closes the attempt each claim opened. ``wakes``:
# the job is runnable again, or it completed and has jobs waiting for it.
_FINISH = """
f AS MATERIALIZED (
    SELECT *, 'processing'::text AS holding
    FROM unnest($7::text[], $8::bigint[], $9::text[], $10::float8[], $11::bool[],
                $12::integer[], $13::text[], $14::text[], $15::integer[])
        AS f(id, token, state, delay, counted, exit_code, last_error, reason, signal)
), target AS (
    SELECT j.seq, j.token, f.state, f.delay, f.counted, f.exit_code, f.last_error,
           f.reason, f.signal
    FROM {s}.jobs AS j JOIN f ON j.id = f.id
    WHERE j.id = ANY($7::text[]) AND j.token = f.token AND j.state = f.holding
    ORDER BY j.seq
    FOR UPDATE OF j
), done AS (
    UPDATE {s}.jobs AS j
    SET state = t.state,
        run_at = CASE WHEN t.state IN ('pending', 'failed')
            THEN {now} + make_interval(secs => t.delay) ELSE j.run_at END,
        attempts = j.attempts - CASE WHEN t.counted THEN 0 ELSE 1 END,
        exit_code = t.exit_code, last_error = t.last_error, finished_at = {now},
        updated_at = {now}, runner_id = NULL, lease_until = NULL, cancel_requested = false,
        op_id = $5
    FROM target AS t
    WHERE j.seq = t.seq
    RETURNING j.seq, j.id, j.state, t.token, t.exit_code, t.signal, t.reason,
        j.state IN ('pending', 'failed') OR j.state = 'completed'
            AND EXISTS (SELECT 1 FROM {s}.deps WHERE deps.dep_seq = j.seq) AS wakes
), ended AS (
    UPDATE {s}.attempts AS a
    SET ended_at = {now}, exit_code = d.exit_code, signal = d.signal, reason = d.reason
    FROM done AS d
    WHERE a.job_seq = d.seq AND a.token = d.token
)"""


def _picked(queue_count: int) -> str:
    """The claim's choice: up to $4 runnable jobs an index yields in claim order, locked.

    $16 the queue (one) or the queues (several, text[]). Several queues: one index
    range per queue, each locked with SKIP LOCKED (a locking clause is not allowed in
    a UNION), then merged.
    """
    ready = f"{RUNNABLE} AND run_at <= {{now}}"
    if queue_count == 0:
        return f"SELECT seq FROM {{s}}.jobs WHERE {ready} {_ORDER} FOR UPDATE SKIP LOCKED"
    if queue_count == 1:
        return (
            f"SELECT seq FROM {{s}}.jobs WHERE {ready} AND queue = $16 {_ORDER} "
            "FOR UPDATE SKIP LOCKED"
        )
    return f"""
    SELECT p.seq FROM unnest($16::text[]) AS q(name) CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM {{s}}.jobs
        WHERE {ready} AND queue = q.name {_ORDER}
        FOR UPDATE SKIP LOCKED
    ) AS p
    ORDER BY p.priority DESC, p.run_at, p.seq LIMIT $4"""


@functools.cache
def exchange_sql(queue_count: int) -> str:
    """Finish a batch, then claim: $1 now, $2 runner id, $3 lease seconds, $4 limit,
    $5 op id, $6 channel, $7..$15 the batch, then $16 the queue(s) when there are any.

    Returns one row per claimed job (none claimed: a single row of NULL job columns),
    each carrying the ids the batch finished (``finished``) and ``woke``, 1 when a
    notification went out with the commit because some job became runnable again
    (itself, or jobs waiting for it). Each claim records its attempt (number, token,
    runner, host and pid from the registry); each finish ends it.

    The claimed rows are updated through ``seq = ANY(…)``: a primary key lookup even in
    a generic plan, where the limit is unknown and a join with ``picked`` could become
    a hash join over the whole table.
    """
    return f"""
WITH {_FINISH}, picked AS ({_picked(queue_count)}
), claimed AS (
    UPDATE {{s}}.jobs AS j
    SET state = 'processing', attempts = j.attempts + 1, token = j.token + 1,
        runner_id = $2, lease_until = {{now}} + make_interval(secs => $3),
        started_at = {{now}}, updated_at = {{now}}, op_id = $5
    WHERE j.seq = ANY(ARRAY(SELECT seq FROM picked))
    RETURNING j.seq, {_J_COLUMNS}
), started AS (
    INSERT INTO {{s}}.attempts (job_seq, token, number, runner_id, host, pid, started_at)
    SELECT c.seq, c.token, c.attempts, $2, r.host, r.pid, c.started_at
    FROM claimed AS c LEFT JOIN {{s}}.runners AS r ON r.id = $2
), summary AS (
    SELECT ARRAY(SELECT id FROM done) AS finished,
           (SELECT count(*) FROM pg_notify($6, 'jobs')
            WHERE EXISTS (SELECT 1 FROM done WHERE wakes)) AS woke
)
SELECT summary.finished, summary.woke, c.*
FROM summary LEFT JOIN claimed AS c ON true
"""


# After a lost reply: what an exchange did, if it committed. $1 runner id, $2 op id,
# $3 the ids of its batch. Its claims still carry its op id (the runner holds them);
# its finishes do unless another claim has taken the job since.
EXCHANGED_BY_OP = f"""
SELECT seq, {JOB_COLUMNS}, false AS claimed FROM {{s}}.jobs
WHERE id = ANY($3::text[]) AND op_id = $2
  AND (state <> 'processing' OR runner_id IS DISTINCT FROM $1)
UNION ALL
SELECT seq, {JOB_COLUMNS}, true FROM {{s}}.jobs
WHERE state = 'processing' AND runner_id = $1 AND op_id = $2
"""
