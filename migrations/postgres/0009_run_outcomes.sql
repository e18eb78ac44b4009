-- What each repository's latest run ended with, for the status page and
-- `imagebump status` (src/status/): `ok` or `failed`, and the error of a
-- failed run. NULL for runs recorded before this migration.
ALTER TABLE repo_runs ADD COLUMN outcome TEXT;
ALTER TABLE repo_runs ADD COLUMN error TEXT;
