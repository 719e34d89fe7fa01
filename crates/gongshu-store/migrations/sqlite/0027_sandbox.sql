-- Issue 9: queries run in the analysis sandbox (数据沙箱, SD-OPEN §11(三)). One row per
-- query: who ran it under which grant, over which provider's entries, whether its result
-- was released or waits for the provider's two reviewers. `fingerprint` is what the
-- query computes without its filter; queries of one grant sharing it are compared for
-- differencing. The rest (SQL, released result, withheld groups, exact group sizes,
-- reviews) is the JSON `doc`, owned by the application.
CREATE TABLE sandbox_queries (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    grant_id INTEGER REFERENCES grants(id),
    provider_id INTEGER NOT NULL REFERENCES organizations(id),
    dataset_ids TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('released', 'review', 'rejected')),
    fingerprint TEXT NOT NULL,
    doc TEXT NOT NULL,
    result_hash TEXT,
    created_at TEXT NOT NULL,
    released_at TEXT,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX sandbox_queries_user ON sandbox_queries(user_id, id);
CREATE INDEX sandbox_queries_provider ON sandbox_queries(provider_id, state, id);
CREATE INDEX sandbox_queries_shape ON sandbox_queries(fingerprint, id);
