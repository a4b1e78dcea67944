"""Every statement of the PostgreSQL store, kept as data apart from the code that runs them.

``{s}`` stands for the quoted schema and ``{now}`` for the time of the statement:
``$1``, when a clock was injected (tests), else the server's ``now()``. Every statement
that reads or writes a time takes that ``$1``, so all hosts share the server's clock.
``render`` fills both in; the schema's tables and migrations are in ``schema.py``.

Hot paths are single statements (one round trip, atomic without BEGIN/COMMIT): the
claim and the finish are one (``exchange_sql``). Statements that lock several job rows
take their locks in ``seq`` order, so a heartbeat, a cancel and a batch of finishes
never deadlock each other. A statement that a retry must not apply twice stamps the
rows it changes with an operation id, and has a ``…_BY_OP`` companion that finds them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeAlias

__all__ = [
    "ADD_SCHEDULE",
    "ATTEMPTS",
    "CANCEL",
    "CANCELLED_BY_OP",
    "CLAIMS_OF",
    "COUNT_BLOCKED",
    "CREATE_SCHEMA",
    "ENQUEUE",
    "ENQUEUED_ALREADY",
    "ENQUEUE_KEYED",
    "EPOCH_NOW",
    "EXCHANGED_BY_OP",
    "EXISTING_ID",
    "EXPIRED",
    "FINISHED_SINCE",
    "FIRED",
    "FIRE_OF",
    "FIRING_STATE",
    "FOLD_TALLIES",
    "GET",
    "GET_SCHEDULE",
    "HEARTBEAT",
    "IDS_FROM",
    "JOB_COLUMNS",
    "KEY_HOLDER",
    "LINK_DEPS",
    "LIST_FIRES",
    "LIST_RUNNERS",
    "LIST_SCHEDULES",
    "LIVE_KEYS",
    "LOCK_DEPS",
    "LOCK_OWN_DEPS",
    "LOCK_SCHEMA",
    "NOTIFY",
    "OLDEST_RUNNABLE",
    "PASS_OVER",
    "PAUSE_SCHEDULE",
    "PING",
    "PRUNE_QUEUE_SETTINGS",
    "PURGE",
    "QUEUE_SETTINGS",
    "RAN",
    "READ_OUTPUT",
    "RECORD_FIRE",
    "REGISTER",
    "REMOVE",
    "REMOVE_SCHEDULE",
    "REPLACE_SCHEDULE",
    "REQUEST_STOP",
    "REQUEUE",
    "REQUEUED_BY_OP",
    "RETRIED_BY_OP",
    "RETRY_DEAD",
    "RUNNABLE",
    "RUNNER_COLUMNS",
    "RUN_OF",
    "SCHEMA_EXISTS",
    "SCHEMA_LEVEL",
    "SEQ_END",
    "SERVER_TIME",
    "SET_CAP",
    "SET_PAUSED",
    "SET_SCHEMA_LEVEL",
    "SKIPPED",
    "STATES_OF",
    "TABLE_EXISTS",
    "TALLIES",
    "TRIM_FIRES",
    "UNREGISTER",
    "UNSET_SCHEMA_LEVEL",
    "WRITE_OUTPUT",
    "Render",
    "exchange_sql",
    "list_page_sql",
    "next_run_at_sql",
    "render",
]


# -- columns and placeholders ----------------------------------------------------------
JOB_COLUMNS = (
    "id, command, state, attempts, max_retries, run_at, created_at, updated_at, priority, "
    "queue, timeout, exit_code, last_error, started_at, finished_at, runner_id, lease_until, "
    "token, after_ids, blocked, backoff_base, backoff_max, backoff_jitter, cancel_requested, "
    "cwd, env, retry_on, unique_key, ready_at"
)


@functools.cache
def render(sql: str, schema: str) -> str:
    """Fill in the quoted schema and the time source."""
    return sql.replace("{s}", schema).replace("{now}", "coalesce($1::timestamptz, now())")


#: ``render`` bound to one store's schema.
Render: TypeAlias = Callable[[str], str]


# Must match the WHERE clause of the partial indexes jobs_claim and jobs_claim_queue.
RUNNABLE = "state IN ('pending', 'failed') AND blocked = 0"


# -- the schema level ------------------------------------------------------------------
# Before any migration, under a transaction-scoped advisory lock named after the schema
# (``migrate.py``). ``TABLE_EXISTS`` takes the qualified name of the version table.
TABLE_EXISTS = "SELECT to_regclass($1)"
SCHEMA_LEVEL = "SELECT coalesce(max(version), 0) FROM {s}.schema_version"
LOCK_SCHEMA = "SELECT pg_advisory_xact_lock(hashtext($1))"
SCHEMA_EXISTS = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)"
CREATE_SCHEMA = "CREATE SCHEMA {s}"
UNSET_SCHEMA_LEVEL = "DELETE FROM {s}.schema_version"
SET_SCHEMA_LEVEL = "INSERT INTO {s}.schema_version (version) VALUES ($1)"


# -- enqueue ---------------------------------------------------------------------------
# $1 now, $2..$17 arrays of the new jobs, $18 channel. The ids are numbered in the
# order given, so that jobs enqueued together are claimed in that order. ``after`` and
# ``retry_on`` come as one JSON array per job (arrays of arrays must be rectangular).
_ENQUEUE = """
WITH new AS (
    INSERT INTO {s}.jobs (id, command, state, max_retries, priority, queue, timeout,
                          run_at, created_at, updated_at, after_ids, backoff_base,
                          backoff_max, backoff_jitter, cwd, env, retry_on, unique_key)
    SELECT n.id, n.command, 'pending', n.max_retries, n.priority, n.queue, n.timeout,
           coalesce(n.run_at, {now} + make_interval(secs => n.delay)), {now}, {now},
           CASE WHEN n.after IS NULL THEN '{}'::text[]
                ELSE ARRAY(SELECT jsonb_array_elements_text(n.after::jsonb)) END,
           n.backoff_base, n.backoff_max, n.backoff_jitter, n.cwd, n.env::jsonb,
           CASE WHEN n.retry_on IS NOT NULL
                THEN ARRAY(SELECT jsonb_array_elements_text(n.retry_on::jsonb)::integer) END,
           n.unique_key
    FROM unnest($2::text[], $3::text[], $4::integer[], $5::integer[], $6::text[],
                $7::float8[], $8::float8[], $9::timestamptz[], $10::text[], $11::float8[],
                $12::float8[], $13::text[], $14::text[], $15::text[], $16::text[],
                $17::text[]) WITH ORDINALITY
        AS n(id, command, max_retries, priority, queue, timeout, delay, run_at, after,
             backoff_base, backoff_max, backoff_jitter, cwd, env, retry_on, unique_key, ord)
    ORDER BY n.ord
    {conflict}
    RETURNING 1
)
SELECT (SELECT count(*) FROM new), pg_notify($18, 'jobs')
"""
ENQUEUE = _ENQUEUE.replace("{conflict}", "")
# Jobs with unique keys: one whose key a live job holds (or an earlier row) is skipped;
# ``LIVE_KEYS`` then tells who holds each key.
ENQUEUE_KEYED = _ENQUEUE.replace(
    "{conflict}",
    "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL"
    " AND state IN ('pending', 'processing', 'failed') DO NOTHING",
)
LIVE_KEYS = """
SELECT unique_key, id FROM {s}.jobs
WHERE unique_key = ANY($1::text[]) AND unique_key IS NOT NULL
  AND state IN ('pending', 'processing', 'failed')
