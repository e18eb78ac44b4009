-- When a push of the image was last reported (webhook): a list whose
-- listing started before this is stale, whatever its age. NULL: never.
ALTER TABLE tag_lists ADD COLUMN forgotten_at_ms BIGINT;
