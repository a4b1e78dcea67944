"""Every statement of the SQLite store, kept as data apart from the code that runs them.

The schema and its migrations are in ``schema.py``; the mapping of rows to models in
``rows.py``. Parameters are named (``:now``) or positional (``?``) as each statement
says; times are REAL seconds since the epoch. The builders at the top make the
variants of the hot statements (per number of queues), cached because a runner sends
them for every batch.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from queuectl.domain.models import JobState
from queuectl.store.base import Finish, OutputWrite

__all__ = [
    "ADD_SCHEDULE",
    "ATTEMPTS",
    "BEAT",
    "BEGIN_WRITE",
    "BUSY_TIMEOUT",
    "CANCEL_RUNNING",
    "CANCEL_UNCLAIMED",
    "CHECKPOINT_PASSIVE",
    "CLAIMS_OF",
    "COUNT",
    "COUNT_BLOCKED",
    "COUNT_OBJECTS",
    "ENDED_DEPS",
    "EXISTING_ID",
    "EXPIRED",
    "FINISHED_SINCE",
    "FINISHED_TOTALS",
    "FIRED",
    "FIRING_STATE",
    "FOUND_IDS",
    "GET",
    "GET_SCHEDULE",
    "HAS_SETTINGS",
    "IDS_FROM",
    "INSERT",
    "INSERT_KEYED",
    "JOB_COLUMNS",
    "JOB_EXISTS",
    "JOURNAL_MODE",
    "KEY_HOLDER",
    "LINK_DEPS",
    "LIST_FIRES",
    "LIST_RUNNERS",
    "LIST_SCHEDULES",
    "LIVE_KEYS",
    "MISSING_DEPS",
    "OLDEST_RUNNABLE",
    "PASS_OVER",
    "PAUSE_SCHEDULE",
    "PRAGMAS",
    "PRUNE_QUEUE_SETTINGS",
    "QUEUE_SETTINGS",
    "RAN",
    "READ_OUTPUT",
    "RECORD_FIRE",
    "REGISTER_RUNNER",
    "RELEASE_CHUNK",
    "REMOVE",
    "REMOVE_SCHEDULE",
    "RENEW_LEASES",
    "REPLACE_SCHEDULE",
    "REQUEST_STOP",
    "REQUEUE",
    "RETRY_DEAD",
    "ROLLBACK_CHUNK",
    "RUNNABLE",
    "RUNNER_COLUMNS",
    "SAVEPOINT_CHUNK",
    "SEQ_END",
    "SET_CAP",
    "SET_PAUSED",
    "SKIPPED",
    "STATES_OF",
    "TRIM_FIRES",
    "UNREGISTER_RUNNER",
    "USER_VERSION",
    "USE_WAL",
    "WAKE_ADDRESSES",
    "WRITE_OUTPUT",
    "claim_settings_sql",
    "claim_sql",
    "exchange_params",
    "exchange_sql",
    "finish_batch",
    "list_page_sql",
    "next_run_at_sql",
    "output_rows",
    "purge_sql",
    "set_user_version",
    "wal_autocheckpoint",
]

# -- the connection --------------------------------------------------------------------
_BUSY_TIMEOUT_MS = 30_000
#: Set on every connection. Recursive triggers are off: the deps_cancel trigger cancels
#: a whole chain itself; fired again for each job it cancels, it would recurse as deep
#: as the chain.
PRAGMAS = (
    f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}; PRAGMA synchronous = NORMAL; "
    "PRAGMA foreign_keys = ON; PRAGMA recursive_triggers = OFF;"
)
#: All a read-only connection needs: to wait for a writer's checkpoint, not fail.
BUSY_TIMEOUT = f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}"
#: Takes the write lock at once, so a transaction never fails to upgrade its lock.
BEGIN_WRITE = "BEGIN IMMEDIATE"
JOURNAL_MODE = "PRAGMA journal_mode"
USE_WAL = "PRAGMA journal_mode = WAL"
USER_VERSION = "PRAGMA user_version"
#: Anything in the file at all (a database that is not queuectl's has tables).
COUNT_OBJECTS = "SELECT count(*) FROM sqlite_master"
CHECKPOINT_PASSIVE = "PRAGMA wal_checkpoint(PASSIVE)"


def set_user_version(version: int) -> str:
    return f"PRAGMA user_version = {version}"


def wal_autocheckpoint(pages: int) -> str:
    """Checkpoint on this connection's commits once the log is past ``pages``."""
    return f"PRAGMA wal_autocheckpoint = {int(pages)}"