"""
# The live job other than $1 holding $1's unique key.
KEY_HOLDER = """
SELECT k.unique_key, k.id FROM {s}.jobs AS j JOIN {s}.jobs AS k ON k.unique_key = j.unique_key
WHERE j.id = $1 AND k.id <> j.id AND k.unique_key IS NOT NULL
  AND k.state IN ('pending', 'processing', 'failed')
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


# -- reading jobs ----------------------------------------------------------------------
GET = f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE id = $1"


#: Past every seq: where a page of the newest jobs starts.
SEQ_END = 2**63 - 1


def list_page_sql(*, state: bool, queue: bool, newest: bool = False) -> str:
    """A keyset page: $1 the last seq seen, $2 the page size, then the state, the queue.

    With a state, the (state, seq) index serves the filter and the order together;
    ``newest`` walks the same index the other way (from ``SEQ_END`` down).
    """
    where, order = ("seq < $1", "seq DESC") if newest else ("seq > $1", "seq")
    if state:
        where, order = (
            f"state = $3 AND {where}",
            f"state DESC, {order}" if newest else f"state, {order}",
        )
    if queue:
        where += f" AND queue = ${4 if state else 3}"
    return f"SELECT seq, {JOB_COLUMNS} FROM {{s}}.jobs WHERE {where} ORDER BY {order} LIMIT $2"


