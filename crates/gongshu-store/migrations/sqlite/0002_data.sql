-- Issue 3: the data of catalog entries. A resource is one table or file of an entry; each
-- upload is an immutable version in the object store, and `current_version` is the one
-- that serves. Moving it is the single atomic step of publishing.
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    ordinal INTEGER NOT NULL,
    name TEXT NOT NULL,
    -- Stable name of the table in SQL queries.
    table_name TEXT NOT NULL UNIQUE,
    current_version INTEGER,
    -- The manifest of the current version, as the object store holds it.
    current_manifest TEXT,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    -- When a version was last published: timeliness against the update cycle.
    updated_at TEXT,
    UNIQUE (dataset_id, ordinal)
);
CREATE INDEX resources_dataset ON resources(dataset_id);

CREATE TABLE resource_versions (
    resource_id TEXT NOT NULL REFERENCES resources(id),
    version INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    -- staged (waiting for the provider's decision), published, discarded
    state TEXT NOT NULL,
    uploaded_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    published_at TEXT,
    PRIMARY KEY (resource_id, version)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    resource_id TEXT NOT NULL REFERENCES resources(id),
    -- queued, running, needs_decision, succeeded, failed, discarded
    state TEXT NOT NULL,
    rows_read INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    -- JSON: file name, what was detected, the first rejected rows with reasons.
    detail TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    version INTEGER,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_resource ON jobs(resource_id);
