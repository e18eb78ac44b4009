-- Rollback holds (src/rollback/, docs/ARCHITECTURE.md "Rollback holds"): a
-- reference (policy, file, its place among the policy's references in the
-- file) that a person rolled back. `from_tag`/`from_digest` is the version
-- it was rolled back from, `to_tag`/`to_digest` the one it was rolled back
-- to; `commit_sha` and `author` name the rollback commit.
-- Keep in step with migrations/sqlite/0007_rollback_holds.sql.
CREATE TABLE rollback_holds (
    repo        TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    file        TEXT    NOT NULL,
    place       BIGINT  NOT NULL,
    from_tag    TEXT    NOT NULL,
    from_digest TEXT,
    to_tag      TEXT    NOT NULL,
    to_digest   TEXT,
    commit_sha  TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    held_at_ms  BIGINT  NOT NULL,
    PRIMARY KEY (repo, policy, file, place)
);

-- The base branch's HEAD the last detection of a repository looked at.
CREATE TABLE base_heads (
    repo TEXT PRIMARY KEY,
    sha  TEXT NOT NULL
);