# -- columns and predicates ------------------------------------------------------------
JOB_COLUMNS = (
    "id, command, state, attempts, max_retries, run_at, created_at, updated_at, priority, "
    "queue, timeout, exit_code, last_error, started_at, finished_at, runner_id, lease_until, "
    "token, after_ids, blocked, backoff_base, backoff_max, backoff_jitter, cancel_requested, "
    "cwd, env, retry_on, unique_key, ready_at"
)
ATTEMPT_COLUMNS = (
    "number, token, started_at, runner_id, host, pid, ended_at, exit_code, signal, reason"
)
RUNNER_COLUMNS = (
    "id, host, pid, started_at, heartbeat_at, concurrency, pid_start, queues, wake, stop_requested"
)
# Must match the WHERE clause of the partial indexes jobs_claim and jobs_claim_queue.
RUNNABLE = "state IN ('pending', 'failed') AND blocked = 0"
_ORDER = "ORDER BY priority DESC, run_at, seq LIMIT :limit"


# -- claims and finishes ---------------------------------------------------------------
def _general(queue_count: int, *, settings: bool) -> str:
    """The seqs a claim takes from queues that are neither paused nor capped: the rows an
    index yields in claim order, up to :limit.

    INDEXED BY pins the plan (without statistics SQLite may prefer jobs_state and
    sort every runnable job). Several queues: one index range per queue, merged.
    Without ``settings`` (the exchange's own claim), the limit is 0 as soon as some
    queue has a setting, a test SQLite makes once, before it opens the index; with
    ``settings`` (``claim_settings_sql``), queues with one are skipped.
    """
    ready = f"{RUNNABLE} AND run_at <= :now"
    if settings:
        order = _ORDER
    else:
        order = (
            "ORDER BY priority DESC, run_at, seq "
            "LIMIT (CASE WHEN EXISTS (SELECT 1 FROM queue_settings) THEN 0 ELSE :limit END)"
        )
    if queue_count == 0:
        skip = " AND queue NOT IN (SELECT name FROM queue_settings)" if settings else ""
        return (
            f"SELECT seq, priority, run_at FROM jobs INDEXED BY jobs_claim WHERE {ready}{skip} "
            f"{order}"
        )

    def skip_one(i: int) -> str:
        return f" AND NOT EXISTS (SELECT 1 FROM queue_settings WHERE name = :q{i})"

    branches = " UNION ALL ".join(
        f"SELECT * FROM (SELECT seq, priority, run_at FROM jobs INDEXED BY jobs_claim_queue "
        f"WHERE {ready} AND queue = :q{i}{skip_one(i) if settings else ''} {order})"
        for i in range(queue_count)
    )
    if queue_count == 1:
        return branches
    return f"SELECT seq, priority, run_at FROM ({branches}) {_ORDER}"


def _capped(queue_count: int) -> str:
    """The rows a claim may take from capped queues (not paused; among :q0… if given).

    ``room`` is the cap less the queue's processing jobs (SQLite's single writer makes
    that count exact). Each queue's rows come from walking its range of
    jobs_claim_queue one row at a time, up to its room: the next row has the same
    priority and a later (run_at, seq), else the next lower priority, each an index
    seek, so a queue's backlog is never read past the rows taken.
    """
    names = ", ".join(f":q{i}" for i in range(queue_count))
    among = f" AND s.name IN ({names})" if queue_count else ""
    ready = f"{RUNNABLE} AND run_at <= :now"
    first = (
        f"SELECT seq FROM jobs INDEXED BY jobs_claim_queue WHERE {ready} AND queue = lim.name "
        "ORDER BY priority DESC, run_at, seq LIMIT 1"
    )
    same = (
        f"SELECT seq FROM jobs INDEXED BY jobs_claim_queue WHERE {ready} AND queue = w.name "
        "AND priority = w.priority AND (run_at, seq) > (w.run_at, w.seq) "
        "ORDER BY run_at, seq LIMIT 1"
    )
    lower = (
        f"SELECT seq FROM jobs INDEXED BY jobs_claim_queue WHERE {ready} AND queue = w.name "
        "AND priority < w.priority ORDER BY priority DESC, run_at, seq LIMIT 1"
    )
    return f"""
WITH lim (name, room) AS (
    SELECT s.name, min(:limit, s.cap - (
        SELECT count(*) FROM jobs AS r INDEXED BY jobs_lease
        WHERE r.state = 'processing' AND r.queue = s.name))
    FROM queue_settings AS s WHERE s.paused = 0 AND s.cap IS NOT NULL{among}
), walk (name, k, seq, priority, run_at) AS (
    SELECT lim.name, 1, h.seq, h.priority, h.run_at
    FROM lim JOIN jobs AS h ON h.seq = ({first})
    WHERE lim.room > 0
    UNION ALL
    SELECT w.name, w.k + 1, h.seq, h.priority, h.run_at
    FROM walk AS w JOIN lim ON lim.name = w.name
    JOIN jobs AS h ON h.seq = coalesce(({same}), ({lower}))
    WHERE w.k < lim.room
)
SELECT seq, priority, run_at FROM walk"""