# The tallies the triggers keep (schema.py), $1 their kind: the folded rows plus the
# deltas not folded yet, so no read of the jobs themselves.
TALLIES = """
SELECT queue, name, sum(n)::bigint AS n FROM (
    SELECT queue, name, n FROM {s}.tallies WHERE kind = $1
    UNION ALL
    SELECT queue, name, n FROM {s}.tally_deltas WHERE kind = $1
) AS t
GROUP BY queue, name HAVING sum(n) > 0
"""
# The deltas into the tallies, in one statement: a reader sees them either side.
# Sorted, so that two folds lock the tallies' rows in the same order.
FOLD_TALLIES = """
WITH moved AS (DELETE FROM {s}.tally_deltas RETURNING kind, queue, name, n)
INSERT INTO {s}.tallies (kind, queue, name, n)
SELECT kind, queue, name, sum(n) FROM moved GROUP BY kind, queue, name
ORDER BY kind, queue, name
ON CONFLICT (kind, queue, name) DO UPDATE SET n = {s}.tallies.n + excluded.n
"""


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


# -- changing jobs ---------------------------------------------------------------------
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

# ``requeue``, one job at a time ($2 its id): first its dependencies' rows are locked
# (shared), so none can finish between the count of those not completed and the commit.
LOCK_OWN_DEPS = """
SELECT d.seq FROM {s}.deps JOIN {s}.jobs AS d ON d.seq = deps.dep_seq
WHERE deps.job_seq = (SELECT seq FROM {s}.jobs WHERE id = $1)
ORDER BY d.seq FOR SHARE OF d
"""
# $1 now, $2 id, $3 op id. Back to pending unless a dependency ended dead or cancelled;
# it waits for those not completed (the deps_completed trigger re-blocks its waiters).
REQUEUE = """
UPDATE {s}.jobs AS j SET state = 'pending', attempts = 0, run_at = {now},
    updated_at = {now}, op_id = $3,
    blocked = (SELECT count(*) FROM {s}.deps JOIN {s}.jobs AS d ON d.seq = deps.dep_seq
               WHERE deps.job_seq = j.seq AND d.state <> 'completed')
WHERE j.id = $2 AND j.state IN ('completed', 'dead', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM {s}.deps JOIN {s}.jobs AS d ON d.seq = deps.dep_seq
                  WHERE deps.job_seq = j.seq AND d.state IN ('dead', 'cancelled'))
RETURNING j.id
"""
REQUEUED_BY_OP = "SELECT id FROM {s}.jobs WHERE id = ANY($1::text[]) AND op_id = $2"
STATES_OF = "SELECT id, state FROM {s}.jobs WHERE id = ANY($1::text[])"
# Finished jobs by id, and the states of the others; output, attempts and dependency
# links go with them (cascade).
REMOVE = """
WITH found AS (
    SELECT seq, id, state FROM {s}.jobs WHERE id = ANY($1::text[]) ORDER BY seq FOR UPDATE
), gone AS (
    DELETE FROM {s}.jobs WHERE seq IN (
        SELECT seq FROM found WHERE state IN ('completed', 'dead', 'cancelled'))
    RETURNING id
)
SELECT id, id IN (SELECT id FROM gone) AS removed FROM found
"""

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

