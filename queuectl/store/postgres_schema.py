"""The PostgreSQL schema as numbered migrations, kept as data.

Every statement names its tables through ``{s}`` (replaced by the quoted schema name), so
several queues can live in one database, one schema each. The level reached is the
single row of ``{s}.schema_version``; ``postgres.py`` applies what is missing in one
transaction under an advisory lock, so runners that start together migrate once.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "VERSION_TABLE"]

#: Created before any migration runs; holds one row, the schema level.
VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {s}.schema_version (
    version integer NOT NULL
)
"""

# Times are timestamptz taken from the database server's clock, so that hosts with
# skewed clocks agree on run_at, leases and heartbeats.
MIGRATIONS: list[list[str]] = [
    [
        """
        CREATE TABLE {s}.jobs (
            seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id           text        NOT NULL UNIQUE,
            command      text        NOT NULL,
            state        text        NOT NULL CHECK (state IN
                             ('pending', 'processing', 'completed', 'failed', 'dead')),
            attempts     integer     NOT NULL DEFAULT 0,
            max_retries  integer     NOT NULL,
            priority     integer     NOT NULL DEFAULT 0,
            queue        text        NOT NULL DEFAULT 'default',
            timeout      double precision,
            run_at       timestamptz NOT NULL,
            created_at   timestamptz NOT NULL,
            updated_at   timestamptz NOT NULL,
            started_at   timestamptz,
            finished_at  timestamptz,
            exit_code    integer,
            last_error   text,
            runner_id    text,
            lease_until  timestamptz,
            token        bigint      NOT NULL DEFAULT 0,
            -- The store operation that last wrote the row: a retry after a lost reply
            -- looks it up to learn whether its first try committed.
            op_id        bigint
        )
        """,
        # The claim reads this index in order and stops after LIMIT rows; finished
        # jobs are not in it, so a deep history does not slow claims down.
        """
        CREATE INDEX jobs_claim ON {s}.jobs (priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed')
        """,
        # The earliest run_at per runnable state (the idle runner's timer).
        """
        CREATE INDEX jobs_due ON {s}.jobs (state, run_at)
        WHERE state IN ('pending', 'failed')
        """,
        "CREATE INDEX jobs_state ON {s}.jobs (state, seq)",
        "CREATE INDEX jobs_lease ON {s}.jobs (lease_until) WHERE state = 'processing'",
        "CREATE INDEX jobs_runner ON {s}.jobs (runner_id) WHERE state = 'processing'",
        """
        CREATE TABLE {s}.runners (
            id             text        PRIMARY KEY,
            host           text        NOT NULL,
            pid            integer     NOT NULL,
            pid_start      bigint,
            started_at     timestamptz NOT NULL,
            heartbeat_at   timestamptz NOT NULL,
            concurrency    integer     NOT NULL,
            queues         text[]      NOT NULL DEFAULT '{}',
            wake           text,
            stop_requested integer     NOT NULL DEFAULT 0
        )
        """,
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
