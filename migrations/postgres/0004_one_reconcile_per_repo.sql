-- One live reconcile row per repository (docs/ARCHITECTURE.md, "Queue"):
-- a request that arrives while the repository's reconcile is leased is
-- kept on that row as its follow-up (rerun_reason: the reasons asked,
-- rerun_at_ms: when the first was), which becomes the row's next run once
-- the leased one ends. Claims lease one row at a time, so no two workers
-- ever hold a repository.
ALTER TABLE jobs ADD COLUMN rerun_reason TEXT;
ALTER TABLE jobs ADD COLUMN rerun_at_ms BIGINT;

-- Rows an older version queued: the oldest live reconcile of each
-- repository stays, with a follow-up standing for the others.
UPDATE jobs SET rerun_reason = 'coalesced on upgrade', rerun_at_ms = enqueued_at_ms
WHERE kind = 'reconcile' AND dead_at_ms IS NULL
  AND id = (SELECT MIN(o.id) FROM jobs o
            WHERE o.kind = 'reconcile' AND o.dead_at_ms IS NULL AND o.repo = jobs.repo)
  AND EXISTS (SELECT 1 FROM jobs o
              WHERE o.kind = 'reconcile' AND o.dead_at_ms IS NULL AND o.repo = jobs.repo
                AND o.id <> jobs.id);
DELETE FROM jobs
WHERE kind = 'reconcile' AND dead_at_ms IS NULL
  AND id > (SELECT MIN(o.id) FROM jobs o
            WHERE o.kind = 'reconcile' AND o.dead_at_ms IS NULL AND o.repo = jobs.repo);

DROP INDEX jobs_reconcile_repo;
CREATE UNIQUE INDEX jobs_one_reconcile_per_repo ON jobs (repo)
    WHERE kind = 'reconcile' AND dead_at_ms IS NULL;

-- When each repository's latest reconcile ended (completed or failed), for
-- `min_run_gap`: a reconcile asked by an event runs no sooner than the gap
-- after it.
CREATE TABLE repo_runs (
    repo           TEXT    PRIMARY KEY,
    finished_at_ms BIGINT NOT NULL
);