# $1 now, $2 ids, $3 channel, $4 op id. One UPDATE decides on each job's latest
# version (rows locked in seq order, like every statement that locks several jobs): an
# unclaimed job is cancelled (the dependency triggers cancel its waiters) and stamped
# with the op id; a processing one is flagged for its runner, which a ``control``
# notification sends to its heartbeat at once (its op id stays its claim's). Finished
# jobs are not touched; the last part tells them from unknown ids.
CANCEL = """
WITH locked AS (
    SELECT seq FROM {s}.jobs WHERE id = ANY($2::text[]) ORDER BY seq FOR UPDATE
), changed AS (
    UPDATE {s}.jobs AS j SET
        state = CASE WHEN j.state = 'processing' THEN j.state ELSE 'cancelled' END,
        last_error = CASE WHEN j.state = 'processing' THEN j.last_error
                          ELSE 'cancelled by request' END,
        finished_at = CASE WHEN j.state = 'processing' THEN j.finished_at ELSE {now} END,
        op_id = CASE WHEN j.state = 'processing' THEN j.op_id ELSE $4 END,
        cancel_requested = j.state = 'processing',
        updated_at = {now}
    WHERE j.seq IN (SELECT seq FROM locked)
      AND j.state IN ('pending', 'failed', 'processing')
    RETURNING j.id, j.state
)
SELECT id, CASE WHEN state = 'processing' THEN 'requested' ELSE 'cancelled' END AS result
FROM changed
UNION ALL
SELECT id, 'finished' FROM {s}.jobs
WHERE id = ANY($2::text[]) AND id NOT IN (SELECT id FROM changed)
UNION ALL
SELECT NULL, NULL FROM pg_notify($3, 'control')
WHERE EXISTS (SELECT 1 FROM changed WHERE state = 'processing')
"""

# After a lost reply: the jobs a cancel did cancel, if it committed. $1 ids, $2 op id
CANCELLED_BY_OP = """
SELECT id FROM {s}.jobs WHERE id = ANY($1::text[]) AND op_id = $2 AND state = 'cancelled'
"""


# -- the round trip: finish a batch, then claim ----------------------------------------
# A runner's round trip (``Store.exchange``) is one statement, and so are a bare claim
# (an empty batch) and a bare batch of finishes (limit 0): one round trip, one commit,
# atomic without BEGIN/COMMIT. Its parts share one snapshot, so a job whose dependency
# the batch completes is not claimed by the same statement; the notification the
# statement sends (and the runner's next look at the queue) gets it claimed next.
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
    """The claim's choice in queues with no setting: up to $4 runnable jobs an index
    yields in claim order, locked (paused and capped queues are ``_capped``'s).

    $16 the queue (one) or the queues (several, text[]). Several queues: one index
    range per queue, each locked with SKIP LOCKED (a locking clause is not allowed in
    a UNION), then merged. The test for settings is on the queue name alone (or on
    none), so the planner runs it once, or once per queue, and not per job.
    """
    ready = f"{RUNNABLE} AND run_at <= {{now}}"
    if queue_count == 0:
        # Any queue: with no setting anywhere, the claim index alone; else ``unset``.
        return (
            f"SELECT seq, priority, run_at FROM {{s}}.jobs WHERE {ready} "
            f"AND NOT EXISTS (SELECT 1 FROM {{s}}.queue_settings) {_ORDER} "
            "FOR UPDATE SKIP LOCKED"
        )
    if queue_count == 1:
        return (
            f"SELECT seq, priority, run_at FROM {{s}}.jobs WHERE {ready} AND queue = $16 "
            f"AND NOT EXISTS (SELECT 1 FROM {{s}}.queue_settings WHERE name = $16) {_ORDER} "
            "FOR UPDATE SKIP LOCKED"
        )
    return f"""
    SELECT p.seq, p.priority, p.run_at FROM unnest($16::text[]) AS q(name) CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM {{s}}.jobs
        WHERE {ready} AND queue = q.name
          AND NOT EXISTS (SELECT 1 FROM {{s}}.queue_settings WHERE name = q.name) {_ORDER}
        FOR UPDATE SKIP LOCKED
    ) AS p
    ORDER BY p.priority DESC, p.run_at, p.seq LIMIT $4"""


