"""The PostgreSQL schema as numbered migrations, kept as data.

Every statement names its tables through ``{s}`` (replaced by the quoted schema name), so
several queues can live in one database, one schema each. The level reached is the
single row of ``{s}.schema_version``; ``migrate.py`` applies what is missing in one
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
                             ('pending', 'processing', 'completed', 'failed', 'dead',
                              'cancelled')),
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
            -- The ids this job runs after, as given, and how many are not completed yet.
            after_ids    text[]      NOT NULL DEFAULT '{}',
            blocked      integer     NOT NULL DEFAULT 0,
            backoff_base   double precision,
            backoff_max    double precision,
            backoff_jitter text,
            -- Someone asked to cancel the job while it was processing (the runner
            -- holding it sees the flag in its heartbeat).
            cancel_requested boolean NOT NULL DEFAULT false,
            -- The store operation that last wrote the row: a retry after a lost reply
            -- looks it up to learn whether its first try committed.
            op_id        bigint
        )
        """,
        # The claim reads one of these indexes in order and stops after LIMIT rows;
        # finished and blocked jobs are not in them, so neither a deep history nor a
        # long dependency chain slows claims down.
        """
        CREATE INDEX jobs_claim ON {s}.jobs (priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        """
        CREATE INDEX jobs_claim_queue ON {s}.jobs (queue, priority DESC, run_at, seq)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        # The earliest run_at per runnable state, in all queues or in one (the idle
        # runner's timer).
        """
        CREATE INDEX jobs_due ON {s}.jobs (state, run_at)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        """
        CREATE INDEX jobs_due_queue ON {s}.jobs (queue, state, run_at)
        WHERE state IN ('pending', 'failed') AND blocked = 0
        """,
        "CREATE INDEX jobs_state ON {s}.jobs (state, seq)",
        """
        CREATE INDEX jobs_finished ON {s}.jobs (finished_at)
        WHERE state IN ('completed', 'dead', 'cancelled')
        """,
        # Processing jobs are few (the runners' slots): one index serves lease expiry and
        # every lookup by runner, and each claim and finish maintains only this one.
        "CREATE INDEX jobs_lease ON {s}.jobs (lease_until) WHERE state = 'processing'",
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
        # job_seq runs after dep_seq.
        """
        CREATE TABLE {s}.deps (
            dep_seq bigint NOT NULL REFERENCES {s}.jobs (seq) ON DELETE CASCADE,
            job_seq bigint NOT NULL REFERENCES {s}.jobs (seq) ON DELETE CASCADE,
            PRIMARY KEY (dep_seq, job_seq)
        )
        """,
        "CREATE INDEX deps_job ON {s}.deps (job_seq)",
        # Dependencies resolve inside the statement that changes a job's state (a batch
        # of finishes, on any host), so no separate step exists that a crash could skip.
        # A job that completes unblocks its waiters by one; one that leaves 'completed'
        # (``retry`` runs it again) blocks them again: ``blocked`` stays the number of
        # a job's dependencies not completed.
        """
        CREATE FUNCTION {s}.deps_completed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE {s}.jobs
            SET blocked = blocked + CASE WHEN NEW.state = 'completed' THEN -1 ELSE 1 END,
                ready_at = CASE WHEN NEW.state = 'completed' THEN NEW.updated_at
                    ELSE ready_at END
            WHERE seq IN (SELECT job_seq FROM {s}.deps WHERE dep_seq = NEW.seq);
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER deps_completed AFTER UPDATE OF state ON {s}.jobs
        FOR EACH ROW WHEN ((NEW.state = 'completed') <> (OLD.state = 'completed'))
        EXECUTE FUNCTION {s}.deps_completed()
        """,
        # A job that ended dead or cancelled cancels every job waiting on it, directly
        # or through others, in one statement (no trigger recursion as deep as the
        # chain; each waiter visited once). Each is told which of its own dependencies
        # ended, and how: the job that ended when it is one, else a cancelled one.
        """
        CREATE FUNCTION {s}.deps_cancel() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            WITH RECURSIVE doomed (seq) AS (
                SELECT d.job_seq
                FROM {s}.deps AS d JOIN {s}.jobs AS w ON w.seq = d.job_seq
                WHERE d.dep_seq = NEW.seq AND w.state IN ('pending', 'failed')
              UNION
                SELECT d.job_seq
                FROM doomed
                JOIN {s}.deps AS d ON d.dep_seq = doomed.seq
                JOIN {s}.jobs AS w ON w.seq = d.job_seq
                WHERE w.state IN ('pending', 'failed')
            ), reason AS (
                SELECT DISTINCT ON (x.seq) x.seq, dj.id AS dep_id,
                       CASE WHEN dj.seq = NEW.seq THEN NEW.state ELSE 'cancelled' END
                           AS dep_state
                FROM doomed AS x
                JOIN {s}.deps AS d ON d.job_seq = x.seq
                JOIN {s}.jobs AS dj ON dj.seq = d.dep_seq
                WHERE d.dep_seq = NEW.seq OR d.dep_seq IN (SELECT seq FROM doomed)
                ORDER BY x.seq, dj.seq = NEW.seq DESC, dj.seq
            )
            UPDATE {s}.jobs AS j SET state = 'cancelled',
                last_error = 'cancelled: it runs after job ' || r.dep_id
                    || ', which ended ' || r.dep_state,
                updated_at = NEW.updated_at, finished_at = NEW.updated_at
            FROM reason AS r
            WHERE j.seq = r.seq AND j.state IN ('pending', 'failed');
            RETURN NULL;
        END
        $$
        """,
        # Not for the jobs this trigger cancels itself (their waiters are done with them).
        """
        CREATE TRIGGER deps_cancel AFTER UPDATE OF state ON {s}.jobs
        FOR EACH ROW
        WHEN (NEW.state IN ('dead', 'cancelled') AND OLD.state NOT IN ('dead', 'cancelled')
              AND pg_trigger_depth() = 0)
        EXECUTE FUNCTION {s}.deps_cancel()
        """,
        # Tallies, so that reading them costs the same at any number of jobs. kind
        # 'state': jobs per (queue, state) now; kind 'finished': outcomes per (queue,
        # outcome) ever recorded, which purge and retention never lower. Statement
        # triggers append what each statement changed to tally_deltas (no row is
        # updated in place, so concurrent runners never wait on one another there);
        # reads add tallies and tally_deltas, and a runner's upkeep folds the deltas in.
        """
        CREATE TABLE {s}.tallies (
            kind  text   NOT NULL,
            queue text   NOT NULL,
            name  text   NOT NULL,
            n     bigint NOT NULL,
            PRIMARY KEY (kind, queue, name)
        )
        """,
        """
        CREATE TABLE {s}.tally_deltas (
            kind  text   NOT NULL,
            queue text   NOT NULL,
            name  text   NOT NULL,
            n     bigint NOT NULL
        )
        """,
        # Inserted jobs count up, deleted ones down (both triggers name their rows
        # ``changed``).
        """
        CREATE FUNCTION {s}.tallies_rows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {s}.tally_deltas
            SELECT 'state', queue, state,
                   CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END * count(*)
            FROM changed GROUP BY queue, state;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER tallies_insert AFTER INSERT ON {s}.jobs
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.tallies_rows()
        """,
        """
        CREATE TRIGGER tallies_delete AFTER DELETE ON {s}.jobs
        REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.tallies_rows()
        """,
        """
        CREATE FUNCTION {s}.tallies_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            -- One pass: each row whose state changed moves one job from its old
            -- (queue, state) to its new one, and counts an outcome if it is one.
            INSERT INTO {s}.tally_deltas
            SELECT m.kind, m.queue, m.name, sum(m.n)
            FROM old_jobs AS o JOIN new_jobs AS a ON a.seq = o.seq
            CROSS JOIN LATERAL (VALUES
                ('state', o.queue, o.state, -1),
                ('state', a.queue, a.state, 1),
                ('finished', a.queue, CASE WHEN a.state IN
                    ('completed', 'failed', 'dead', 'cancelled') THEN a.state END, 1)
            ) AS m (kind, queue, name, n)
            WHERE (o.state <> a.state OR o.queue <> a.queue) AND m.name IS NOT NULL
              AND (m.kind = 'state' OR o.state <> a.state)
            GROUP BY m.kind, m.queue, m.name HAVING sum(m.n) <> 0;
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER tallies_update AFTER UPDATE ON {s}.jobs
        REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
        FOR EACH STATEMENT EXECUTE FUNCTION {s}.tallies_update()
        """,
        # One row per claim (the token names it). The claim statement inserts it and the
        # finish statement ends it, as parts of those same single statements (see
        # statements.exchange_sql): only they move a job into and out of processing.
        """
        CREATE TABLE {s}.attempts (
            job_seq    bigint      NOT NULL REFERENCES {s}.jobs (seq) ON DELETE CASCADE,
            token      bigint      NOT NULL,
            number     integer     NOT NULL,
            runner_id  text,
            host       text,
            pid        integer,
            started_at timestamptz NOT NULL,
            ended_at   timestamptz,
            exit_code  integer,
            signal     integer,
            reason     text,
            PRIMARY KEY (job_seq, token)
        )
        """,
        # Each stream of each attempt: the first bytes, a rolling tail, and the count of
        # every byte written (the runner keeps both parts within output_limit).
        """
        CREATE TABLE {s}.output (
            job_seq bigint  NOT NULL REFERENCES {s}.jobs (seq) ON DELETE CASCADE,
            token   bigint  NOT NULL,
            stream  integer NOT NULL,
            head    bytea   NOT NULL,
            tail    bytea   NOT NULL,
            total   bigint  NOT NULL,
            lost    text,
            PRIMARY KEY (job_seq, token, stream)
        )
        """,
        # -- where a job runs, which exits retry, unique keys (issue 19) -------------
        """
        ALTER TABLE {s}.jobs
            ADD COLUMN cwd        text,
            ADD COLUMN env        jsonb,
            ADD COLUMN retry_on   integer[],
            ADD COLUMN unique_key text
        """,
        # At most one live job per key. The states are models.LIVE_STATES; jobs without
        # a key are not in the index, so claims and finishes of them maintain nothing.
        """
        CREATE UNIQUE INDEX jobs_unique ON {s}.jobs (unique_key)
        WHERE unique_key IS NOT NULL AND state IN ('pending', 'processing', 'failed')
        """,
        # -- queue settings (pause and cap) -------------------------------------------
        # One row per queue that is paused or capped, none for any other queue. cap: the
        # most jobs of the queue in 'processing' at once, across all runners and hosts.
        """
        CREATE TABLE {s}.queue_settings (
            name   text    PRIMARY KEY,
            paused boolean NOT NULL DEFAULT false,
            cap    integer
        )
        """,
        # A capped queue's room for one claim (statements.exchange_sql). The row lock
        # makes claims of that queue take turns until each commits, and, VOLATILE, the
        # function counts with a snapshot taken after the lock: it sees every claim
        # committed before it. Without it, claims in READ COMMITTED each see the same
        # count and together pass the cap. ``finishing``: jobs the calling statement
        # finishes, whose state change it may not see yet.
        """
        CREATE FUNCTION {s}.queue_room(q text, finishing bigint[]) RETURNS integer
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            most integer;
        BEGIN
            SELECT cap INTO most FROM {s}.queue_settings
            WHERE name = q AND NOT paused AND cap IS NOT NULL FOR UPDATE;
            IF most IS NULL THEN
                RETURN 0;
            END IF;
            RETURN greatest(0, most - (
                SELECT count(*) FROM {s}.jobs
                WHERE state = 'processing' AND queue = q AND seq <> ALL(finishing)));
        END
        $$
        """,
        # -- Latency histograms (/metrics) ---------------------------------------------
        # When a job's last dependency completed (deps_completed sets it): a job
        # becomes runnable at the later of run_at and ready_at, which is where its
        # wait (queuectl_job_wait_seconds) starts. The histograms themselves are
        # tallies of kinds 'duration' and 'wait' that runners add (see
        # docs/architecture.md): no trigger of their own on the claim and finish path.
        "ALTER TABLE {s}.jobs ADD COLUMN ready_at timestamptz",
        # -- schedules (issue 21) ---------------------------------------------------
        # A schedule's job template is enqueue's JSON object; ``cursor``: every tick up
        # to it was handled. Ticks are whole seconds, kept as epoch seconds (exact in
        # float8, and compared with what the runners compute). Firing inserts the job
        # and the fire row in one transaction; the row's key refuses a second firing of
        # the same tick. Fire rows name their job by id, with no foreign key: purging
        # jobs keeps them. A skip's ``reason`` is 'overlap' (no_overlap), or 'unique'
        # (a live job held the template's unique key; ``job_id`` names that job).
        """
        CREATE TABLE {s}.schedules (
            name         text     PRIMARY KEY,
            cron         text     NOT NULL,
            timezone     text     NOT NULL,
            job          text     NOT NULL,
            catch_up     text     NOT NULL,
            no_overlap   boolean  NOT NULL,
            paused       boolean  NOT NULL DEFAULT false,
            created_at   float8   NOT NULL,
            updated_at   float8   NOT NULL,
            cursor       float8   NOT NULL,
            last_fire_at float8,
            last_job_id  text,
            missed       bigint   NOT NULL DEFAULT 0,
            skipped      bigint   NOT NULL DEFAULT 0
        )
        """,
        """
        CREATE TABLE {s}.schedule_fires (
            schedule    text   NOT NULL REFERENCES {s}.schedules (name) ON DELETE CASCADE,
            at          float8 NOT NULL,
            kind        text   NOT NULL,
            outcome     text   NOT NULL,
            job_id      text,
            reason      text,
            recorded_at float8 NOT NULL,
            PRIMARY KEY (schedule, at, kind)
        )
        """,
    ],
]

SCHEMA_VERSION = len(MIGRATIONS)