def _chosen(queue_count: int) -> str:
    """The seqs the exchange claims, in claim order, up to :limit: the index range(s),
    as long as no queue has a setting. Otherwise none (its limit is 0), and the store
    claims with ``claim_settings_sql`` instead.

    Two statements rather than one with both paths: with the settings path beside the
    usual one, SQLite runs every exchange much slower, even when that path reads
    nothing (docs/architecture.md).
    """
    return f"SELECT seq FROM ({_general(queue_count, settings=False)})"


@functools.cache
def claim_sql(queue_count: int) -> str:
    """A claim alone (the query plan test reads this one)."""
    return f"""
UPDATE jobs SET state = 'processing', attempts = attempts + 1, token = token + 1,
    runner_id = :runner, lease_until = :now + :lease, started_at = :now, updated_at = :now
WHERE seq IN ({_chosen(queue_count)})
RETURNING {JOB_COLUMNS}
"""


#: Whether some queue is paused or capped (the exchange then claims nothing itself).
HAS_SETTINGS = "SELECT EXISTS (SELECT 1 FROM queue_settings)"


@functools.cache
def claim_settings_sql(queue_count: int) -> str:
    """A claim while some queue has a setting: the same index ranges without paused and
    capped queues, merged with what capped queues have room for, so that free slots a
    capped queue cannot fill go to other queues (and a capped queue's turn comes in
    claim order). It runs after the exchange's finishes, whose jobs no longer count."""
    return f"""
UPDATE jobs SET state = 'processing', attempts = attempts + 1, token = token + 1,
    runner_id = :runner, lease_until = :now + :lease, started_at = :now, updated_at = :now
WHERE seq IN (
    SELECT seq FROM (
        SELECT * FROM ({_general(queue_count, settings=True)})
        UNION ALL
        SELECT * FROM ({_capped(queue_count)})
        {_ORDER}
    )
)
RETURNING {JOB_COLUMNS}
"""


def _f(i: int) -> str:
    return f"json_extract(t.v, '$[{i}]')"


def _pick(claimed: str, finished: str) -> str:
    """A column's new value: ``claimed`` for rows being claimed, else ``finished``."""
    return f"CASE WHEN t.v IS NULL THEN {claimed} ELSE {finished} END"