def _unset(queue_count: int) -> str:
    """Any queue, when some queue has a setting: the claim index, less the queues with
    one (the planner's estimate of that filter is poor, so ``picked`` keeps the plan of
    the usual case free of it)."""
    if queue_count:
        return "SELECT seq, priority, run_at FROM picked WHERE false"
    ready = f"{RUNNABLE} AND run_at <= {{now}}"
    return (
        f"SELECT seq, priority, run_at FROM {{s}}.jobs WHERE {ready} "
        f"AND EXISTS (SELECT 1 FROM {{s}}.queue_settings) "
        f"AND queue <> ALL(ARRAY(SELECT name FROM {{s}}.queue_settings)) {_ORDER} "
        "FOR UPDATE SKIP LOCKED"
    )


def _capped(queue_count: int) -> str:
    """What the claim takes from capped queues (not paused; among $16 if given): each
    queue's room (``queue_room``, which takes the queues' turns in name order, so two
    claims never wait for each other crosswise), then that many of its jobs, locked.
    The order names the queue, as jobs_claim_queue does: with an unknown limit (a
    generic plan) the planner would otherwise walk jobs_claim for the queue's rows.
    A queue with nothing to claim now, or a round trip that claims nothing, takes no
    turn: finishes and other queues' claims never wait for it. (That test is a scalar
    subquery with LIMIT, which the planner keeps per queue; as EXISTS it may become a
    join over every runnable job.)"""
    among = ("", " AND name = $16", " AND name = ANY($16::text[])")[min(queue_count, 2)]
    ready = f"{RUNNABLE} AND run_at <= {{now}}"
    return f"""
    SELECT p.seq, p.priority, p.run_at
    FROM (SELECT name FROM {{s}}.queue_settings
          WHERE cap IS NOT NULL AND NOT paused{among} AND $4 > 0
            AND (SELECT 1 FROM {{s}}.jobs WHERE {ready} AND queue = name
                 ORDER BY queue, priority DESC, run_at, seq LIMIT 1) = 1
          ORDER BY name OFFSET 0) AS c
    CROSS JOIN LATERAL (
        SELECT {{s}}.queue_room(c.name, ARRAY(SELECT seq FROM done)) AS room
    ) AS r
    CROSS JOIN LATERAL (
        SELECT seq, priority, run_at FROM {{s}}.jobs
        WHERE {ready} AND queue = c.name
        ORDER BY queue, priority DESC, run_at, seq LIMIT least(r.room, $4)
        FOR UPDATE SKIP LOCKED
    ) AS p"""


