-- Build times of image manifests, by manifest digest: what a digest's
-- config says never changes, so each is fetched once, ever (tags.order:
-- newest, minReleaseAge where no first-seen time is known). created_ms
-- NULL: the config has no created time.
CREATE TABLE build_times (
    digest     TEXT PRIMARY KEY,
    created_ms INTEGER
);

-- Reconciles asked for a later time (a tag comes of its release age):
-- the earliest one per repository. The duties turn a due timer into a
-- reconcile in one transaction (store/times.rs).
CREATE TABLE repo_timers (
    repo      TEXT    PRIMARY KEY,
    due_at_ms INTEGER NOT NULL,
    reason    TEXT    NOT NULL
);
