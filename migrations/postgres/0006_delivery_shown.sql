-- Delivery keys are bounded (src/store/intake.rs): an id longer than 128
-- bytes, or with control characters, is stored as its SHA-256, which a
-- Postgres btree index can always hold. `shown` keeps the id as sent, made
-- printable and cut to 256 bytes, for people reading the store.
-- Keep in step with migrations/sqlite/0006_delivery_shown.sql.
ALTER TABLE deliveries ADD COLUMN shown TEXT;