@functools.cache
def exchange_sql(queue_count: int) -> str:
    """Finish a batch, then claim: $1 now, $2 runner id, $3 lease seconds, $4 limit,
    $5 op id, $6 channel, $7..$15 the batch, then $16 the queue(s) when there are any.

    Returns one row per claimed job (none claimed: a single row of NULL job columns),
    each carrying the ids the batch finished (``finished``) and ``woke``, 1 when a
    notification went out with the commit because some job became runnable again
    (itself, or jobs waiting for it). Each claim records its attempt (number, token,
    runner, host and pid from the registry); each finish ends it.

    Jobs of queues with no setting come from ``picked`` (or ``unset``), of capped
    queues from ``capped``; the best $4 of them are claimed. The claimed rows are updated through
    ``seq = ANY(…)``: a primary key lookup even in
    a generic plan, where the limit is unknown and a join with ``picked`` could become
    a hash join over the whole table.
    """
    return f"""
WITH {_FINISH}, picked AS ({_picked(queue_count)}
), unset AS ({_unset(queue_count)}
), capped AS ({_capped(queue_count)}
), chosen AS (
    SELECT seq FROM (
        SELECT * FROM picked UNION ALL SELECT * FROM unset UNION ALL SELECT * FROM capped
    ) AS m
    {_ORDER}
), claimed AS (
    UPDATE {{s}}.jobs AS j
    SET state = 'processing', attempts = j.attempts + 1, token = j.token + 1,
        runner_id = $2, lease_until = {{now}} + make_interval(secs => $3),
        started_at = {{now}}, updated_at = {{now}}, op_id = $5
    WHERE j.seq = ANY(ARRAY(SELECT seq FROM chosen))
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


# -- queue settings --------------------------------------------------------------------
# A setting back to its default removes the row (``PRUNE_QUEUE_SETTINGS``, same
# transaction): the table holds only queues that are paused or capped. Rows are
# written in name order, the order in which claims lock them.
SET_PAUSED = """
INSERT INTO {s}.queue_settings (name, paused)
SELECT name, $2 FROM unnest($1::text[]) AS n(name) ORDER BY name
ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused
"""
SET_CAP = """
INSERT INTO {s}.queue_settings (name, cap) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET cap = EXCLUDED.cap
"""
PRUNE_QUEUE_SETTINGS = "DELETE FROM {s}.queue_settings WHERE NOT paused AND cap IS NULL"
QUEUE_SETTINGS = "SELECT name, paused, cap FROM {s}.queue_settings ORDER BY name"
# $1 prefix, $2 limit: ids from the prefix on, in the id index's order. A collation
# other than C may put other ids among those with the prefix, so the index is read
# for a bounded window ($3 rows) and filtered.
IDS_FROM = """
SELECT id FROM (SELECT id FROM {s}.jobs WHERE id >= $1 ORDER BY id LIMIT $3) AS w
WHERE starts_with(id, $1) ORDER BY id LIMIT $2
"""
# $1 queues: the earliest run_at of each one's runnable jobs, an indexed min() per
# runnable state (jobs_due_queue).
OLDEST_RUNNABLE = """
SELECT q.name, extract(epoch FROM least(
    (SELECT min(run_at) FROM {s}.jobs WHERE state = 'pending' AND blocked = 0
        AND queue = q.name),
    (SELECT min(run_at) FROM {s}.jobs WHERE state = 'failed' AND blocked = 0
        AND queue = q.name)))::float8 AS oldest
FROM unnest($1::text[]) AS q(name)
"""


# -- output and history ----------------------------------------------------------------
ATTEMPT_COLUMNS = (
    "number, token, started_at, runner_id, host, pid, ended_at, exit_code, signal, reason"
)

# $1..$7 arrays [job id, token, stream, head, tail, total, lost]: ``head`` is appended,
# the rest replaced (``lost`` kept once set). A write applies only if it brings news (a
# larger total, or a first loss): written again after a lost reply, it does not append
# its head twice.
WRITE_OUTPUT = """
INSERT INTO {s}.output AS o (job_seq, token, stream, head, tail, total, lost)
SELECT j.seq, w.token, w.stream, w.head, w.tail, w.total, w.lost
FROM unnest(
    $1::text[], $2::bigint[], $3::integer[], $4::bytea[], $5::bytea[], $6::bigint[], $7::text[]
) AS w(id, token, stream, head, tail, total, lost)
JOIN {s}.jobs AS j ON j.id = w.id
WHERE j.id = ANY($1::text[])
ON CONFLICT (job_seq, token, stream) DO UPDATE SET
    head = o.head || EXCLUDED.head, tail = EXCLUDED.tail, total = EXCLUDED.total,
    lost = coalesce(o.lost, EXCLUDED.lost)
