-- Issue 5: the provider's de-identification rules for each resource, and the open
-- versions computed from them. An open version is derived: keyed by the hash of the
-- rules in force, so a change of rules or of what the columns hold makes a new one.
CREATE TABLE resource_rules (
    resource_id TEXT PRIMARY KEY REFERENCES resources(id),
    rules TEXT NOT NULL,
    updated_by INTEGER REFERENCES users(id),
    updated_at TEXT NOT NULL
);
CREATE TABLE open_versions (
    resource_id TEXT NOT NULL REFERENCES resources(id),
    version INTEGER NOT NULL,
    rules_hash TEXT NOT NULL,
    open_table TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (resource_id, version, rules_hash)
);
