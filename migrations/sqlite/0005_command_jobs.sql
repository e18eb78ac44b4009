-- Job kinds are what a worker does (docs/ARCHITECTURE.md, "Queue"): a
-- reconcile of a repository, or a comment command on one (`repo` names
-- it, `payload` holds the command). Events are routed once, at intake.
-- 'event' rows an older version stored stay readable as dead letters.
-- Keep in step with migrations/postgres/0005_command_jobs.sql.
--
-- SQLite cannot alter a CHECK constraint: the table is rebuilt, keeping
-- every row, its id and the AUTOINCREMENT sequence (ids are never reused).
CREATE TABLE jobs_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL CHECK (kind IN ('event', 'reconcile', 'command')),
    payload        TEXT,
    repo           TEXT,
    reason         TEXT,
    source         TEXT,
    delivery       TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    enqueued_at_ms INTEGER NOT NULL,
    due_at_ms      INTEGER NOT NULL,
    leased_by      TEXT,
    lease_until_ms INTEGER,
    last_error     TEXT,
    dead_at_ms     INTEGER,
    rerun_reason   TEXT,
    rerun_at_ms    INTEGER
);
INSERT INTO jobs_new (id, kind, payload, repo, reason, source, delivery, attempts,
                      enqueued_at_ms, due_at_ms, leased_by, lease_until_ms, last_error,
                      dead_at_ms, rerun_reason, rerun_at_ms)
SELECT id, kind, payload, repo, reason, source, delivery, attempts,
       enqueued_at_ms, due_at_ms, leased_by, lease_until_ms, last_error,
       dead_at_ms, rerun_reason, rerun_at_ms
FROM jobs;
DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_new', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_live ON jobs (due_at_ms, id) WHERE dead_at_ms IS NULL;
CREATE UNIQUE INDEX jobs_one_reconcile_per_repo ON jobs (repo)
    WHERE kind = 'reconcile' AND dead_at_ms IS NULL;