WHERE o.total < EXCLUDED.total OR (o.lost IS NULL AND EXCLUDED.lost IS NOT NULL)
"""

# $1 job id, $2 token
READ_OUTPUT = """
SELECT stream, head, tail, total, lost FROM {s}.output
WHERE job_seq = (SELECT seq FROM {s}.jobs WHERE id = $1) AND token = $2
"""

# $1 job id: no row when there is no such job; one row of NULLs when it never ran.
ATTEMPTS = f"""
SELECT {", ".join(f"a.{c.strip()}" for c in ATTEMPT_COLUMNS.split(","))}, (
    SELECT max(o.lost) FROM {{s}}.output AS o WHERE o.job_seq = a.job_seq AND o.token = a.token
) AS output_lost
FROM (SELECT seq FROM {{s}}.jobs WHERE id = $1) AS j
LEFT JOIN {{s}}.attempts AS a ON a.job_seq = j.seq
ORDER BY a.token
"""

# $1 now, $2 seconds: through the jobs_finished index.
FINISHED_SINCE = """
SELECT count(*) FROM {s}.jobs
WHERE state IN ('completed', 'dead', 'cancelled')
  AND finished_at > {now} - make_interval(secs => $2)
"""


# -- runners, wake-ups, the clock ------------------------------------------------------
RUNNER_COLUMNS = (
    "id, host, pid, started_at, heartbeat_at, concurrency, pid_start, queues, wake, stop_requested"
)

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

# $1 now, $2 runner id, $3 lease seconds. Returns the held jobs and those of them
# that someone asked to cancel. Also reads the server's clock, so the store
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
    RETURNING id, cancel_requested
)
SELECT (SELECT stop_requested FROM beat) AS stop_requested,
       ARRAY(SELECT id FROM held) AS held,
       ARRAY(SELECT id FROM held WHERE cancel_requested) AS cancel,
       extract(epoch FROM clock_timestamp())::float8 AS server_time
"""

REQUEST_STOP = """
UPDATE {s}.runners SET stop_requested = greatest(stop_requested, $1)
WHERE id = ANY($2::text[])
"""

NOTIFY = "SELECT pg_notify($1, $2)"

SERVER_TIME = "SELECT extract(epoch FROM clock_timestamp())::float8"

#: A listening connection's proof that it is still alive.
PING = "SELECT 1"


# -- metrics ---------------------------------------------------------------------------
# A runner's batch of latency observations ($1..$4: kinds, queues, names, counts), as
# deltas: no row updated in place, so runners never wait on one another here.
RECORD_OBSERVATIONS = """
INSERT INTO {s}.tally_deltas (kind, queue, name, n)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
"""


