-- Issue 5: what each column of a resource version holds, as detected at ingest and as
-- the provider confirmed it (a personal-information kind, or 'none'). A confirmation
-- carries over to the next version's column of the same name.
CREATE TABLE column_classes (
    resource_id TEXT NOT NULL REFERENCES resources(id),
    version INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    proposed_kind TEXT,
    -- The detector's evidence: share of values matched, how many examined, confidence.
    proposal TEXT NOT NULL DEFAULT '{}',
    confirmed_kind TEXT,
    confirmed_by INTEGER REFERENCES users(id),
    confirmed_at TEXT,
    PRIMARY KEY (resource_id, version, column_name)
);