@functools.cache  # built once per queue count: a runner sends it for every batch
def exchange_sql(queue_count: int) -> str:
    """Finish a batch and claim for free slots in ONE statement: one commit, one trip.

    The finishes come in as a JSON array of arrays [id, token, state, delay, counted,
    exit_code, last_error, reason, signal]; a row applies only if its token still
    holds the job (fencing). Rows to claim carry no JSON (t.v IS NULL). Each column
    takes the claim's or the finish's new value. RETURNING gives finished rows (state
    not 'processing', with a flag: a completed job has waiters that may run now) and
    claimed ones (state 'processing'). Dependency and history triggers fire per row.
    """
    return f"""
WITH fin (seq, v) AS (
    SELECT jobs.seq, f.value FROM json_each(:batch) AS f
    JOIN jobs INDEXED BY jobs_id ON jobs.id = json_extract(f.value, '$[0]')
    WHERE jobs.token = json_extract(f.value, '$[1]') AND jobs.state = 'processing'
), todo (seq, v) AS (
    SELECT seq, v FROM fin
    UNION ALL
    SELECT seq, NULL FROM ({_chosen(queue_count)})
)
UPDATE jobs SET
    state = {_pick("'processing'", _f(2))},
    attempts = {_pick("jobs.attempts + 1", "jobs.attempts - 1 + " + _f(4))},
    token = {_pick("jobs.token + 1", "jobs.token")},
    run_at = CASE WHEN t.v IS NOT NULL AND {_f(2)} IN ('pending', 'failed')
        THEN :now + {_f(3)} ELSE jobs.run_at END,
    exit_code = {_pick("jobs.exit_code", _f(5))},
    last_error = {_pick("jobs.last_error", _f(6))},
    last_reason = {_pick("jobs.last_reason", _f(7))},
    last_signal = {_pick("jobs.last_signal", _f(8))},
    started_at = {_pick(":now", "jobs.started_at")},
    finished_at = {_pick("jobs.finished_at", ":now")},
    runner_id = {_pick(":runner", "NULL")},
    lease_until = {_pick(":now + :lease", "NULL")},
    cancel_requested = {_pick("jobs.cancel_requested", "0")},
    updated_at = :now
FROM todo AS t
WHERE jobs.seq = t.seq
RETURNING {JOB_COLUMNS}, jobs.state = 'completed'
    AND EXISTS (SELECT 1 FROM deps WHERE deps.dep_seq = jobs.seq)
"""


def exchange_params(
    finishes: Sequence[Finish],
    runner_id: str,
    now: float,
    lease_seconds: float,
    limit: int,
    queues: Sequence[str],
) -> dict[str, Any]:
    """The parameters of ``exchange_sql(len(queues))`` (``queues`` without duplicates)."""
    params: dict[str, Any] = {
        "batch": finish_batch(finishes),
        "runner": runner_id,
        "now": now,
        "lease": lease_seconds,
        "limit": limit,
    }
    params.update({f"q{i}": name for i, name in enumerate(queues)})
    return params


def finish_batch(finishes: Sequence[Finish]) -> str:
    """The finishes as ``exchange_sql`` reads them (its ``:batch`` parameter)."""
    return json.dumps(
        [
            [
                f.job_id,
                f.token,
                f.state.value,
                f.delay,
                int(f.counted),
                f.exit_code,
                f.last_error,
                f.reason,
                f.signal,
            ]
            for f in finishes
        ]
    )


# -- jobs ------------------------------------------------------------------------------
INSERT = """
INSERT INTO jobs (id, command, state, max_retries, priority, queue, timeout, run_at,
                  created_at, updated_at, after_ids, backoff_base, backoff_max,
                  backoff_jitter, cwd, env, retry_on, unique_key)
VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
# Jobs with unique keys: one whose key a live job holds (or an earlier row) is skipped;
# ``LIVE_KEYS`` then tells who holds each key.
INSERT_KEYED = (
    INSERT
    + """ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'processing', 'failed') DO NOTHING
"""
)
# INDEXED BY: without statistics SQLite may prefer jobs_state, which reads every live job.
LIVE_KEYS = """
SELECT unique_key, id FROM jobs INDEXED BY jobs_unique
WHERE unique_key IN (SELECT value FROM json_each(?)) AND unique_key IS NOT NULL
  AND state IN ('pending', 'processing', 'failed')
"""
# The live job other than $id holding $id's unique key.
KEY_HOLDER = """
SELECT k.unique_key, k.id FROM jobs AS j JOIN jobs AS k INDEXED BY jobs_unique
    ON k.unique_key = j.unique_key
WHERE j.id = ? AND k.id <> j.id AND k.unique_key IS NOT NULL
  AND k.state IN ('pending', 'processing', 'failed')
"""

#: Each chunk of a bulk enqueue runs under a savepoint of the bulk's transaction.
SAVEPOINT_CHUNK = "SAVEPOINT chunk"
ROLLBACK_CHUNK = "ROLLBACK TO chunk"
RELEASE_CHUNK = "RELEASE chunk"

# Dependencies of the jobs just inserted: link rows, then count the unfinished ones.
LINK_DEPS = """
INSERT OR IGNORE INTO deps (dep_seq, job_seq)
SELECT d.seq, j.seq FROM jobs AS j, jobs AS d WHERE j.id = ? AND d.id = ?
"""
MISSING_DEPS = "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT id FROM jobs)"
ENDED_DEPS = (
    "SELECT id, state FROM jobs WHERE id IN (SELECT value FROM json_each(?)) "
    "AND state IN ('dead', 'cancelled')"
)
COUNT_BLOCKED = """
UPDATE jobs SET blocked = (
    SELECT count(*) FROM deps JOIN jobs AS d ON d.seq = deps.dep_seq
    WHERE deps.job_seq = jobs.seq AND d.state <> 'completed')
