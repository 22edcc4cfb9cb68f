-- A source delete's proof row is written before the source is asked, as an intent, and
-- closed from the source's answer: confirmed (the file is gone, media_files says when)
-- or kept (not deleted; `answer` holds what the source said). A kill between the two
-- leaves an intent that the next run resolves by asking the source.
-- Rows written before this migration were written after a confirmed delete.

ALTER TABLE source_deletions ADD COLUMN IF NOT EXISTS source text;
ALTER TABLE source_deletions ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'confirmed'
    CHECK (state IN ('intent', 'confirmed', 'kept'));
ALTER TABLE source_deletions ADD COLUMN IF NOT EXISTS answer text;

UPDATE source_deletions d SET source = m.source FROM media_files m
    WHERE m.id = d.file_id AND d.source IS NULL;

-- step 7 looks up the open intents of its source before any delete: only open rows
-- are in this index, however many proofs the table keeps
CREATE INDEX IF NOT EXISTS source_deletions_open ON source_deletions (source, file_id)
    WHERE state = 'intent';

INSERT INTO schema_migrations (version, name) VALUES ('20261206041500', 'deletion_intents')
    ON CONFLICT (version) DO NOTHING;
