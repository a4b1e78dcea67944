"""The SQLite schema as numbered migrations; ``PRAGMA user_version`` records the level."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

# Each migration is a list of statements, applied in one IMMEDIATE transaction.
# Times are REAL seconds since the epoch: cheap to compare and to index. Until the
# first release the schema stays at version 1; later changes append migrations.
MIGRATIONS: list[list[str]] = [
    [
        """
        CREATE TABLE jobs (
            seq          INTEGER PRIMARY KEY,
            id           TEXT    NOT NULL,
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
            token        INTEGER NOT NULL DEFAULT 0,
            after_ids    TEXT,
            blocked      INTEGER NOT NULL DEFAULT 0,
            backoff_base REAL,
            backoff_max  REAL,
            backoff_jitter TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            last_reason  TEXT,
            last_signal  INTEGER
        )
        """,
        # The claim reads one of these indexes in order and stops after LIMIT rows;
        # finished and blocked jobs are not in them, so neither a deep history nor a
        # long dependency chain slows claims down.
        """
        CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        """
        CREATE INDEX jobs_claim_queue ON jobs (queue, priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        "CREATE UNIQUE INDEX jobs_id ON jobs (id)",
        "CREATE INDEX jobs_state ON jobs (state, seq)",
        """
        CREATE INDEX jobs_finished ON jobs (finished_at)
        WHERE state IN ('completed', 'dead', 'cancelled')
        """,
        # Processing jobs are few (the runners' slots): one index serves lease expiry and
        # every lookup by runner, and each claim and finish maintains only this one.
        "CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state = 'processing'",
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
        # job_seq runs after dep_seq. ``blocked`` counts a job's deps not completed yet.
        """
        CREATE TABLE deps (
            dep_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
            job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
            PRIMARY KEY (dep_seq, job_seq)
        ) WITHOUT ROWID
        """,
        "CREATE INDEX deps_job ON deps (job_seq)",
        # Dependencies resolve inside the statement that finishes a job, so they hold
        # across runners and hosts without a separate step that a crash could skip.
        # A job that completes unblocks its waiters by one; one that leaves 'completed'
        # (``retry`` runs it again) blocks them again: ``blocked`` stays the number of
        # a job's dependencies not completed.
        """
        CREATE TRIGGER deps_completed AFTER UPDATE OF state ON jobs
        WHEN (new.state = 'completed') <> (old.state = 'completed')
        BEGIN
            UPDATE jobs
            SET blocked = blocked + CASE WHEN new.state = 'completed' THEN -1 ELSE 1 END,
                ready_at = CASE WHEN new.state = 'completed' THEN new.updated_at
                    ELSE ready_at END
            WHERE seq IN (SELECT job_seq FROM deps WHERE dep_seq = new.seq);
        END
        """,
        # A job that ended dead or cancelled cancels every job waiting on it, directly
        # or through others, in one statement: no trigger recursion (SQLite stops at
        # 1000 levels), so chains of any depth resolve. Each waiter is told which of its
        # own dependencies ended, and how: the job that ended when it is one, else a
        # cancelled one (the bare columns come from the row of min()).
        """
        CREATE TRIGGER deps_cancel AFTER UPDATE OF state ON jobs
        WHEN new.state IN ('dead', 'cancelled') AND old.state NOT IN ('dead', 'cancelled')
        BEGIN
            UPDATE jobs SET state = 'cancelled',
                last_error = 'cancelled: it runs after job ' || r.dep_id
                    || ', which ended ' || r.dep_state,
                updated_at = new.updated_at, finished_at = new.updated_at
            FROM (
                WITH RECURSIVE doomed (seq) AS (
                    SELECT deps.job_seq FROM deps JOIN jobs AS w ON w.seq = deps.job_seq
                    WHERE deps.dep_seq = new.seq AND w.state IN ('pending', 'failed')
                    UNION
                    SELECT deps.job_seq FROM doomed
                    JOIN deps ON deps.dep_seq = doomed.seq
                    JOIN jobs AS w ON w.seq = deps.job_seq
                    WHERE w.state IN ('pending', 'failed')
                )
                SELECT x.seq AS seq, d.id AS dep_id,
                       CASE WHEN d.seq = new.seq THEN new.state ELSE 'cancelled' END
                           AS dep_state,
                       min(CASE WHEN d.seq = new.seq THEN 0 ELSE d.seq END) AS nearest
                FROM doomed AS x
                JOIN deps ON deps.job_seq = x.seq
                JOIN jobs AS d ON d.seq = deps.dep_seq
                WHERE d.seq = new.seq OR d.seq IN (SELECT seq FROM doomed)
                GROUP BY x.seq
            ) AS r
            WHERE jobs.seq = r.seq AND jobs.state IN ('pending', 'failed');
        END
        """,
        # Tallies kept by triggers in the statements that change jobs, so that reading
        # them costs the same at any number of jobs. kind 'state': jobs per (queue,
        # state) now; kind 'finished': outcomes per (queue, outcome) ever recorded,
        # which purge and retention never lower (see docs/architecture.md).
        """
        CREATE TABLE tallies (
            kind  TEXT    NOT NULL,
            queue TEXT    NOT NULL,
            name  TEXT    NOT NULL,
            n     INTEGER NOT NULL,
            PRIMARY KEY (kind, queue, name)
        ) WITHOUT ROWID
        """,
        """
        CREATE TRIGGER tallies_insert AFTER INSERT ON jobs
        BEGIN
            INSERT INTO tallies VALUES ('state', new.queue, new.state, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
        END
        """,
        """
        CREATE TRIGGER tallies_delete AFTER DELETE ON jobs
        BEGIN
            UPDATE tallies SET n = n - 1
            WHERE kind = 'state' AND queue = old.queue AND name = old.state;
        END
        """,
        """
        CREATE TRIGGER tallies_update AFTER UPDATE OF state, queue ON jobs
        WHEN old.state <> new.state OR old.queue <> new.queue
        BEGIN
            UPDATE tallies SET n = n - 1
            WHERE kind = 'state' AND queue = old.queue AND name = old.state;
            INSERT INTO tallies VALUES ('state', new.queue, new.state, 1)
            ON CONFLICT DO UPDATE SET n = n + 1;
            INSERT INTO tallies SELECT 'finished', new.queue, new.state, 1
            WHERE new.state IN ('completed', 'failed', 'dead', 'cancelled')
                AND old.state <> new.state
            ON CONFLICT DO UPDATE SET n = n + 1;
        END
        """,
        # One row per claim (the token names it); triggers keep it in step with the
        # jobs row, so claims and batched finishes stay single statements.
        """
        CREATE TABLE attempts (
            job_seq    INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
            token      INTEGER NOT NULL,
            number     INTEGER NOT NULL,
            runner_id  TEXT,
            host       TEXT,
            pid        INTEGER,
            started_at REAL    NOT NULL,
            ended_at   REAL,
            exit_code  INTEGER,
            signal     INTEGER,
            reason     TEXT,
            UNIQUE (job_seq, token)
        )
        """,
        """
        CREATE TRIGGER attempts_start AFTER UPDATE OF state ON jobs
        WHEN new.state = 'processing' AND old.state <> 'processing'
        BEGIN
            INSERT INTO attempts (job_seq, token, number, runner_id, host, pid, started_at)
            SELECT new.seq, new.token, new.attempts, new.runner_id, r.host, r.pid,
                   new.started_at
            FROM (SELECT 1) LEFT JOIN runners AS r ON r.id = new.runner_id;
        END
        """,
        """
        CREATE TRIGGER attempts_end AFTER UPDATE OF state ON jobs
        WHEN old.state = 'processing' AND new.state <> 'processing'
        BEGIN
            UPDATE attempts SET ended_at = new.finished_at, exit_code = new.exit_code,
                signal = new.last_signal, reason = new.last_reason
            WHERE job_seq = new.seq AND token = old.token;
        END
        """,
        # Each stream of each attempt: the first bytes, a rolling tail, and the count of
        # every byte written (the runner keeps both parts within output_limit).
        """
        CREATE TABLE output (
            job_seq INTEGER NOT NULL REFERENCES jobs (seq) ON DELETE CASCADE,
            token   INTEGER NOT NULL,
            stream  INTEGER NOT NULL,
            head    BLOB    NOT NULL,
            tail    BLOB    NOT NULL,
            total   INTEGER NOT NULL,
            lost    TEXT,
            UNIQUE (job_seq, token, stream)
        )
        """,
        # -- where a job runs, which exits retry, unique keys (issue 19) -------------
        # ``env`` is a JSON object, ``retry_on`` a JSON array; NULL when unset.
        "ALTER TABLE jobs ADD COLUMN cwd TEXT",
        "ALTER TABLE jobs ADD COLUMN env TEXT",
        "ALTER TABLE jobs ADD COLUMN retry_on TEXT",
        "ALTER TABLE jobs ADD COLUMN unique_key TEXT",
        # At most one live job per key. The states are models.LIVE_STATES; jobs without
        # a key are not in the index, so claims and finishes of them maintain nothing.
        """
        CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key)
        WHERE unique_key IS NOT NULL AND state IN ('pending', 'processing', 'failed')
        """,
        # -- queue settings (pause and cap) -------------------------------------------
        # One row per queue that is paused or capped, and none for any other queue: the
        # claim's usual path checks only that the table is empty (statements._chosen).
        # cap: the most jobs of the queue in 'processing' at once, across all runners.
        """
        CREATE TABLE queue_settings (
            name   TEXT    PRIMARY KEY,
            paused INTEGER NOT NULL DEFAULT 0,
            cap    INTEGER
        )
        """,
        # -- Latency histograms (/metrics) ---------------------------------------------
        # When a job's last dependency completed (deps_completed sets it): a job
        # becomes runnable at the later of run_at and ready_at, which is where its
        # wait (queuectl_job_wait_seconds) starts. The histograms themselves are
        # tallies of kinds 'duration' and 'wait' that runners add (see
        # docs/architecture.md): no trigger of their own on the claim and finish path.
        "ALTER TABLE jobs ADD COLUMN ready_at REAL",
        # -- schedules (issue 21) ---------------------------------------------------
        # A schedule's job template is enqueue's JSON object; ``cursor``: every tick up
        # to it was handled. Firing inserts the job and the fire row in one
        # transaction; the row's key refuses a second firing of the same tick. Fire
        # rows name their job by id, with no foreign key: purging jobs keeps them. A
        # skip's ``reason`` is 'overlap' (no_overlap), or 'unique' (a live job held the
        # template's unique key; ``job_id`` names that job).
        """
        CREATE TABLE schedules (
            name         TEXT    PRIMARY KEY,
            cron         TEXT    NOT NULL,
            timezone     TEXT    NOT NULL,
            job          TEXT    NOT NULL,
            catch_up     TEXT    NOT NULL,
            no_overlap   INTEGER NOT NULL,
            paused       INTEGER NOT NULL DEFAULT 0,
            created_at   REAL    NOT NULL,
            updated_at   REAL    NOT NULL,
            cursor       REAL    NOT NULL,
            last_fire_at REAL,
            last_job_id  TEXT,
            missed       INTEGER NOT NULL DEFAULT 0,
            skipped      INTEGER NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE schedule_fires (
            schedule    TEXT NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
            at          REAL NOT NULL,
            kind        TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            job_id      TEXT,
            reason      TEXT,
            recorded_at REAL NOT NULL,
            PRIMARY KEY (schedule, at, kind)
        ) WITHOUT ROWID
        """,
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
