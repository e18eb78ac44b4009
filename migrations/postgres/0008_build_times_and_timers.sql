-- Build times of image manifests, by manifest digest: what a digest's
-- config says never changes, so each is fetched once, ever (tags.order:
-- newest, minReleaseAge where no first-seen time is known). created_ms
-- NULL: the config has no created time.
CREATE TABLE build_times (
    digest     TEXT PRIMARY KEY,
    created_ms BIGINT
);

-- Reconciles asked for a later time (a tag comes of its release age):
-- the earliest one per repository. The duties turn a due timer into a
-- reconcile in one transaction (store/times.rs).
CREATE TABLE repo_timers (
    repo      TEXT    PRIMARY KEY,
    due_at_ms BIGINT NOT NULL,
    reason    TEXT    NOT NULL
);

-- When the image was first listed: tags already there then have been
-- there at least since, whenever they were made; a first-seen time after
-- it is when the tag appeared. Lists saved before this column count from
-- their oldest tag.
ALTER TABLE tag_lists ADD COLUMN first_listed_ms BIGINT;
UPDATE tag_lists SET first_listed_ms =
    (SELECT MIN(t.first_seen_ms) FROM tags t WHERE t.image = tag_lists.image)
WHERE generation > 0;
