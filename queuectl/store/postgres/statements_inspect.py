"""The PostgreSQL store's statements about output, attempt history and cancellation.

Placeholders as in ``postgres_sql.py``: ``{s}`` the quoted schema, ``{now}`` the time.
"""

from __future__ import annotations

__all__ = [
    "ATTEMPTS",
    "CANCEL",
    "CANCELLED_BY_OP",
    "FINISHED_SINCE",
    "READ_OUTPUT",
    "WRITE_OUTPUT",
]

ATTEMPT_COLUMNS = (
    "number, token, started_at, runner_id, host, pid, ended_at, exit_code, signal, reason"
)

# $1..$6 arrays [job id, token, stream, head, tail, total]: ``head`` is appended, the
# rest replaced. A write applies only if it brings news (a larger total): written again
# after a lost reply, it does not append its head twice.
WRITE_OUTPUT = """
INSERT INTO {s}.output AS o (job_seq, token, stream, head, tail, total)
SELECT j.seq, w.token, w.stream, w.head, w.tail, w.total
FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::bytea[], $5::bytea[], $6::bigint[])
    AS w(id, token, stream, head, tail, total)
JOIN {s}.jobs AS j ON j.id = w.id
WHERE j.id = ANY($1::text[])
ON CONFLICT (job_seq, token, stream) DO UPDATE SET
    head = o.head || EXCLUDED.head, tail = EXCLUDED.tail, total = EXCLUDED.total
WHERE o.total < EXCLUDED.total
"""

# $1 job id, $2 token
READ_OUTPUT = """
SELECT stream, head, tail, total FROM {s}.output
WHERE job_seq = (SELECT seq FROM {s}.jobs WHERE id = $1) AND token = $2
"""

# $1 job id: no row when there is no such job; one row of NULLs when it never ran.
ATTEMPTS = f"""
SELECT {", ".join(f"a.{c.strip()}" for c in ATTEMPT_COLUMNS.split(","))}
FROM (SELECT seq FROM {{s}}.jobs WHERE id = $1) AS j
LEFT JOIN {{s}}.attempts AS a ON a.job_seq = j.seq
ORDER BY a.token
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

# $1 now, $2 seconds: through the jobs_finished index.
FINISHED_SINCE = """
SELECT count(*) FROM {s}.jobs
WHERE state IN ('completed', 'dead', 'cancelled')
  AND finished_at > {now} - make_interval(secs => $2)
"""