WHERE id IN (SELECT value FROM json_each(?))
"""


GET = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
EXISTING_ID = "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?)) LIMIT 1"
JOB_EXISTS = "SELECT 1 FROM jobs WHERE id = ?"
# The tallies the triggers keep (schema.py): no read of the jobs themselves.
COUNT = "SELECT queue, name, n FROM tallies WHERE kind = 'state' AND n > 0"
FINISHED_TOTALS = "SELECT queue, name, n FROM tallies WHERE kind = 'finished' AND n > 0"


#: Past every seq: where a page of the newest jobs starts.
SEQ_END = 2**63 - 1


def list_page_sql(*, state: bool, queue: bool, newest: bool = False) -> str:
    """A keyset page: ``:after`` the last seq seen, ``:page`` its size, then the filters.

    ``newest`` walks the same index the other way (from ``SEQ_END`` down).
    """
    where = ("" if not state else " AND state = :state") + (
        "" if not queue else " AND queue = :queue"
    )
    seq, order = ("seq < :after", "seq DESC") if newest else ("seq > :after", "seq")
    return f"SELECT seq, {JOB_COLUMNS} FROM jobs WHERE {seq}{where} ORDER BY {order} LIMIT :page"


def next_run_at_sql(
    states: Iterable[JobState], queues: Sequence[str] | None
) -> tuple[str, list[Any]]:
    """The earliest ``run_at`` of unblocked jobs in ``states`` (and ``queues``)."""
    params: list[Any] = [s.value for s in states]
    where = f"state IN ({', '.join('?' * len(params))}) AND blocked = 0"
    if queues:
        where += f" AND queue IN ({', '.join('?' * len(queues))})"
        params += list(queues)
    return f"SELECT min(run_at) FROM jobs WHERE {where}", params


RETRY_DEAD = (
    f"UPDATE jobs SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now "
    f"WHERE id = :id AND state = 'dead' RETURNING {JOB_COLUMNS}"
)
# One job back to pending (``requeue``): unless a dependency ended dead or cancelled,
# it waits for those not completed (the deps_completed trigger re-blocks its waiters).
REQUEUE = """
UPDATE jobs SET state = 'pending', attempts = 0, run_at = :now, updated_at = :now,
    blocked = (SELECT count(*) FROM deps JOIN jobs AS d ON d.seq = deps.dep_seq
               WHERE deps.job_seq = jobs.seq AND d.state <> 'completed')
WHERE id = :id AND state IN ('completed', 'dead', 'cancelled')
  AND NOT EXISTS (SELECT 1 FROM deps JOIN jobs AS d ON d.seq = deps.dep_seq
                  WHERE deps.job_seq = jobs.seq AND d.state IN ('dead', 'cancelled'))
RETURNING id
"""
STATES_OF = "SELECT id, state FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
# Finished jobs by id; output, attempts and dependency links go with them (cascade).
REMOVE = """
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))
  AND state IN ('completed', 'dead', 'cancelled')
RETURNING id
"""
EXPIRED = f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'processing' AND lease_until < ?"
CLAIMS_OF = f"SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'processing' AND runner_id = ?"

_PURGE = """
DELETE FROM jobs WHERE seq IN (
    SELECT seq FROM jobs INDEXED BY jobs_finished
    WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at < :cutoff
      AND state IN (SELECT value FROM json_each(:states)) {queue}
    LIMIT :limit)
RETURNING seq
"""


def purge_sql(*, queue: bool) -> str:
    """``_PURGE`` for any queue, or for ``:queue`` only."""
    return _PURGE.format(queue="" if not queue else "AND queue = :queue")


CANCEL_UNCLAIMED = """
UPDATE jobs SET state = 'cancelled', last_error = 'cancelled by request',
    last_reason = 'cancel', finished_at = :now, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('pending', 'failed')
