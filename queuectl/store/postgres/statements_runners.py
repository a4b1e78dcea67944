"""The PostgreSQL store's statements about runners, wake-ups and the clock, as data.

Placeholders as in ``postgres_sql.py``: ``{s}`` the quoted schema, ``{now}`` the time.
"""

from __future__ import annotations

__all__ = [
    "HEARTBEAT",
    "LIST_RUNNERS",
    "NOTIFY",
    "REGISTER",
    "REQUEST_STOP",
    "RUNNER_COLUMNS",
    "SERVER_TIME",
    "UNREGISTER",
]

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
