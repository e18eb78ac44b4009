-- imagebump store, Postgres schema v1. Times are unix milliseconds (BIGINT).
-- Keep in step with migrations/sqlite/0001_init.sql: same tables, columns and meaning.

-- Webhook delivery ids already accepted, for replay detection.
CREATE TABLE deliveries (
    source         TEXT    NOT NULL,
    delivery       TEXT    NOT NULL,
    received_at_ms BIGINT  NOT NULL,
    expires_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (source, delivery)
);
CREATE INDEX deliveries_expires ON deliveries (expires_at_ms);

-- The job queue. A row is pending (no live lease), leased (lease_until_ms in
-- the future) or dead (dead_at_ms set). Completed jobs are deleted.
-- Identity column: ids are never reused, so a stale id never names a new job.
CREATE TABLE jobs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('event', 'reconcile')),
    payload        TEXT,
    repo           TEXT,
    reason         TEXT,
    source         TEXT,
    delivery       TEXT,
    attempts       BIGINT  NOT NULL DEFAULT 0,
    enqueued_at_ms BIGINT  NOT NULL,
    due_at_ms      BIGINT  NOT NULL,
    leased_by      TEXT,
    lease_until_ms BIGINT,
    last_error     TEXT,
    dead_at_ms     BIGINT
);
CREATE INDEX jobs_live ON jobs (due_at_ms, id) WHERE dead_at_ms IS NULL;
CREATE INDEX jobs_reconcile_repo ON jobs (repo) WHERE kind = 'reconcile' AND dead_at_ms IS NULL;

-- Tag cache: one row per image (when its list was fetched), one per tag.
-- generation marks the tags seen by the latest save; older ones are removed.
CREATE TABLE tag_lists (
    image         TEXT    PRIMARY KEY,
    fetched_at_ms BIGINT  NOT NULL,
    generation    BIGINT  NOT NULL
);
CREATE TABLE tags (
    image         TEXT    NOT NULL REFERENCES tag_lists (image) ON DELETE CASCADE,
    tag           TEXT    NOT NULL,
    first_seen_ms BIGINT  NOT NULL,
    digest        TEXT,
    generation    BIGINT  NOT NULL,
    PRIMARY KEY (image, tag)
);

-- Versions and update types people asked to ignore, per repo and policy.
CREATE TABLE ignored_versions (
    repo    TEXT NOT NULL,
    policy  TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (repo, policy, version)
);
CREATE TABLE ignored_update_types (
    repo        TEXT NOT NULL,
    policy      TEXT NOT NULL,
    update_type TEXT NOT NULL CHECK (update_type IN ('major', 'minor')),
    PRIMARY KEY (repo, policy, update_type)
);

-- Policies on hold: no bumps proposed while a row exists.
CREATE TABLE holds (
    repo   TEXT NOT NULL,
    policy TEXT NOT NULL,
    PRIMARY KEY (repo, policy)
);