RETURNING id
"""
CANCEL_RUNNING = """
UPDATE jobs SET cancel_requested = 1, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'processing'
RETURNING id
"""
FOUND_IDS = "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))"


# -- output and history ----------------------------------------------------------------
def output_rows(writes: Sequence[OutputWrite]) -> list[tuple[Any, ...]]:
    """``WRITE_OUTPUT``'s parameters, one tuple per write."""
    return [(w.token, w.stream, w.head, w.tail, w.total, w.lost, w.job_id) for w in writes]


WRITE_OUTPUT = """
INSERT INTO output (job_seq, token, stream, head, tail, total, lost)
SELECT seq, ?, ?, ?, ?, ?, ? FROM jobs WHERE id = ?
ON CONFLICT (job_seq, token, stream) DO UPDATE SET
    head = CAST(head || excluded.head AS BLOB), tail = excluded.tail, total = excluded.total,
    lost = coalesce(lost, excluded.lost)
"""
READ_OUTPUT = """
SELECT stream, head, tail, total, lost FROM output
WHERE job_seq = (SELECT seq FROM jobs WHERE id = ?) AND token = ?
"""
ATTEMPTS = f"""
SELECT {ATTEMPT_COLUMNS}, (
    SELECT max(lost) FROM output AS o
    WHERE o.job_seq = attempts.job_seq AND o.token = attempts.token
) FROM attempts
WHERE job_seq = (SELECT seq FROM jobs WHERE id = ?) ORDER BY rowid
"""
FINISHED_SINCE = (
    "SELECT count(*) FROM jobs INDEXED BY jobs_finished "
    "WHERE state IN ('completed', 'dead', 'cancelled') AND finished_at > ?"
)

# -- queue settings --------------------------------------------------------------------
# A setting back to its default removes the row (``PRUNE_QUEUE_SETTINGS``, same
# transaction), so that the table holds only queues that are paused or capped.
SET_PAUSED = """
INSERT INTO queue_settings (name, paused) SELECT value, :paused FROM json_each(:names) WHERE 1
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused
"""
SET_CAP = """
INSERT INTO queue_settings (name, cap) VALUES (:name, :cap)
ON CONFLICT (name) DO UPDATE SET cap = excluded.cap
"""
PRUNE_QUEUE_SETTINGS = "DELETE FROM queue_settings WHERE paused = 0 AND cap IS NULL"
QUEUE_SETTINGS = "SELECT name, paused, cap FROM queue_settings ORDER BY name"
# Ids from :prefix on, through jobs_id (BINARY order keeps a prefix's ids together).
IDS_FROM = (
    "SELECT id FROM jobs INDEXED BY jobs_id WHERE id >= :prefix "
    "AND substr(id, 1, length(:prefix)) = :prefix ORDER BY id LIMIT :limit"
)
# The earliest run_at of a queue's runnable jobs: jobs_claim_queue is ordered by
# priority first, so one index seek per distinct priority (few) instead of a read of
# the queue's backlog.
OLDEST_RUNNABLE = f"""
WITH RECURSIVE p (priority) AS (
    SELECT max(priority) FROM jobs INDEXED BY jobs_claim_queue WHERE {RUNNABLE} AND queue = :q
    UNION ALL
    SELECT (SELECT max(priority) FROM jobs INDEXED BY jobs_claim_queue
            WHERE {RUNNABLE} AND queue = :q AND priority < p.priority)
    FROM p WHERE p.priority IS NOT NULL
)
SELECT min((SELECT min(run_at) FROM jobs INDEXED BY jobs_claim_queue
            WHERE {RUNNABLE} AND queue = :q AND priority = p.priority))
FROM p WHERE p.priority IS NOT NULL
"""

# -- runners ---------------------------------------------------------------------------
REGISTER_RUNNER = f"INSERT OR REPLACE INTO runners ({RUNNER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
UNREGISTER_RUNNER = "DELETE FROM runners WHERE id = ?"
LIST_RUNNERS = f"SELECT {RUNNER_COLUMNS} FROM runners ORDER BY started_at"
BEAT = "UPDATE runners SET heartbeat_at = ? WHERE id = ? RETURNING stop_requested"
RENEW_LEASES = (
    "UPDATE jobs SET lease_until = ? WHERE runner_id = ? AND state = 'processing' "
    "RETURNING id, cancel_requested"
)
REQUEST_STOP = (
    "UPDATE runners SET stop_requested = max(stop_requested, ?) "
    "WHERE id IN (SELECT value FROM json_each(?))"
)

