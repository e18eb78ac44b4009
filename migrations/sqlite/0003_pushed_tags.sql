-- Tags a webhook reported pushed and no listing has seen yet: the next
-- reconcile confirms each with one manifest HEAD and merges it into the
-- cached list, instead of listing every tag of the image again.
CREATE TABLE pushed_tags (
    image          TEXT    NOT NULL,
    tag            TEXT    NOT NULL,
    reported_at_ms INTEGER NOT NULL,
    PRIMARY KEY (image, tag)
);
