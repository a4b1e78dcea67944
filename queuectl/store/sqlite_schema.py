"""The SQLite schema as numbered migrations; ``PRAGMA user_version`` records the level."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Each migration is a list of statements, applied in one IMMEDIATE transaction.
# Times are REAL seconds since the epoch: cheap to compare and to index.
MIGRATIONS: list[list[str]] = [
    [
        """
        CREATE TABLE jobs (
            seq          INTEGER PRIMARY KEY,
            id           TEXT    NOT NULL UNIQUE,
            command      TEXT    NOT NULL,
            state        TEXT    NOT NULL,
            attempts     INTEGER NOT NULL DEFAULT 0,
            max_retries  INTEGER NOT NULL,
            priority     INTEGER NOT NULL DEFAULT 0,
            queue        TEXT    NOT NULL DEFAULT 'default',
            timeout      REAL,
            run_at       REAL    NOT NULL,
            created_at   REAL    NOT NULL,
            updated_at   REAL    NOT NULL,
            started_at   REAL,
            finished_at  REAL,
            exit_code    INTEGER,
            last_error   TEXT,
            runner_id    TEXT,
            lease_until  REAL,
            token        INTEGER NOT NULL DEFAULT 0
        )
        """,
        # The claim reads this index in order and stops after LIMIT rows; finished
        # jobs are not in it, so a deep history does not slow claims down.
        """
        CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed')
        """,
        "CREATE INDEX jobs_state ON jobs (state, seq)",
        "CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'processing'",
        "CREATE INDEX jobs_runner ON jobs (runner_id) WHERE state = 'processing'",
        """
        CREATE TABLE runners (
            id             TEXT    PRIMARY KEY,
            host           TEXT    NOT NULL,
            pid            INTEGER NOT NULL,
            pid_start      INTEGER,
            started_at     REAL    NOT NULL,
            heartbeat_at   REAL    NOT NULL,
            concurrency    INTEGER NOT NULL,
            queues         TEXT    NOT NULL DEFAULT '',
            wake           TEXT,
            stop_requested INTEGER NOT NULL DEFAULT 0
        )
        """,
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