WAKE_ADDRESSES = "SELECT wake FROM runners WHERE wake IS NOT NULL"


# -- metrics ---------------------------------------------------------------------------
# The latency histograms the triggers keep in the tallies (schema.py).
HISTOGRAMS = "SELECT kind, queue, name, n FROM tallies WHERE kind IN ('duration', 'wait')"
# A runner's batch of observations, a JSON array of [kind, queue, name, n], added in.
RECORD_OBSERVATIONS = """
INSERT INTO tallies (kind, queue, name, n)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
       json_extract(value, '$[2]'), json_extract(value, '$[3]')
FROM json_each(?) WHERE true
ON CONFLICT DO UPDATE SET n = n + excluded.n
"""
_RUNNABLE = "FROM jobs INDEXED BY jobs_claim_queue WHERE queue = :queue AND {cond} " + (
    "AND state IN ('pending', 'failed') AND blocked = 0"
)
# -- schedules ----------------------------------------------------------------
_SCHEDULE_COLUMNS = """
s.name, s.cron, s.timezone, s.job, s.catch_up, s.no_overlap, s.paused, s.created_at,
s.updated_at, s.cursor, s.last_fire_at, s.last_job_id, j.state, s.missed, s.skipped
"""
GET_SCHEDULE = f"""
SELECT {_SCHEDULE_COLUMNS} FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE s.name = ?
"""
LIST_SCHEDULES = f"""
SELECT {_SCHEDULE_COLUMNS} FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
ORDER BY s.name
"""
ADD_SCHEDULE = """
INSERT INTO schedules (name, cron, timezone, job, catch_up, no_overlap, created_at,
                       updated_at, cursor)
VALUES (:name, :cron, :timezone, :job, :catch_up, :no_overlap, :now, :now, :now)
"""
REPLACE_SCHEDULE = """
UPDATE schedules SET cron = :cron, timezone = :timezone, job = :job, catch_up = :catch_up,
    no_overlap = :no_overlap, updated_at = :now, cursor = max(cursor, :now)
WHERE name = :name
"""
REMOVE_SCHEDULE = "DELETE FROM schedules WHERE name = ?"
PAUSE_SCHEDULE = """
UPDATE schedules SET paused = :paused, updated_at = :now,
    cursor = CASE WHEN paused AND NOT :paused THEN max(cursor, :now) ELSE cursor END
WHERE name = :name
"""
#: The schedule as a firing sees it: whether the tick is still to fire, and whether the
#: last job is unfinished (for no-overlap).
FIRING_STATE = """
SELECT s.paused = 0 AND s.cursor < :at
       AND NOT EXISTS (SELECT 1 FROM schedule_fires
                       WHERE schedule = :name AND at = :at AND kind = 'tick'),
       s.no_overlap AND j.state IN ('pending', 'failed', 'processing')
FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE s.name = :name
"""
RECORD_FIRE = """
INSERT INTO schedule_fires (schedule, at, kind, outcome, job_id, reason, recorded_at)
VALUES (:name, :at, :kind, :outcome, :job_id, :reason, :now)
"""
FIRED = """
UPDATE schedules SET cursor = :at, missed = missed + :missed, last_fire_at = :at,
    last_job_id = :job_id
WHERE name = :name
"""
SKIPPED = """
UPDATE schedules SET cursor = :at, missed = missed + :missed, skipped = skipped + 1
WHERE name = :name
"""
RAN = "UPDATE schedules SET last_fire_at = :now, last_job_id = :job_id WHERE name = :name"
PASS_OVER = """
UPDATE schedules SET cursor = :upto, missed = missed + :missed
WHERE name = :name AND cursor < :upto
"""
#: Keep the newest ``FIRE_HISTORY`` entries: the key's index finds the cut-off.
TRIM_FIRES = """
DELETE FROM schedule_fires WHERE schedule = :name AND at < (
    SELECT at FROM schedule_fires WHERE schedule = :name
    ORDER BY at DESC LIMIT 1 OFFSET :keep)
"""
LIST_FIRES = """
SELECT schedule, at, kind, outcome, job_id, recorded_at, reason FROM schedule_fires
WHERE schedule = ? ORDER BY at DESC, kind DESC LIMIT ?
"""
