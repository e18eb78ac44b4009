-- Job kinds are what a worker does (docs/ARCHITECTURE.md, "Queue"): a
-- reconcile of a repository, or a comment command on one (`repo` names
-- it, `payload` holds the command). Events are routed once, at intake.
-- 'event' rows an older version stored stay readable as dead letters.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('event', 'reconcile', 'command'));
