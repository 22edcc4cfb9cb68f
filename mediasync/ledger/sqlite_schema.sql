-- The SQLite form of the ledger; supabase/migrations holds the Postgres form. The
-- version recorded at the end is that of the latest migration this file matches.
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS media_files (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    workflow_stage TEXT NOT NULL,
    size INTEGER,
    content_hash TEXT,
    captured_at TEXT,
    media_type TEXT NOT NULL DEFAULT 'other',
    favorite INTEGER NOT NULL DEFAULT 0,
    group_id TEXT,
    local_path TEXT,
    pixel_path TEXT,
    nas_path TEXT,
    nas_hash TEXT,
    compressed_path TEXT,
    pixel_synced INTEGER NOT NULL DEFAULT 0,
    pixel_version TEXT,
    nas_archived INTEGER NOT NULL DEFAULT 0,
    compressed INTEGER NOT NULL DEFAULT 0,
    icloud_delete_ready INTEGER NOT NULL DEFAULT 0,
    compression_metadata TEXT,
    media_metadata TEXT,
    source_meta TEXT,
    failed_stage TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    source_deleted_at TEXT,
    claimed_by TEXT,
    claimed_at TEXT,
    claimed_session TEXT,  -- who holds the claim: it dies with them
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (source, source_id)
);
CREATE INDEX IF NOT EXISTS media_files_stage ON media_files (workflow_stage, id);
CREATE INDEX IF NOT EXISTS media_files_group ON media_files (group_id);
CREATE INDEX IF NOT EXISTS media_files_hash ON media_files (content_hash);
CREATE INDEX IF NOT EXISTS media_files_claims ON media_files (claimed_session)
    WHERE claimed_session IS NOT NULL;

CREATE TABLE IF NOT EXISTS stage_events (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES media_files (id) ON DELETE CASCADE,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    run_id TEXT,
    at TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS stage_events_file ON stage_events (file_id, id);

CREATE TABLE IF NOT EXISTS source_deletions (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES media_files (id),
    source_id TEXT NOT NULL,
    nas_path TEXT NOT NULL,
    nas_hash TEXT NOT NULL,
    pixel_version TEXT,
    run_id TEXT,
    deleted_at TEXT NOT NULL,  -- when the intent was written, then when it was closed
    source TEXT,
    state TEXT NOT NULL DEFAULT 'confirmed' CHECK (state IN ('intent', 'confirmed', 'kept')),
    answer TEXT  -- the source's word when the file was kept
);
CREATE INDEX IF NOT EXISTS source_deletions_file ON source_deletions (file_id, id);
CREATE INDEX IF NOT EXISTS source_deletions_open ON source_deletions (source, file_id)
    WHERE state = 'intent';

CREATE TABLE IF NOT EXISTS sync_operations (
    id INTEGER PRIMARY KEY,
    operation_type TEXT NOT NULL,
    status TEXT NOT NULL,
    run_id TEXT,
    started_at TEXT,
    finished_at TEXT,
    files_scanned INTEGER NOT NULL DEFAULT 0,
    files_added INTEGER NOT NULL DEFAULT 0,
    files_updated INTEGER NOT NULL DEFAULT 0,
    files_removed INTEGER NOT NULL DEFAULT 0,
    files_failed INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS sync_operations_type ON sync_operations (operation_type, id);

CREATE TABLE IF NOT EXISTS file_records (
    root TEXT NOT NULL,
    rel_path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    scan_generation INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (root, rel_path)
);
CREATE INDEX IF NOT EXISTS file_records_generation ON file_records (root, scan_generation);

INSERT OR IGNORE INTO schema_migrations (version, name, applied_at)
    VALUES ('20261121170000', 'initial', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'));
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at)
    VALUES ('20261206041500', 'deletion_intents', strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'));
