-- Issue 9: sandbox queries may run in the background (asynchronous jobs): a query is
-- `running` until it ends `released` or `review`, or `failed`, or `cancelled` by its
-- requester. SQLite cannot change a CHECK constraint in place, so the table is rebuilt
-- with the same columns and indexes.
CREATE TABLE sandbox_queries_new (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    grant_id INTEGER REFERENCES grants(id),
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    dataset_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'released', 'review', 'rejected',
        'failed', 'cancelled')),
    fingerprint TEXT NOT NULL,
    doc TEXT NOT NULL,
    result_hash TEXT,
    created_at TEXT NOT NULL,
    released_at TEXT,
    version INTEGER NOT NULL DEFAULT 1
);
INSERT INTO sandbox_queries_new (id, user_id, grant_id, provider_id, dataset_ids, state,
    fingerprint, doc, result_hash, created_at, released_at, version)
SELECT id, user_id, grant_id, provider_id, dataset_ids, state, fingerprint, doc,
    result_hash, created_at, released_at, version FROM sandbox_queries;
DROP TABLE sandbox_queries;
ALTER TABLE sandbox_queries_new RENAME TO sandbox_queries;
CREATE INDEX sandbox_queries_user ON sandbox_queries(user_id, id);
CREATE INDEX sandbox_queries_provider ON sandbox_queries(provider_id, state, id);
CREATE INDEX sandbox_queries_shape ON sandbox_queries(fingerprint, id);