# -- schedules -------------------------------------------------------------------------
# Times are epoch seconds; ``{epoch}`` is the statement's time ($1, or the server's).
_SCHEDULE_COLUMNS = """
s.name, s.cron, s.timezone, s.job, s.catch_up, s.no_overlap, s.paused, s.created_at,
s.updated_at, s.cursor, s.last_fire_at, s.last_job_id, j.state, s.missed, s.skipped
"""
_EPOCH = "extract(epoch FROM {now})::float8"
GET_SCHEDULE = f"""
SELECT {_SCHEDULE_COLUMNS}
FROM {{s}}.schedules AS s LEFT JOIN {{s}}.jobs AS j ON j.id = s.last_job_id
WHERE s.name = $1
"""
LIST_SCHEDULES = f"""
SELECT {_SCHEDULE_COLUMNS}
FROM {{s}}.schedules AS s LEFT JOIN {{s}}.jobs AS j ON j.id = s.last_job_id
ORDER BY s.name
"""
# $1 now, $2.. name, cron, timezone, job, catch_up, no_overlap.
ADD_SCHEDULE = f"""
INSERT INTO {{s}}.schedules (name, cron, timezone, job, catch_up, no_overlap, created_at,
                             updated_at, cursor)
VALUES ($2, $3, $4, $5, $6, $7, {_EPOCH}, {_EPOCH}, {_EPOCH})
ON CONFLICT (name) DO NOTHING
"""
REPLACE_SCHEDULE = f"""
UPDATE {{s}}.schedules SET cron = $3, timezone = $4, job = $5, catch_up = $6,
    no_overlap = $7, updated_at = {_EPOCH}, cursor = greatest(cursor, {_EPOCH})
WHERE name = $2
"""
REMOVE_SCHEDULE = "DELETE FROM {s}.schedules WHERE name = $1"
# $1 now, $2 name, $3 paused.
PAUSE_SCHEDULE = f"""
UPDATE {{s}}.schedules SET paused = $3, updated_at = {_EPOCH},
    cursor = CASE WHEN paused AND NOT $3 THEN greatest(cursor, {_EPOCH}) ELSE cursor END
WHERE name = $2
"""
# $1 name, $2 tick. Locks the schedule's row: firings of one schedule take turns, and
# the second sees the cursor the first moved.
FIRING_STATE = """
SELECT NOT s.paused AND s.cursor < $2,
       s.no_overlap AND coalesce(j.state IN ('pending', 'failed', 'processing'), false)
FROM {s}.schedules AS s LEFT JOIN {s}.jobs AS j ON j.id = s.last_job_id
WHERE s.name = $1
FOR UPDATE OF s
"""
# $1 now, $2 name, $3 at, $4 kind, $5 outcome, $6 job id, $7 a skip's reason.
RECORD_FIRE = f"""
INSERT INTO {{s}}.schedule_fires (schedule, at, kind, outcome, job_id, reason, recorded_at)
VALUES ($2, $3, $4, $5, $6, $7, {_EPOCH})
ON CONFLICT DO NOTHING
RETURNING 1
"""
RUN_OF = "SELECT 1 FROM {s}.schedule_fires WHERE schedule = $1 AND job_id = $2"
EPOCH_NOW = f"SELECT {_EPOCH}"
FIRE_OF = "SELECT job_id FROM {s}.schedule_fires WHERE schedule = $1 AND at = $2 AND kind = $3"
# $1 name, $2 tick, $3 missed, $4 job id.
FIRED = """
UPDATE {s}.schedules SET cursor = $2, missed = missed + $3, last_fire_at = $2,
    last_job_id = $4
WHERE name = $1
"""
SKIPPED = """
UPDATE {s}.schedules SET cursor = $2, missed = missed + $3, skipped = skipped + 1
WHERE name = $1
"""
RAN = "UPDATE {s}.schedules SET last_fire_at = $2, last_job_id = $3 WHERE name = $1"
# $1 name, $2 upto, $3 missed.
PASS_OVER = """
UPDATE {s}.schedules SET cursor = $2, missed = missed + $3 WHERE name = $1 AND cursor < $2
"""
# $1 name, $2 entries kept less one: the key's index finds the cut-off.
TRIM_FIRES = """
DELETE FROM {s}.schedule_fires WHERE schedule = $1 AND at < (
    SELECT at FROM {s}.schedule_fires WHERE schedule = $1
    ORDER BY at DESC LIMIT 1 OFFSET $2)
"""
LIST_FIRES = """
SELECT schedule, at, kind, outcome, job_id, recorded_at, reason FROM {s}.schedule_fires
WHERE schedule = $1 ORDER BY at DESC, kind DESC LIMIT $2
"""
